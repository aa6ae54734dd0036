import type Stripe from 'stripe';
import { changedColumns, recordChange } from '../changes.ts';
import { Prisma } from '../db/client.ts';
import { applyIntentSql } from '../db/sql/payments.ts';
import { run, type AnyTx, type Statement } from '../db/sql-transaction.ts';
import type { Order, StripePayment } from '../generated/prisma/client.ts';
import { fromStripeAmount } from './money.ts';
import type { Locked } from './locks.ts';
import { advancePaymentStatus, statusAfterRefunds } from './payment-status.ts';
import { createTransaction, isRecordedAs, isTransactionOf, orderMoney, recordOutcome, type TransactionKind } from './transactions.ts';

/**
 * Brings our records in line with what Stripe says about a PaymentIntent or a charge,
 * whoever brings the news: a webhook, `_refresh`, the reconciliation job, or the answer to
 * our own capture, refund or cancel. Every step is idempotent (conditional on the current
 * state), so hearing the same news twice, or from two sources at once, changes nothing more.
 */

const applyIntent: Statement = { name: 'stripe_payments.apply_intent', text: applyIntentSql };

/** Metadata keys that tie a Stripe object to the transaction that made it. */
export const captureMetadataKey = 'capture_transaction_id';
export const refundMetadataKey = 'transaction_id';

/** The payment method as Stripe shows it to the merchant, without billing details (names, addresses). */
export function compactPaymentMethod(pm: string | Stripe.PaymentMethod | null): Prisma.InputJsonObject | null {
  if (pm === null) return null;
  if (typeof pm === 'string') return { id: pm };
  const { card } = pm;
  return {
    id: pm.id,
    type: pm.type,
    ...(card ? { card: { brand: card.brand, last4: card.last4, exp_month: card.exp_month, exp_year: card.exp_year } } : {}),
  };
}

/** Commerce Layer's payment_instrument, from the PaymentIntent's card or else its latest charge's. */
export function paymentInstrument(pm: string | Stripe.PaymentMethod | null, charge: Stripe.Charge | null): Prisma.InputJsonObject | null {
  const card = (typeof pm === 'object' ? pm?.card : undefined) ?? charge?.payment_method_details?.card ?? undefined;
  if (!card) {
    const type = typeof pm === 'object' && pm ? pm.type : charge?.payment_method_details?.type;
    return type ? { issuer_type: type } : null;
  }
  const issuer = 'issuer' in card && typeof card.issuer === 'string' ? card.issuer : undefined;
  return {
    issuer_type: 'card',
    card_type: card.brand,
    last4: card.last4,
    exp_month: card.exp_month,
    exp_year: card.exp_year,
    ...(issuer ? { issuer } : {}),
  };
}

function idOf(value: string | { id: string } | null | undefined): string | null {
  if (!value) return null;
  return typeof value === 'string' ? value : value.id;
}

/**
 * Records a PaymentIntent's state on the locked payment and its order: status, payment
 * method, charge and instrument on the payment; the capture or void it implies; the order's
 * payment_status, forward only. The caller decides whether the snapshot is current enough
 * to apply (see stripe-events.ts); `paymentMethod` is the expanded method when `pi` only has its id.
 */
export async function applyPaymentIntent(
  tx: AnyTx,
  { payment, order }: Locked,
  pi: Stripe.PaymentIntent,
  paymentMethod?: Stripe.PaymentMethod | null,
): Promise<void> {
  const charge = typeof pi.latest_charge === 'object' ? pi.latest_charge : null;
  const chargeId = idOf(pi.latest_charge) ?? payment.chargeId;
  const pm = typeof pi.payment_method === 'object' && pi.payment_method !== null ? pi.payment_method : (paymentMethod ?? null);
  const pmId = idOf(pi.payment_method);
  const storedPmId = (payment.paymentMethod as { id?: unknown } | null)?.id;

  const data: Prisma.StripePaymentUncheckedUpdateInput = { status: pi.status, chargeId };
  if (pm && pm.id === pmId) {
    data.paymentMethod = compactPaymentMethod(pm) ?? Prisma.DbNull;
    data.paymentInstrument = paymentInstrument(pm, charge) ?? Prisma.DbNull;
  } else if (pmId === null) {
    // Stripe detaches a declined method: the payment has none until the next attempt.
    data.paymentMethod = Prisma.DbNull;
    data.paymentInstrument = paymentInstrument(null, charge) ?? Prisma.DbNull;
  } else if (storedPmId !== pmId) {
    // Only the id is known: better than details of a method no longer used.
    data.paymentMethod = { id: pmId };
    data.paymentInstrument = paymentInstrument(null, charge) ?? Prisma.DbNull;
  }
  const setsMethod = data.paymentMethod !== undefined;
  await run(tx, applyIntent, [
    payment.id,
    data.status,
    data.chargeId,
    setsMethod,
    setsMethod ? jsonParameter(data.paymentMethod) : null,
    setsMethod ? jsonParameter(data.paymentInstrument) : null,
    new Date().toISOString(),
  ]);
  await recordChange(tx, { type: 'stripe_payments', id: payment.id, event: 'update', changes: changedColumns(payment, data) });

  if (pi.status === 'succeeded') await recordCapture(tx, payment, order, pi, chargeId);
  if (pi.status === 'canceled') await recordVoid(tx, payment, order, pi);

  // A payment that is no longer the order's source (replaced, moved) does not speak for the order.
  if (order.paymentSourceId !== payment.id) return;
  // Nor does one for less than the order's total, or in another currency.
  if (pi.status === 'requires_capture' && coversOrder(order, pi.currency, pi.amount_capturable)) await advancePaymentStatus(tx, order.id, 'authorized');
  if (pi.status === 'succeeded' && pi.amount_received > 0 && coversOrder(order, pi.currency, pi.amount_received)) await advancePaymentStatus(tx, order.id, 'paid');
  // An unpaid order whose PaymentIntent is canceled can still be paid with a new one.
  if (pi.status === 'canceled') await advancePaymentStatus(tx, order.id, 'voided', ['authorized']);
}

