// The soak's verdict: what Stripe (the stand-in) holds against what the database records.
// Reads the database with plain SQL and Stripe through its API, never through the server,
// so a bug in the server's own reads cannot hide a bug in its writes.
import pg from 'pg';
import type Stripe from 'stripe';
import type { PaymentIntent } from '@stripe-payments-api/stripe-standin';

export interface Audit {
  intentsAtStripe: number;
  intentsByStatus: Record<string, number>;
  /** Stripe payments stored with a PaymentIntent (intent_state created). */
  storedPayments: number;
  /** Reservations whose PaymentIntent creation never completed (no stripe id). */
  reservedPayments: number;
  /** Stored stripe ids that no PaymentIntent at Stripe has. */
  storedWithoutIntent: string[];
  /** PaymentIntents not canceled that no stored payment names: money or an authorization nobody tracks. */
  orphanIntents: { id: string; status: string; amount: number; amountReceived: number }[];
  /** Canceled PaymentIntents no stored payment names (hold nothing). */
  canceledOrphans: number;
  /** Stored payments whose amount, currency or metadata disagree with their PaymentIntent. */
  intentMismatches: string[];
  money: {
    capturedAtStripeCents: number;
    refundedAtStripeCents: number;
    refundsAtStripe: number;
    capturesRecordedCents: number;
    refundsRecordedCents: number;
    capturesRecorded: number;
    refundsRecorded: number;
    /** Per PaymentIntent: Stripe's captured/refunded against the recorded transactions, where they differ. */
    mismatches: string[];
  };
  voids: { canceledAuthorizedIntents: number; voidsRecorded: number; mismatches: string[] };
  /** Cents refunded at Stripe per PaymentIntent that has refunds. */
  refundedByIntent: Record<string, number>;
  /** Transactions still reserved (outcome never learnt), by kind. */
  openReservations: Record<string, number>;
  ordersChecked: number;
  /** Orders whose totals are not the sum of their line items. */
  orderTotalMismatches: string[];
}

/** Everything that must be empty or equal for the soak to pass. */
export function auditFailures(audit: Audit): string[] {
  const failures: string[] = [];
  const list = (label: string, items: string[]) => {
    if (items.length > 0) failures.push(`${label}: ${items.length} (${items.slice(0, 5).join('; ')}${items.length > 5 ? '; ...' : ''})`);
  };
  list('stored stripe ids missing at Stripe', audit.storedWithoutIntent);
  list('PaymentIntents at Stripe no stored payment names', audit.orphanIntents.map((pi) => `${pi.id} ${pi.status} ${pi.amount}`));
  list('stored payments disagreeing with their PaymentIntent', audit.intentMismatches);
  list('money moved at Stripe vs transactions recorded', audit.money.mismatches);
  list('canceled authorizations vs voids recorded', audit.voids.mismatches);
  list('orders whose totals are not the sum of their line items', audit.orderTotalMismatches);
  const { money } = audit;
  if (money.capturedAtStripeCents !== money.capturesRecordedCents) failures.push(`captured at Stripe ${money.capturedAtStripeCents} ≠ recorded ${money.capturesRecordedCents}`);
  if (money.refundedAtStripeCents !== money.refundsRecordedCents) failures.push(`refunded at Stripe ${money.refundedAtStripeCents} ≠ recorded ${money.refundsRecordedCents}`);
  if (money.refundsAtStripe !== money.refundsRecorded) failures.push(`refunds at Stripe ${money.refundsAtStripe} ≠ recorded ${money.refundsRecorded}`);
  return failures;
}

interface PaymentRow {
  id: string;
  order_id: string;
  stripe_id: string | null;
  intent_state: string;
  amount_cents: number;
  currency_code: string;
}

interface TransactionRow {
  stripe_payment_id: string | null;
  kind: string;
  state: string;
  succeeded: boolean;
  amount_cents: number;
  gateway_transaction_id: string | null;
}

/**
 * `stripe` lists refunds (any test key of the stand-in sees every test-mode object).
 * Amounts are compared in minor units: the soak uses a two-decimal currency only.
 */
