import Stripe from 'stripe';
import type { Prisma, PrismaClient } from '../db/client.ts';
import type { Order, StripePayment, Transaction } from '../generated/prisma/client.ts';
import { conflict, recordNotFound, validationError } from '../jsonapi/errors.ts';
import type { Services } from '../services.ts';
import { isDefinitiveStripeRejection } from '../stripe/errors.ts';
import { formatAmount, fromStripeAmount, toStripeAmount } from './money.ts';
import { editableStatuses, lockOrder } from './orders.ts';
import { advancePaymentStatus, intentStatusRank, statusAfterRefunds } from './payment-status.ts';
import { stripeFor, translate, unexpectedStateStatus } from './stripe-payment-lifecycle.ts';
import { applyPaymentIntent, captureMetadataKey, lockPaymentAndOrder, recordRefund, refundMetadataKey } from './stripe-sync.ts';
import {
  createTransaction,
  isStale,
  orderMoney,
  recordOutcome,
  transactionIdempotencyKey,
  transactionOfRequest,
  type Outcome,
} from './transactions.ts';

/**
 * Commerce Layer's order triggers for a stripe payment source: `_authorize`, `_place`,
 * `_capture`, `_refund`, `_cancel`.
 *
 * Whatever moves money follows the pattern of payment creation, so that no lock is held
 * while Stripe answers and nothing moves twice:
 * 1. under the order's row lock, check the order's transactions in the database (what is
 *    captured, refunded, in flight) and reserve the transaction row;
 * 2. call Stripe with an idempotency key derived from that row's id, and our row's id in the
 *    Stripe object's metadata;
 * 3. record the outcome. A webhook carrying the same news may get there first; recording is
 *    conditional, so it happens once.
 * A second request while a reservation is in flight is refused (409); one after it went
 * stale (its request ended without learning the outcome) retries the same Stripe call,
 * which Stripe answers from its idempotency record instead of moving money again.
 */

export const triggerPointers = {
  authorize: '/data/attributes/_authorize',
  place: '/data/attributes/_place',
  capture: '/data/attributes/_capture',
  refund: '/data/attributes/_refund',
  refundAmount: '/data/attributes/_refund_amount_cents',
  cancel: '/data/attributes/_cancel',
} as const;

/** Orders whose payment can be captured, refunded or voided: placed ones. */
const placedStatuses: ReadonlySet<string> = new Set(['placed', 'approved']);
const authorizedIntentStatuses: ReadonlySet<string> = new Set(['requires_capture', 'succeeded']);

async function findOrder(db: PrismaClient, orderId: string): Promise<Order> {
  const order = await db.order.findUnique({ where: { id: orderId } });
  if (!order) throw recordNotFound();
  return order;
}

/** The order's stripe payment, which must have a PaymentIntent. */
async function sourcePayment(db: PrismaClient, order: Order, pointer: string): Promise<StripePayment & { stripeId: string }> {
  const payment =
    order.paymentSourceType === 'stripe_payments' && order.paymentSourceId
      ? await db.stripePayment.findFirst({ where: { id: order.paymentSourceId, intentState: 'created' } })
      : null;
  if (!payment) throw validationError(pointer, 'the order has no payment source; create a stripe payment for it first');
  if (!payment.stripeId) throw validationError(pointer, "the order's stripe payment has no PaymentIntent");
  return payment as StripePayment & { stripeId: string };
}

/**
 * `_authorize` and `_place`: checks at Stripe that the PaymentIntent is authorized
 * (requires_capture) or already paid (succeeded) for the order's total, records the
 * authorization, and with `place` makes the order placed. A payment method with
 * auto_capture then captures it.
 */
