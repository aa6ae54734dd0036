import Stripe from 'stripe';
import { claimStripePaymentsToReconcile } from '../db/sql/locks.ts';
import type { Services } from '../services.ts';
import { advancePaymentStatus, statusAfterRefunds } from './payment-status.ts';
import { inTransaction, lockPaymentWithOrder } from './locks.ts';
import { paymentAccount } from './stripe-account.ts';
import { listRefunds } from './stripe-events.ts';
import { applyPaymentIntent, recordRefund, refundMetadataKey } from './stripe-sync.ts';
import { isReleaseDue, releaseSuperseded } from './supersede.ts';
import { orderMoney } from './transactions.ts';

/**
 * The fallback for missed webhooks: re-reads PaymentIntents that stayed pending (not
 * succeeded or canceled) longer than `olderThanMs`, and those with a capture, refund or
 * void whose outcome was never recorded, and applies what Stripe says exactly as a webhook
 * would; and finishes the release of superseded payments (payments/supersede.ts). Safe
 * with several instances running it at once: each claims a batch with SKIP LOCKED and a
 * lease (src/db/sql/locks.ts), so they read different PaymentIntents; and
 * applying is idempotent anyway. A PaymentIntent Stripe says does not exist
 * (resource_missing: made against another account or key, or a Stripe stand-in that lost
 * its state) is marked on its payment (`intent_missing_at`, shown by the API) and never
 * claimed again: no amount of re-reading brings it back, and a warning every cycle would
 * bury the ones that matter.
 */

export interface ReconcileOptions {
  /** Re-read payments unchanged for this long. Default 15 minutes. */
  olderThanMs: number;
  /** Payments per batch. Default 50. */
  limit: number;
  /** How long a claim keeps other instances off a payment. Default 5 minutes. */
  leaseMs: number;
  /** Pending payments created longer ago than this are abandoned, not re-read. Default 7 days. */
  maxAgeMs: number;
}

export interface ReconcileReport {
  claimed: number;
  refreshed: number;
  failed: number;
  /** Payments whose PaymentIntent Stripe says does not exist, marked and left alone from now on. */
  missing: number;
  /** The stripe payments this run claimed. */
  paymentIds: string[];
}

const defaults: ReconcileOptions = { olderThanMs: 15 * 60_000, limit: 50, leaseMs: 5 * 60_000, maxAgeMs: 7 * 24 * 3_600_000 };

/** Claims one batch for this caller; other callers skip the claimed rows and each other's locks. */
function claimBatch(services: Services, options: ReconcileOptions): Promise<string[]> {
  const now = Date.now();
  return claimStripePaymentsToReconcile(services.db, {
    now: new Date(now),
    unchangedSince: new Date(now - options.olderThanMs),
    leaseStartedBefore: new Date(now - options.leaseMs),
    createdAfter: new Date(now - options.maxAgeMs),
    limit: options.limit,
  });
}

function isResourceMissing(error: unknown): boolean {
  return error instanceof Stripe.errors.StripeInvalidRequestError && error.code === 'resource_missing';
}

/**
 * Re-reads one payment's PaymentIntent (and refunds, when one of ours is unrecorded) and
 * applies it; 'missing' when Stripe says the PaymentIntent does not exist (then marked).
 */
export async function reconcilePayment(services: Services, paymentId: string): Promise<'refreshed' | 'missing'> {
  const { db } = services;
  const payment = await db.stripePayment.findUnique({ where: { id: paymentId } });
  if (!payment?.stripeId) return 'refreshed';
  const { client, requestOptions } = await paymentAccount(services, payment);
  let intent: Stripe.PaymentIntent;
  try {
    intent = await client.paymentIntents.retrieve(payment.stripeId, { expand: ['payment_method', 'latest_charge'] }, requestOptions);
  } catch (error) {
    if (!isResourceMissing(error)) throw error;
    // The first answer's time is kept: it says since when.
    await db.stripePayment.updateMany({ where: { id: payment.id, intentMissingAt: null }, data: { intentMissingAt: new Date() } });
    services.logger.info({ stripePaymentId: payment.id, paymentIntent: payment.stripeId }, 'Stripe has no such PaymentIntent: marked, no longer reconciled');
    return 'missing';
  }
  const unrecordedRefunds = await db.transaction.count({ where: { stripePaymentId: payment.id, kind: 'refunds', state: 'reserved' } });
  let refunds: Stripe.Refund[] = [];
  if (unrecordedRefunds > 0) refunds = await listRefunds(client, payment.stripeId, requestOptions);

  await inTransaction(db, async (tx) => {
    const locked = await lockPaymentWithOrder(tx, payment.id);
    if (!locked) return;
    // Compare and set: a webhook applied since our read knows newer news.
    if (locked.payment.status === payment.status) await applyPaymentIntent(tx, locked, intent);
    const ours = refunds.filter((refund) => refund.metadata?.[refundMetadataKey] && (refund.status === 'succeeded' || refund.status === 'pending'));
    for (const refund of ours) await recordRefund(tx, locked, refund, refund.currency.toUpperCase());
    if (ours.length > 0) {
      const money = await orderMoney(tx, locked.order.id);
      if (money.capturedCents > 0) await advancePaymentStatus(tx, locked.order.id, statusAfterRefunds(money.capturedCents, money.refundedCents));
    }
  });
  // A release left due (the request that superseded it died, or Stripe failed it): finished here; a failure counts as this payment's.
  if (isReleaseDue(payment)) await releaseSuperseded(services, payment.id);
  return 'refreshed';
}

/** One batch: claims up to `limit` payments and reconciles each. */
export async function reconcilePayments(services: Services, overrides: Partial<ReconcileOptions> = {}): Promise<ReconcileReport> {
  const options = { ...defaults, ...overrides };
  const ids = await claimBatch(services, options);
  const report: ReconcileReport = { claimed: ids.length, refreshed: 0, failed: 0, missing: 0, paymentIds: ids };
  for (const id of ids) {
    try {
      report[await reconcilePayment(services, id)] += 1;
    } catch (error) {
      // Left claimed: the lease keeps a failing PaymentIntent from being retried at once.
      report.failed += 1;
      services.logger.warn({ stripePaymentId: id, err: { message: (error as Error).message } }, 'reconciliation of a payment failed');
    }
  }
  return report;
}

/** Batches until nothing is left to claim: the command's run. */
export async function reconcileAll(services: Services, overrides: Partial<ReconcileOptions> = {}): Promise<ReconcileReport> {
  const total: ReconcileReport = { claimed: 0, refreshed: 0, failed: 0, missing: 0, paymentIds: [] };
  for (;;) {
    const report = await reconcilePayments(services, overrides);
    total.claimed += report.claimed;
    total.refreshed += report.refreshed;
    total.failed += report.failed;
    total.missing += report.missing;
    total.paymentIds.push(...report.paymentIds);
    if (report.claimed < (overrides.limit ?? defaults.limit)) return total;
  }
}
