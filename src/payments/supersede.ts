import Stripe from 'stripe';
import { recordChange } from '../changes.ts';
import { prismaOf } from '../db/sql-transaction.ts';
import type { ErrorField } from '../domain-error.ts';
import type { StripePayment } from '../generated/prisma/client.ts';
import type { Services } from '../services.ts';
import { unexpectedStateStatus } from '../stripe/error-mapping.ts';
import { inTransaction, lockPaymentWithOrder, type Locked, type Tx } from './locks.ts';
import { fromStripeAmount, toStripeAmount } from './money.ts';
import { changeableIntentStatuses, intentStatusRank } from './payment-status.ts';
import { askStripe, Finished, withReservation } from './reservation.ts';
import { paymentAccount } from './stripe-account.ts';
import { applyPaymentIntent, refundMetadataKey } from './stripe-sync.ts';
import { createTransaction, isStale, recordOutcome, touchTransaction } from './transactions.ts';
import { withTransactionCall, type ReservedTransaction } from './triggers/transaction-call.ts';

/**
 * At most one live PaymentIntent per order. When a payment becomes its order's payment
 * source (created for it, or moved to it), every other payment of the order is superseded
 * in the same transaction: from then on its PaymentIntent must hold no money. Releasing it
 * is a Stripe call, made after that commit by the request that superseded it; when that
 * request dies or Stripe fails, the mark stays (`supersededAt` without `releasedAt`) and
 * the reconciliation job, a webhook about the PaymentIntent, or a DELETE finishes it.
 *
 * What a release does depends on what Stripe says the PaymentIntent is now:
 * - not paid yet: cancelled (a shopper's second tab can no longer confirm it);
 * - authorized anyway (requires_capture): cancelled too, recorded as a void on it;
 * - paid anyway (captured at Stripe): refunded in full, recorded as a refund on it;
 * - processing: nothing yet; the webhook or the reconciler sees where it ends.
 * Each call is on the protocol of reservation.ts, its key derived from our ids. The
 * transactions of a superseded payment are not the order's money (transactions.ts
 * `orderMoney` leaves them out), so they never count as the order's captures or refunds.
 */

const field: ErrorField = { base: true };

export type ReleaseOutcome = 'released' | 'pending' | 'not_due';

/**
 * In the transaction that makes `sourceId` its order's payment source, with the order
 * locked: supersedes the order's other payments. Returns those whose release is due.
 */
export async function supersedeOtherPayments(tx: Tx, orderId: string, sourceId: string): Promise<string[]> {
  const others = await tx.stripePayment.findMany({
    where: { orderId, intentState: 'created', id: { not: sourceId }, supersededAt: null },
    select: { id: true, stripeId: true, status: true },
  });
  if (others.length === 0) return [];
  const now = new Date();
  const due: string[] = [];
  for (const other of others) {
    // Nothing at Stripe holds money for it: released as it is superseded.
    const holdsNothing = other.stripeId === null || other.status === 'canceled';
    await tx.stripePayment.update({ where: { id: other.id }, data: { supersededAt: now, ...(holdsNothing ? { releasedAt: now } : {}) } });
    await recordChange(tx, { type: 'stripe_payments', id: other.id, event: 'update', changes: { supersededAt: { before: null, after: now } } });
    if (!holdsNothing) due.push(other.id);
  }
  return due;
}

export function isReleaseDue(payment: Pick<StripePayment, 'supersededAt' | 'releasedAt'>): boolean {
  return payment.supersededAt !== null && payment.releasedAt === null;
}

async function markReleased(tx: Tx, paymentId: string): Promise<void> {
  const { count } = await tx.stripePayment.updateMany({ where: { id: paymentId, releasedAt: null }, data: { releasedAt: new Date() } });
  if (count > 0) await recordChange(tx, { type: 'stripe_payments', id: paymentId, event: 'update', changes: { releasedAt: { before: null, after: 'now' } } });
}

/** Records what Stripe says of the PaymentIntent (forward only), and the release when it is cancelled. */
async function recordIntent(tx: Tx, locked: Locked, intent: Stripe.PaymentIntent): Promise<void> {
  if (intentStatusRank(intent.status) >= intentStatusRank(locked.payment.status)) await applyPaymentIntent(tx, locked, intent);
  if (intent.status === 'canceled') {
    // Our own void whose answer was lost: Stripe's cancelled PaymentIntent is its outcome.
    const inFlight = await tx.transaction.findMany({ where: { stripePaymentId: locked.payment.id, kind: 'voids', state: 'reserved' } });
    for (const row of inFlight) await recordOutcome(tx, row.id, { succeeded: true, gatewayTransactionId: intent.id });
    await markReleased(tx, locked.payment.id);
  }
}