/** A JSON column's value as a parameter: JSON text, or null for SQL NULL (Prisma.DbNull). */
function jsonParameter(value: unknown): string | null {
  return value === undefined || value === null || value === Prisma.DbNull ? null : JSON.stringify(value);
}

/** Whether Stripe's amount (in Stripe's units of `currency`) pays the order's whole total. */
export function coversOrder(order: Pick<Order, 'currencyCode' | 'totalAmountCents'>, currency: string, stripeAmount: number): boolean {
  const currencyCode = currency.toUpperCase();
  return order.currencyCode === currencyCode && fromStripeAmount(stripeAmount, currencyCode) >= order.totalAmountCents;
}

/** The capture a succeeded PaymentIntent implies: ours (named in its metadata) or one made at Stripe. */
async function recordCapture(tx: AnyTx, payment: StripePayment, order: Order, pi: Stripe.PaymentIntent, chargeId: string | null) {
  if (await recordOurs(tx, pi.metadata?.[captureMetadataKey], 'captures', order, chargeId)) return;
  const money = await orderMoney(tx, order.id);
  // Only an authorized (placed) order has something to capture against; a capture in flight records itself.
  if (!money.authorization || money.authorization.stripePaymentId !== payment.id) return;
  if (money.capture || money.reserved.some((row) => row.kind === 'captures')) return;
  if (chargeId && (await isRecordedAs(tx, 'captures', chargeId))) return;
  await createTransaction(tx, {
    kind: 'captures',
    order,
    payment,
    amountCents: fromStripeAmount(pi.amount_received, pi.currency.toUpperCase()),
    referenceId: money.authorization.id,
    recorded: { succeeded: true, gatewayTransactionId: chargeId, message: 'Captured at Stripe' },
  });
}

/** The void a canceled PaymentIntent implies: our cancellation in flight, or one made at Stripe. */
async function recordVoid(tx: AnyTx, payment: StripePayment, order: Order, pi: Stripe.PaymentIntent) {
  const money = await orderMoney(tx, order.id);
  const reserved = money.reserved.find((row) => row.kind === 'voids' && row.stripePaymentId === payment.id);
  if (reserved) {
    await recordOutcome(tx, reserved.id, { succeeded: true, gatewayTransactionId: pi.id });
    return;
  }
  if (!money.authorization || money.authorization.stripePaymentId !== payment.id || money.capture || money.void) return;
  if (await isRecordedAs(tx, 'voids', pi.id)) return;
  await createTransaction(tx, {
    kind: 'voids',
    order,
    payment,
    amountCents: money.authorization.amountCents,
    referenceId: money.authorization.id,
    recorded: { succeeded: true, gatewayTransactionId: pi.id, message: 'Canceled at Stripe' },
  });
}

/**
 * Records a PaymentIntent's refunds as Stripe lists them (ours by their metadata, others as
 * refunds made at Stripe) and moves the order to partially_refunded or refunded from its
 * charge's own totals. `refunds` come from the refunds list, not from the charge: since API
 * version 2022-11-15 a charge has no `refunds` unless expanded.
 */
export async function applyChargeRefunds(tx: AnyTx, { payment, order }: Locked, charge: Stripe.Charge, refunds: readonly Stripe.Refund[]): Promise<void> {
  const currencyCode = charge.currency.toUpperCase();
  // Another currency than the payment's is not this payment's money.
  if (currencyCode !== payment.currencyCode) return;
  for (const refund of refunds) {
    if (refund.status !== 'succeeded' && refund.status !== 'pending') continue;
    if (refund.currency.toUpperCase() !== currencyCode || idOf(refund.payment_intent) !== payment.stripeId) continue;
    await recordRefund(tx, { payment, order }, refund, currencyCode);
  }
  if (order.paymentSourceId !== payment.id) return;
  const captured = fromStripeAmount(charge.amount_captured, currencyCode);
  const refunded = fromStripeAmount(charge.amount_refunded, currencyCode);
  const status = statusAfterRefunds(captured, refunded);
  if (captured > 0 && status !== 'paid') await advancePaymentStatus(tx, order.id, status);
}

/** One Stripe refund: ours (named in its metadata) recorded, or one made at Stripe added. */
export async function recordRefund(tx: AnyTx, { payment, order }: Locked, refund: Stripe.Refund, currencyCode: string): Promise<void> {
  if (await recordOurs(tx, refund.metadata?.[refundMetadataKey], 'refunds', order, refund.id)) return;
  if (await isRecordedAs(tx, 'refunds', refund.id)) return;
  const money = await orderMoney(tx, order.id);
  await createTransaction(tx, {
    kind: 'refunds',
    order,
    payment,
    amountCents: fromStripeAmount(refund.amount, currencyCode),
    referenceId: money.capture?.id ?? null,
    recorded: { succeeded: true, gatewayTransactionId: refund.id, message: 'Refunded at Stripe' },
  });
}

/** Ours: the order's transaction a Stripe object's metadata names (`ours`), its outcome recorded; false when it names none. */
async function recordOurs(tx: AnyTx, ours: string | undefined, kind: TransactionKind, order: Order, gatewayTransactionId: string | null): Promise<boolean> {
  if (!ours || !(await isTransactionOf(tx, ours, kind, order.id))) return false;
  await recordOutcome(tx, ours, { succeeded: true, gatewayTransactionId });
  return true;
}