export async function authorizeOrder(services: Services, orderId: string, { place }: { place: boolean }, request: TriggerRequest = {}): Promise<void> {
  const { db } = services;
  const pointer = place ? triggerPointers.place : triggerPointers.authorize;
  const verb = place ? 'placed' : 'authorized';
  const order = await findOrder(db, orderId);
  if (!editableStatuses.has(order.status)) {
    // A retry of the request that placed it, whose answer was a 5xx: done; the auto capture it owed is tried again.
    const own = await transactionOfRequest(db, order.id, 'authorizations', request.requestKey);
    if (own?.state === 'recorded' && own.succeeded && placedStatuses.has(order.status)) {
      if (place && order.paymentStatus === 'authorized') await autoCapture(services, order);
      return;
    }
    throw validationError(pointer, `order is ${order.status}; only a draft or pending order can be ${verb}`);
  }
  const payment = await sourcePayment(db, order, pointer);

  const { client, requestOptions } = await stripeFor(db, services, payment);
  let intent: Stripe.PaymentIntent;
  try {
    // Webhooks may lag: the PaymentIntent as Stripe has it now decides.
    intent = await client.paymentIntents.retrieve(payment.stripeId, { expand: ['payment_method', 'latest_charge'] }, requestOptions);
  } catch (error) {
    throw translate(services, error, pointer, payment.id, `PaymentIntent retrieval before the order is ${verb} failed`);
  }

  const refusal = await db.$transaction(async (tx) => {
    const locked = await lockPaymentAndOrder(tx, payment.id);
    if (!locked || locked.order.id !== order.id || locked.order.paymentSourceId !== payment.id) {
      return "the order's payment source changed meanwhile; retry";
    }
    if (!editableStatuses.has(locked.order.status)) return `order is ${locked.order.status}; only a draft or pending order can be ${verb}`;
    // A webhook recorded newer news since our read: decide on a fresh read instead.
    if (intentStatusRank(intent.status) < intentStatusRank(locked.payment.status)) {
      throw conflict(`the PaymentIntent changed while the order was being ${verb}; retry`, { pointer });
    }
    const { status } = intent;
    await applyPaymentIntent(tx, locked, intent);
    if (!authorizedIntentStatuses.has(status)) {
      return `the PaymentIntent is ${status}; the order can be ${verb} once the customer has authorized the payment (requires_capture or succeeded)`;
    }
    const currencyCode = intent.currency.toUpperCase();
    const amountCents = fromStripeAmount(intent.amount, currencyCode);
    if (amountCents !== locked.order.totalAmountCents || currencyCode !== locked.order.currencyCode) {
      return `the PaymentIntent is for ${formatAmount(amountCents, currencyCode)}, the order total is ${formatAmount(locked.order.totalAmountCents, locked.order.currencyCode)}`;
    }

    const money = await orderMoney(tx, order.id);
    if (money.authorization?.stripePaymentId !== payment.id) {
      await createTransaction(tx, {
        kind: 'authorizations',
        order: locked.order,
        payment: locked.payment,
        amountCents,
        recorded: { succeeded: true, gatewayTransactionId: typeof intent.latest_charge === 'string' ? intent.latest_charge : (intent.latest_charge?.id ?? null) },
        requestKey: request.requestKey,
      });
    }
    // Now that the authorization exists, a succeeded PaymentIntent records its capture too.
    if (status === 'succeeded') await applyPaymentIntent(tx, locked, intent);
    await advancePaymentStatus(tx, order.id, status === 'succeeded' ? 'paid' : 'authorized');
    if (place) await tx.order.update({ where: { id: order.id }, data: { status: 'placed', placedAt: new Date() } });
    return undefined;
  });
  if (refusal) throw validationError(pointer, refusal, { stripe_status: intent.status });

  if (place && intent.status === 'requires_capture') await autoCapture(services, order);
}

/** Captures a just placed order when its payment method says so. */
async function autoCapture(services: Services, order: Order): Promise<void> {
  const method = order.paymentMethodId ? await services.db.paymentMethod.findUnique({ where: { id: order.paymentMethodId } }) : null;
  if (!method?.autoCapture) return;
  // The order is placed whatever happens next; a failed capture is recorded and can be retried with _capture.
  await captureOrder(services, order.id).catch((error: unknown) => {
    services.logger.warn({ orderId: order.id, err: { message: (error as Error).message } }, 'auto capture on place failed');
  });
}

/** Reuses a stale reservation (a retry), refuses a live one, as the module comment says. */
async function retryOrRefuse(tx: Prisma.TransactionClient, row: Transaction, what: string, pointer: string): Promise<Transaction> {
  if (!isStale(row)) throw conflict(`${what} of this order is in progress; retry when it has finished`, { pointer });
  // Marks the retry in flight, so that a third request waits for it in turn.
  return tx.transaction.update({ where: { id: row.id }, data: { updatedAt: new Date() } });
}

interface Reserved {
  row: Transaction;
  payment: StripePayment & { stripeId: string };
}

/** What a trigger knows of the HTTP request that sent it. */
export interface TriggerRequest {
  /** Digest of the request's Idempotency-Key (see request-key.ts): its retries find what it did. */
  requestKey?: string | undefined;
}