export async function audit(databaseUrl: string, intents: PaymentIntent[], stripe: Stripe): Promise<Audit> {
  const db = new pg.Client({ connectionString: databaseUrl });
  await db.connect();
  try {
    const payments = (await db.query<PaymentRow>('SELECT id, order_id, stripe_id, intent_state, amount_cents, currency_code FROM stripe_payments')).rows;
    const transactions = (
      await db.query<TransactionRow>('SELECT stripe_payment_id, kind, state, succeeded, amount_cents, gateway_transaction_id FROM transactions')
    ).rows;
    const totals = (
      await db.query<{ id: string; subtotal: number; total: number; method: number; lines: number; bad_lines: number }>(
        `SELECT o.id, o.subtotal_amount_cents AS subtotal, o.total_amount_cents AS total, o.payment_method_amount_cents AS method,
                COALESCE(SUM(li.total_amount_cents), 0)::int AS lines,
                COUNT(li.id) FILTER (WHERE li.total_amount_cents <> li.quantity * li.unit_amount_cents)::int AS bad_lines
         FROM orders o LEFT JOIN line_items li ON li.order_id = o.id GROUP BY o.id`,
      )
    ).rows;

    const byStripeId = new Map(payments.filter((p) => p.stripe_id).map((p) => [p.stripe_id!, p]));
    const intentIds = new Set(intents.map((pi) => pi.id));
    const intentsByStatus: Record<string, number> = {};
    for (const pi of intents) intentsByStatus[pi.status] = (intentsByStatus[pi.status] ?? 0) + 1;

    const result: Audit = {
      intentsAtStripe: intents.length,
      intentsByStatus,
      storedPayments: payments.filter((p) => p.intent_state === 'created').length,
      reservedPayments: payments.filter((p) => p.intent_state !== 'created').length,
      storedWithoutIntent: [...byStripeId.keys()].filter((id) => !intentIds.has(id)),
      orphanIntents: [],
      canceledOrphans: 0,
      intentMismatches: [],
      money: { capturedAtStripeCents: 0, refundedAtStripeCents: 0, refundsAtStripe: 0, capturesRecordedCents: 0, refundsRecordedCents: 0, capturesRecorded: 0, refundsRecorded: 0, mismatches: [] },
      voids: { canceledAuthorizedIntents: 0, voidsRecorded: 0, mismatches: [] },
      refundedByIntent: {},
      openReservations: {},
      ordersChecked: totals.length,
      orderTotalMismatches: totals
        .filter((o) => o.subtotal !== o.lines || o.total !== o.subtotal + o.method || o.bad_lines > 0)
        .map((o) => `${o.id}: subtotal ${o.subtotal}, total ${o.total}, line items ${o.lines}${o.bad_lines > 0 ? `, ${o.bad_lines} line totals ≠ quantity × unit` : ''}`),
    };

    const succeededOf = (paymentId: string, kind: string) =>
      transactions.filter((t) => t.stripe_payment_id === paymentId && t.kind === kind && t.state === 'recorded' && t.succeeded);
    for (const t of transactions) {
      if (t.state === 'reserved') result.openReservations[t.kind] = (result.openReservations[t.kind] ?? 0) + 1;
      if (t.state === 'recorded' && t.succeeded && t.kind === 'captures') {
        result.money.capturesRecordedCents += t.amount_cents;
        result.money.capturesRecorded += 1;
      }
      if (t.state === 'recorded' && t.succeeded && t.kind === 'refunds') {
        result.money.refundsRecordedCents += t.amount_cents;
        result.money.refundsRecorded += 1;
      }
      if (t.state === 'recorded' && t.succeeded && t.kind === 'voids') result.voids.voidsRecorded += 1;
    }

    for (const pi of intents) {
      const payment = byStripeId.get(pi.id);
      // Money Stripe moved for this PaymentIntent, read back through its API.
      let refunds: Stripe.Refund[] = [];
      if (pi.amount_received > 0) {
        refunds = (await stripe.refunds.list({ payment_intent: pi.id, limit: 100 })).data.filter((r) => r.status === 'succeeded' || r.status === 'pending');
      }
      const refunded = refunds.reduce((sum, r) => sum + r.amount, 0);
      result.money.capturedAtStripeCents += pi.amount_received;
      result.money.refundedAtStripeCents += refunded;
      result.money.refundsAtStripe += refunds.length;
      if (refunded > 0) result.refundedByIntent[pi.id] = refunded;

      if (!payment) {
        if (pi.status === 'canceled') result.canceledOrphans += 1;
        else result.orphanIntents.push({ id: pi.id, status: pi.status, amount: pi.amount, amountReceived: pi.amount_received });
        if (pi.amount_received > 0) result.money.mismatches.push(`${pi.id}: ${pi.amount_received} captured at Stripe for no stored payment`);
        continue;
      }
      if (payment.amount_cents !== pi.amount || payment.currency_code.toLowerCase() !== pi.currency || pi.metadata.stripe_payment_id !== payment.id) {
        result.intentMismatches.push(`${payment.id}/${pi.id}: stored ${payment.amount_cents} ${payment.currency_code}, Stripe ${pi.amount} ${pi.currency} for ${pi.metadata.stripe_payment_id}`);
      }
      const captures = succeededOf(payment.id, 'captures');
      const captured = captures.reduce((sum, t) => sum + t.amount_cents, 0);
      const recordedRefunds = succeededOf(payment.id, 'refunds');
      const recordedRefunded = recordedRefunds.reduce((sum, t) => sum + t.amount_cents, 0);
      const refundIds = new Set(refunds.map((r) => r.id));
      const recordedIds = new Set(recordedRefunds.map((t) => t.gateway_transaction_id));
      const sameRefunds = refundIds.size === recordedIds.size && [...refundIds].every((id) => recordedIds.has(id)) && recordedRefunds.length === refunds.length;
      if (captured !== pi.amount_received || captures.length > 1 || refunded !== recordedRefunded || !sameRefunds) {
        result.money.mismatches.push(
          `${pi.id} (payment ${payment.id}): Stripe captured ${pi.amount_received}, refunded ${refunded} in ${refunds.length}; recorded ${captures.length} capture(s) ${captured}, ${recordedRefunds.length} refund(s) ${recordedRefunded}`,
        );
      }
      // An authorization that was released at Stripe is a void in our records.
      const authorized = succeededOf(payment.id, 'authorizations').length > 0;
      const voids = succeededOf(payment.id, 'voids').length;
      if (pi.status === 'canceled' && authorized) {
        result.voids.canceledAuthorizedIntents += 1;
        if (voids !== 1) result.voids.mismatches.push(`${pi.id} (payment ${payment.id}): canceled at Stripe, ${voids} voids recorded`);
      } else if (voids > 0) {
        result.voids.mismatches.push(`${pi.id} (payment ${payment.id}): ${pi.status} at Stripe, ${voids} voids recorded`);
      }
    }
    return result;
  } finally {
    await db.end();
  }
}