/**
 * Releases a superseded payment's PaymentIntent, as far as its state allows now. Safe to
 * call from several places at once: each step is conditional, each call keyed by our ids.
 */
export async function releaseSuperseded(services: Services, paymentId: string): Promise<ReleaseOutcome> {
  const { db } = services;
  const payment = await db.stripePayment.findUnique({ where: { id: paymentId } });
  if (!payment?.stripeId || payment.intentState !== 'created' || !isReleaseDue(payment)) return 'not_due';
  const stripeId = payment.stripeId;
  const { client, requestOptions } = await paymentAccount(services, payment);
  const intent = await askStripe(services, { field, failure: 'PaymentIntent retrieval before release failed', logged: { stripePaymentId: payment.id } }, () =>
    client.paymentIntents.retrieve(stripeId, { expand: ['latest_charge'] }, requestOptions),
  );
  await inTransaction(db, async (tx) => {
    const locked = await lockPaymentWithOrder(tx, payment.id);
    if (locked) await recordIntent(tx, locked, intent);
  });
  if (intent.status === 'canceled') return 'released';
  if (changeableIntentStatuses.has(intent.status)) await cancelUnpaid(services, payment.id);
  else if (intent.status === 'requires_capture') await voidAuthorized(services, payment, intent);
  else if (intent.status === 'succeeded') await refundPaid(services, payment, intent);
  const after = await db.stripePayment.findUnique({ where: { id: payment.id }, select: { releasedAt: true } });
  return after === null || after.releasedAt !== null ? 'released' : 'pending';
}

/** Releases without failing the caller (a create, a webhook): what is left stays due for the next one. */
export async function releaseSupersededQuietly(services: Services, paymentIds: readonly string[]): Promise<void> {
  for (const paymentId of paymentIds) {
    try {
      await releaseSuperseded(services, paymentId);
    } catch (error) {
      services.logger.warn({ stripePaymentId: paymentId, err: { message: (error as Error).message } }, 'release of a superseded PaymentIntent failed; left for the reconciliation job');
    }
  }
}

async function cancel(client: Stripe, stripeId: string, requestOptions: Stripe.RequestOptions, idempotencyKey: string): Promise<Stripe.PaymentIntent> {
  try {
    return await client.paymentIntents.cancel(stripeId, { cancellation_reason: 'duplicate' }, { ...requestOptions, idempotencyKey });
  } catch (error) {
    // Cancelled meanwhile (a delete, the dashboard): the release we wanted.
    if (unexpectedStateStatus(error) === 'canceled' && error instanceof Stripe.errors.StripeError && error.payment_intent) return error.payment_intent as Stripe.PaymentIntent;
    throw error;
  }
}

/** Not paid yet: the reservation is the payment row; the key's version moves on after a refusal, so a later attempt is a new call. */
function cancelUnpaid(services: Services, paymentId: string): Promise<void> {
  return withReservation<StripePayment & { stripeId: string }, Stripe.PaymentIntent, void>(services, {
    field,
    unknownOutcome: 'superseded PaymentIntent cancellation outcome unknown; left for the reconciliation job',
    logged: (reserved) => ({ stripePaymentId: reserved.id }),
    async reserve(tx) {
      const locked = await lockPaymentWithOrder(tx, paymentId);
      if (!locked || !locked.payment.stripeId || !isReleaseDue(locked.payment)) return new Finished(undefined);
      return locked.payment as StripePayment & { stripeId: string };
    },
    idempotencyKey: (reserved) => `stripe_payments/${reserved.id}/release/${reserved.stripeWriteVersion}`,
    async call(reserved, idempotencyKey) {
      const { client, requestOptions } = await paymentAccount(services, reserved);
      return cancel(client, reserved.stripeId, requestOptions, idempotencyKey);
    },
    async record(tx, reserved, intent) {
      const locked = await lockPaymentWithOrder(tx, reserved.id);
      if (locked) await recordIntent(tx, locked, intent);
    },
    async refused(tx, reserved, error) {
      // Authorized or paid meanwhile: the next release voids or refunds it, with a key of its own.
      await tx.stripePayment.updateMany({ where: { id: reserved.id }, data: { stripeWriteVersion: { increment: 1 } } });
      const current = error.payment_intent as Stripe.PaymentIntent | undefined;
      const locked = current?.id === reserved.stripeId ? await lockPaymentWithOrder(tx, reserved.id) : null;
      if (locked && current) await recordIntent(tx, locked, current);
    },
  });
}