/**
 * A retry of a request that reserved a transaction and then failed (a 5xx, e.g. the database
 * connection was cut after Stripe had acted): its own reservation is taken up again (the same
 * Stripe call, answered from Stripe's idempotency record), and once recorded it is done.
 * Without this, a retried partial refund would refund again. `done`: nothing left to do.
 */
async function resumeOwnAttempt(tx: Prisma.TransactionClient, orderId: string, kind: Transaction['kind'] & ('captures' | 'refunds' | 'voids'), request: TriggerRequest) {
  const own = await transactionOfRequest(tx, orderId, kind, request.requestKey);
  if (!own || !own.stripePaymentId) return undefined;
  if (own.state === 'recorded') return own.succeeded ? ('done' as const) : undefined;
  // The idempotency layer runs one request per key at a time, so the earlier attempt has ended.
  const row = await tx.transaction.update({ where: { id: own.id }, data: { updatedAt: new Date() } });
  const payment = (await tx.stripePayment.findUniqueOrThrow({ where: { id: own.stripePaymentId } })) as Reserved['payment'];
  return { row, payment };
}

/** After a failed Stripe call: records a definitive refusal, keeps the reservation when the outcome is unknown. */
async function settleFailure(services: Services, reserved: Reserved, error: unknown, pointer: string, warning: string): Promise<never> {
  const { db } = services;
  if (error instanceof Stripe.errors.StripeIdempotencyError) {
    // The same call (same key, same parameters) is still running at Stripe: its outcome is not ours to record.
    throw conflict('this transaction is still being processed by Stripe; retry when it has finished', { pointer });
  }
  const translated = translate(services, error, pointer, reserved.payment.id, warning);
  const status = unexpectedStateStatus(error);
  if (isDefinitiveStripeRejection(error) && error instanceof Stripe.errors.StripeError) {
    const outcome: Outcome = { succeeded: false, errorCode: error.code ?? error.type, errorDetail: error.decline_code ?? null, message: error.message };
    await db.$transaction(async (tx) => {
      const locked = await lockPaymentAndOrder(tx, reserved.payment.id);
      if (!locked) return;
      await recordOutcome(tx, reserved.row.id, outcome);
      // Stripe said why: its PaymentIntent is in another state. Record that state (forward only).
      const intent = error.payment_intent as Stripe.PaymentIntent | undefined;
      if (status && intent?.id === reserved.payment.stripeId && intentStatusRank(intent.status) >= intentStatusRank(locked.payment.status)) {
        await applyPaymentIntent(tx, locked, intent);
      }
    });
  }
  throw translated;
}

/** `_capture`: captures the authorized amount of a placed order, once. */
export async function captureOrder(services: Services, orderId: string, request: TriggerRequest = {}): Promise<void> {
  const { db } = services;
  const pointer = triggerPointers.capture;
  const reserved = await db.$transaction(async (tx): Promise<Reserved | undefined> => {
    const order = await lockOrder(tx, orderId);
    if (!order) throw recordNotFound();
    const resumed = await resumeOwnAttempt(tx, order.id, 'captures', request);
    if (resumed === 'done') return undefined;
    if (resumed) return resumed;
    if (!placedStatuses.has(order.status)) throw validationError(pointer, `order is ${order.status}; only a placed order can be captured`);
    const money = await orderMoney(tx, order.id);
    if (money.capture) throw validationError(pointer, 'the order is already captured');
    if (money.void || order.paymentStatus === 'voided') throw validationError(pointer, "the order's authorization is voided");
    if (!money.authorization?.stripePaymentId) throw validationError(pointer, 'the order has no authorization to capture');
    const payment = (await tx.stripePayment.findUniqueOrThrow({ where: { id: money.authorization.stripePaymentId } })) as Reserved['payment'];
    const inFlight = money.reserved.find((row) => row.kind === 'captures' || row.kind === 'voids');
    if (inFlight?.kind === 'voids') throw conflict('a cancellation of this order is in progress', { pointer });
    if (inFlight) return { row: await retryOrRefuse(tx, inFlight, 'a capture', pointer), payment };
    const row = await createTransaction(tx, {
      kind: 'captures',
      order,
      payment,
      amountCents: money.authorization.amountCents,
      referenceId: money.authorization.id,
      requestKey: request.requestKey,
    });
    return { row, payment };
  });
  if (!reserved) return;

  const { row, payment } = reserved;
  const { client, requestOptions } = await stripeFor(db, services, payment);
  let intent: Stripe.PaymentIntent;
  try {
    intent = await client.paymentIntents.capture(
      payment.stripeId,
      { amount_to_capture: toStripeAmount(row.amountCents, row.currencyCode), metadata: { [captureMetadataKey]: row.id } },
      { ...requestOptions, idempotencyKey: transactionIdempotencyKey(row) },
    );
  } catch (error) {
    return settleFailure(services, reserved, error, pointer, 'PaymentIntent capture outcome unknown; reservation kept for retry');
  }

  await db.$transaction(async (tx) => {
    const locked = await lockPaymentAndOrder(tx, payment.id);
    if (!locked) return;
    const chargeId = typeof intent.latest_charge === 'string' ? intent.latest_charge : (intent.latest_charge?.id ?? null);
    await recordOutcome(tx, row.id, { succeeded: true, gatewayTransactionId: chargeId });
    if (intentStatusRank(intent.status) >= intentStatusRank(locked.payment.status)) await applyPaymentIntent(tx, locked, intent);
    // The capture is the order's money whether or not the payment is still its source.
    await advancePaymentStatus(tx, locked.order.id, 'paid');
  });
}

