import { recordChange } from '../changes.ts';
import { advancePaymentStatusSql } from '../db/sql/payments.ts';
import { run, type AnyTx, type Statement } from '../db/sql-transaction.ts';
import type { Prisma } from '../generated/prisma/client.ts';

const advance: Statement = { name: 'orders.advance_payment_status', text: advancePaymentStatusSql };

/**
 * An order's payment_status, as Commerce Layer moves it:
 *
 *   unpaid -> authorized -> paid -> partially_refunded -> refunded
 *   unpaid | authorized -> voided
 *
 * Statuses only move forward (but for a deleted payment's, see
 * resetPaymentStatusAfterPaymentDeleted): writers (API triggers, webhooks in any order, _refresh, the
 * reconciliation job) each propose the status they know of, and a proposal behind the
 * current one changes nothing. That is what keeps a late or replayed event from undoing
 * a newer state.
 */
export const paymentStatuses = ['unpaid', 'authorized', 'paid', 'partially_refunded', 'refunded', 'voided'] as const;
export type PaymentStatus = (typeof paymentStatuses)[number];

const rank: Record<PaymentStatus, number> = { unpaid: 0, authorized: 1, paid: 2, partially_refunded: 3, refunded: 4, voided: 2 };

/** The statuses from which `to` is a step forward. */
export function statusesBefore(to: PaymentStatus): PaymentStatus[] {
  // Voiding releases an authorization: once money was taken, only refunds apply.
  if (to === 'voided') return ['unpaid', 'authorized'];
  return paymentStatuses.filter((from) => from !== 'voided' && rank[from] < rank[to]);
}

/**
 * Moves an order's payment_status to `to` if that is forward (and, with `onlyFrom`, if it
 * is one of those), as one conditional UPDATE so that concurrent writers cannot move it
 * back. Returns whether it moved.
 */
export async function advancePaymentStatus(tx: AnyTx, orderId: string, to: PaymentStatus, onlyFrom?: readonly PaymentStatus[]): Promise<boolean> {
  const from = statusesBefore(to).filter((status) => !onlyFrom || onlyFrom.includes(status));
  const [moved] = await run<{ before: string }>(tx, advance, [orderId, to, from, new Date().toISOString()]);
  if (moved) await recordChange(tx, { type: 'orders', id: orderId, event: 'update', changes: { paymentStatus: { before: moved.before, after: to } } });
  return moved !== undefined;
}

/**
 * The one step back. A draft or pending order's payment was deleted: its PaymentIntent was
 * cancelled before any money moved, so `authorized` (or the `voided` its cancellation may
 * have recorded meanwhile) describes a payment that no longer exists, and the next payment
 * starts from `unpaid`. Not while another of the order's payments still holds or moved money.
 */
export async function resetPaymentStatusAfterPaymentDeleted(tx: Prisma.TransactionClient, orderId: string): Promise<boolean> {
  const holding = await tx.stripePayment.count({ where: { orderId, status: { in: ['requires_capture', 'processing', 'succeeded'] } } });
  if (holding > 0) return false;
  const before = await tx.order.findUnique({ where: { id: orderId }, select: { paymentStatus: true } });
  const { count } = await tx.order.updateMany({
    where: { id: orderId, status: { in: ['draft', 'pending'] }, paymentStatus: { in: ['authorized', 'voided'] } },
    data: { paymentStatus: 'unpaid', paymentUpdatedAt: new Date() },
  });
  if (count > 0) await recordChange(tx, { type: 'orders', id: orderId, event: 'update', changes: { paymentStatus: { before: before?.paymentStatus, after: 'unpaid' } } });
  return count > 0;
}

/** The status refunds leave a captured order in. */
export function statusAfterRefunds(capturedCents: number, refundedCents: number): PaymentStatus {
  if (refundedCents <= 0) return 'paid';
  return refundedCents >= capturedCents ? 'refunded' : 'partially_refunded';
}

/**
 * PaymentIntent statuses in the order a payment goes through them. The ones before payment
 * can alternate (a declined card after 3-D Secure goes back to requires_payment_method), so
 * they share a rank; succeeded and canceled are final.
 */
const intentRank: Record<string, number> = {
  requires_payment_method: 0,
  requires_confirmation: 0,
  requires_action: 0,
  processing: 1,
  requires_capture: 2,
  succeeded: 3,
  canceled: 3,
};

export function intentStatusRank(status: string | null | undefined): number {
  return status ? (intentRank[status] ?? 0) : -1;
}

export function isFinalIntentStatus(status: string | null | undefined): boolean {
  return status === 'succeeded' || status === 'canceled';
}

/** Statuses in which Stripe still lets a PaymentIntent's amount, currency and payment method change. */
export const changeableIntentStatuses: ReadonlySet<string> = new Set(['requires_payment_method', 'requires_confirmation', 'requires_action']);
export const changeableIntentList = [...changeableIntentStatuses].join(', ');
/** Statuses from which a PaymentIntent never returns to a changeable one, so Stripe need not be asked. */
export const neverChangeableAgain: ReadonlySet<string> = new Set(['requires_capture', 'succeeded', 'canceled']);
/** Money has moved or is moving: a payment in these statuses can no longer be deleted. */
export const moneyMovedStatuses: ReadonlySet<string> = new Set(['processing', 'succeeded']);
/** What `_authorize` and `_place` accept: authorized (to capture later) or already paid. */
export const authorizedIntentStatuses: ReadonlySet<string> = new Set(['requires_capture', 'succeeded']);