/** The release's transaction in flight, if any: a stale one (its request ended) is taken up again, a live one left alone. */
async function reservedRelease(tx: Tx, paymentId: string, kind: 'voids' | 'refunds') {
  const row = await tx.transaction.findFirst({ where: { stripePaymentId: paymentId, kind, state: 'reserved' } });
  if (!row) return undefined;
  if (!isStale(row)) return null;
  return touchTransaction(tx, row.id);
}

/** Authorized anyway: cancelled, recorded as a void of the superseded payment. */
function voidAuthorized(services: Services, payment: StripePayment, intent: Stripe.PaymentIntent): Promise<void> {
  return withTransactionCall<Stripe.PaymentIntent>(services, {
    orderId: payment.orderId,
    kind: 'voids',
    field,
    request: {},
    unknownOutcome: 'superseded PaymentIntent void outcome unknown; left for the reconciliation job',
    // A release is rare: its steps stay Prisma's (the SQL transaction falls back).
    async reserve(anyTx, order) {
      const tx = prismaOf(anyTx);
      const locked = await lockPaymentWithOrder(tx, payment.id);
      if (!locked || locked.order.id !== order.id || !isReleaseDue(locked.payment)) return new Finished(undefined);
      const reserved = { payment: locked.payment as ReservedTransaction['payment'] };
      const inFlight = await reservedRelease(tx, payment.id, 'voids');
      if (inFlight === null) return new Finished(undefined);
      if (inFlight) return { ...reserved, row: inFlight };
      const authorization = await tx.transaction.findFirst({
        where: { stripePaymentId: payment.id, kind: 'authorizations', state: 'recorded', succeeded: true },
        orderBy: { createdAt: 'desc' },
      });
      const row = await createTransaction(tx, {
        kind: 'voids',
        order,
        payment: locked.payment,
        amountCents: fromStripeAmount(intent.amount_capturable || intent.amount, intent.currency.toUpperCase()),
        referenceId: authorization?.id ?? null,
      });
      return { ...reserved, row };
    },
    call: ({ payment: reserved }, { client, requestOptions }, idempotencyKey) => cancel(client, reserved.stripeId, requestOptions, idempotencyKey),
    async record(anyTx, locked, { row }, answer) {
      const tx = prismaOf(anyTx);
      await recordOutcome(tx, row.id, { succeeded: true, gatewayTransactionId: answer.id, message: 'Superseded PaymentIntent released' });
      await recordIntent(tx, locked, answer);
    },
  });
}

/** Paid anyway: refunded in full, recorded as a refund of the superseded payment. */
function refundPaid(services: Services, payment: StripePayment, intent: Stripe.PaymentIntent): Promise<void> {
  const charge = typeof intent.latest_charge === 'object' ? intent.latest_charge : null;
  const remaining = charge ? charge.amount_captured - charge.amount_refunded : intent.amount_received;
  const currencyCode = intent.currency.toUpperCase();
  if (remaining <= 0) {
    return inTransaction(services.db, (tx) => markReleased(tx, payment.id));
  }
  return withTransactionCall<Stripe.Refund>(services, {
    orderId: payment.orderId,
    kind: 'refunds',
    field,
    request: {},
    unknownOutcome: 'superseded PaymentIntent refund outcome unknown; left for the reconciliation job',
    async reserve(anyTx, order) {
      const tx = prismaOf(anyTx);
      const locked = await lockPaymentWithOrder(tx, payment.id);
      if (!locked || locked.order.id !== order.id || !isReleaseDue(locked.payment)) return new Finished(undefined);
      const reserved = { payment: locked.payment as ReservedTransaction['payment'] };
      const inFlight = await reservedRelease(tx, payment.id, 'refunds');
      if (inFlight === null) return new Finished(undefined);
      if (inFlight) return { ...reserved, row: inFlight };
      const row = await createTransaction(tx, { kind: 'refunds', order, payment: locked.payment, amountCents: fromStripeAmount(remaining, currencyCode) });
      return { ...reserved, row };
    },
    call: ({ row, payment: reserved }, { client, requestOptions }, idempotencyKey) =>
      client.refunds.create(
        { payment_intent: reserved.stripeId, amount: toStripeAmount(row.amountCents, currencyCode), reason: 'duplicate', metadata: { [refundMetadataKey]: row.id } },
        { ...requestOptions, idempotencyKey },
      ),
    async record(anyTx, _locked, { row }, refund) {
      const tx = prismaOf(anyTx);
      await recordOutcome(tx, row.id, { succeeded: true, gatewayTransactionId: refund.id, message: 'Superseded PaymentIntent refunded' });
      await markReleased(tx, payment.id);
    },
  });
}