/**
 * `_refund`: refunds `amountCents` of what was captured (default: all that is left), never
 * more than was captured less what is refunded or being refunded.
 */
export async function refundOrder(services: Services, orderId: string, amountCents?: number, request: TriggerRequest = {}): Promise<void> {
  const { db } = services;
  const pointer = amountCents === undefined ? triggerPointers.refund : triggerPointers.refundAmount;
  const reserved = await db.$transaction(async (tx): Promise<Reserved | undefined> => {
    const order = await lockOrder(tx, orderId);
    if (!order) throw recordNotFound();
    const resumed = await resumeOwnAttempt(tx, order.id, 'refunds', request);
    if (resumed === 'done') return undefined;
    if (resumed) return resumed;
    if (order.paymentStatus !== 'paid' && order.paymentStatus !== 'partially_refunded') {
      throw validationError(triggerPointers.refund, `order is ${order.paymentStatus}; only a paid order can be refunded`);
    }
    const money = await orderMoney(tx, order.id);
    if (!money.capture?.stripePaymentId) throw validationError(triggerPointers.refund, 'the order has no capture to refund');
    const payment = (await tx.stripePayment.findUniqueOrThrow({ where: { id: money.capture.stripePaymentId } })) as Reserved['payment'];
    const inFlight = money.reserved.filter((row) => row.kind === 'refunds');
    const sameRequest = (row: Transaction) => amountCents === undefined || row.amountCents === amountCents;
    // A retry of a refund whose outcome was never learnt: same row, same idempotency key.
    const retry = inFlight.find((row) => isStale(row) && sameRequest(row));
    if (retry) return { row: await retryOrRefuse(tx, retry, 'a refund', pointer), payment };
    if (amountCents !== undefined) {
      const twin = inFlight.find(sameRequest);
      if (twin) throw conflict(`a refund of ${formatAmount(twin.amountCents, twin.currencyCode)} of this order is in progress`, { pointer });
    }
    const inFlightCents = inFlight.reduce((total, row) => total + row.amountCents, 0);
    const refundable = money.capturedCents - money.refundedCents - inFlightCents;
    const amount = amountCents ?? refundable;
    if (amount <= 0 || amount > refundable) {
      const pending = inFlightCents > 0 ? ` (${formatAmount(inFlightCents, order.currencyCode)} being refunded)` : '';
      throw validationError(
        pointer,
        refundable <= 0
          ? `nothing left to refund: ${formatAmount(money.refundedCents, order.currencyCode)} of ${formatAmount(money.capturedCents, order.currencyCode)} refunded${pending}`
          : `cannot exceed ${formatAmount(refundable, order.currencyCode)}, what is left to refund${pending}`,
      );
    }
    const row = await createTransaction(tx, { kind: 'refunds', order, payment, amountCents: amount, referenceId: money.capture.id, requestKey: request.requestKey });
    return { row, payment };
  });
  if (!reserved) return;

  const { row, payment } = reserved;
  const { client, requestOptions } = await stripeFor(db, services, payment);
  let refund: Stripe.Refund;
  try {
    refund = await client.refunds.create(
      {
        payment_intent: payment.stripeId,
        amount: toStripeAmount(row.amountCents, row.currencyCode),
        metadata: { [refundMetadataKey]: row.id, order_id: orderId },
      },
      { ...requestOptions, idempotencyKey: transactionIdempotencyKey(row) },
    );
  } catch (error) {
    return settleFailure(services, reserved, error, triggerPointers.refund, 'refund outcome unknown; reservation kept for retry');
  }

  await db.$transaction(async (tx) => {
    const locked = await lockPaymentAndOrder(tx, payment.id);
    if (!locked) return;
    await recordRefund(tx, locked, refund, row.currencyCode);
    const money = await orderMoney(tx, locked.order.id);
    await advancePaymentStatus(tx, locked.order.id, statusAfterRefunds(money.capturedCents, money.refundedCents));
  });
}

/**
 * `_cancel`: cancels a placed order. Its PaymentIntent is canceled (the authorization
 * released, recorded as a void) when nothing was captured; an order whose capture is not
 * fully refunded cannot be cancelled.
 */
export async function cancelOrder(services: Services, orderId: string, request: TriggerRequest = {}): Promise<void> {
  const { db } = services;
  const pointer = triggerPointers.cancel;
  const markCancelled = (tx: Prisma.TransactionClient) =>
    tx.order.update({ where: { id: orderId }, data: { status: 'cancelled', cancelledAt: new Date() } });

  const reserved = await db.$transaction(async (tx): Promise<Reserved | undefined> => {
    const order = await lockOrder(tx, orderId);
    if (!order) throw recordNotFound();
    const resumed = await resumeOwnAttempt(tx, order.id, 'voids', request);
    if (resumed === 'done') {
      // The void was recorded (maybe by the webhook, which leaves the order as it is): finish the cancellation.
      if (order.status !== 'cancelled') await markCancelled(tx);
      return undefined;
    }
    if (resumed) return resumed;
    if (!placedStatuses.has(order.status)) throw validationError(pointer, `order is ${order.status}; only a placed order can be cancelled`);
    const money = await orderMoney(tx, order.id);
    if (money.reserved.some((row) => row.kind === 'captures' || row.kind === 'refunds')) {
      throw conflict('a capture or refund of this order is in progress', { pointer });
    }
    if (money.capturedCents - money.refundedCents > 0) {
      throw validationError(pointer, 'the order is captured; refund it in full before cancelling');
    }
    const inFlight = money.reserved.find((row) => row.kind === 'voids');
    // Nothing authorized is left to release (refunded in full, or voided already): cancel the order alone.
    if (!inFlight && (money.capture || money.void || order.paymentStatus === 'voided' || !money.authorization?.stripePaymentId)) {
      await markCancelled(tx);
      return undefined;
    }
    const paymentId = inFlight?.stripePaymentId ?? money.authorization!.stripePaymentId!;
    const payment = (await tx.stripePayment.findUniqueOrThrow({ where: { id: paymentId } })) as Reserved['payment'];
    if (inFlight) return { row: await retryOrRefuse(tx, inFlight, 'a cancellation', pointer), payment };
    const row = await createTransaction(tx, {
      kind: 'voids',
      order,
      payment,
      amountCents: money.authorization!.amountCents,
      referenceId: money.authorization!.id,
      requestKey: request.requestKey,
    });
    return { row, payment };
  });
  if (!reserved) return;

  const { row, payment } = reserved;
  const { client, requestOptions } = await stripeFor(db, services, payment);
  let intent: Stripe.PaymentIntent;
  try {
    intent = await client.paymentIntents.cancel(payment.stripeId, {}, { ...requestOptions, idempotencyKey: transactionIdempotencyKey(row) });
  } catch (error) {
    const canceledAlready = unexpectedStateStatus(error) === 'canceled' && error instanceof Stripe.errors.StripeError && error.payment_intent;
    if (!canceledAlready) return settleFailure(services, reserved, error, pointer, 'PaymentIntent cancellation outcome unknown; reservation kept for retry');
    // Canceled at Stripe meanwhile (the dashboard, expiry): the release we wanted.
    intent = error.payment_intent as Stripe.PaymentIntent;
  }

  await db.$transaction(async (tx) => {
    const locked = await lockPaymentAndOrder(tx, payment.id);
    if (!locked) return;
    await recordOutcome(tx, row.id, { succeeded: true, gatewayTransactionId: intent.id });
    if (intentStatusRank(intent.status) >= intentStatusRank(locked.payment.status)) await applyPaymentIntent(tx, locked, intent);
    await advancePaymentStatus(tx, locked.order.id, 'voided');
    await markCancelled(tx);
  });
}
