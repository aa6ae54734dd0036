/**
 * The row locks of the domain, as SQL. src/payments/locks.ts decides when each is taken
 * and in which order; this file only says how.
 *
 * One strength for every row: FOR NO KEY UPDATE. It is what an UPDATE of non-key columns
 * takes anyway, so a row locked here and updated later in the same transaction is never
 * upgraded; and, unlike FOR UPDATE, it does not block the KEY SHARE lock a foreign key
 * check takes on the referenced row (a transaction inserted for a payment, a line item for
 * an order), so a writer checking a reference never waits behind a writer holding the row.
 * Writers still exclude each other: NO KEY UPDATE conflicts with NO KEY UPDATE.
 */

import { run, type AnyTx, type Statement } from '../sql-transaction.ts';

/** What runs the reconciliation claim: a Prisma client (outside any transaction). */
export interface LockingClient {
  $queryRawUnsafe<T = unknown>(query: string, ...values: unknown[]): Promise<T>;
}

/** Several orders at once, in id order: two writers locking the same orders cannot each hold one the other waits for. */
const lockOrdersSql = 'SELECT id FROM orders WHERE id = ANY($1::text[]) ORDER BY id FOR NO KEY UPDATE';

/**
 * A created stripe payment (a reservation is not a payment yet), locked and read whole: a
 * row locked after a wait is its newest version, so nothing needs reading again. `p.*`
 * keeps the text short for pg_stat_activity; the caller picks the fields by name.
 */
const lockStripePaymentSql = `SELECT p.* FROM stripe_payments p WHERE p.id = $1 AND p.intent_state = 'created' FOR NO KEY UPDATE`;

/** The order a created stripe payment belongs to, unlocked: where a lock on the payment starts. */
const stripePaymentOrderSql = `SELECT order_id AS "orderId" FROM stripe_payments WHERE id = $1 AND intent_state = 'created'`;

/**
 * The reconciliation job's claim: payments whose PaymentIntent stayed pending (updated
 * before $2, created after $4), that have a transaction reserved before $2, or that were
 * superseded and not released (unchanged since $2, whatever their age), unclaimed
 * since $3; up to $5 of them, stamped claimed at $1. SKIP LOCKED: it never waits for a
 * writer (and so never closes a cycle with one), it passes over the payments they hold.
 */
const claimStripePaymentsSql = `
  UPDATE stripe_payments SET reconcile_claimed_at = $1
  WHERE id IN (
    SELECT p.id FROM stripe_payments p
    WHERE p.intent_state = 'created' AND p.stripe_id IS NOT NULL
      -- Stripe said the PaymentIntent does not exist: re-reading it cannot help.
      AND p.intent_missing_at IS NULL
      AND (p.reconcile_claimed_at IS NULL OR p.reconcile_claimed_at < $3)
      AND (
        ((p.status IS NULL OR p.status NOT IN ('succeeded', 'canceled')) AND p.updated_at < $2 AND p.created_at > $4)
        OR EXISTS (SELECT 1 FROM transactions t WHERE t.stripe_payment_id = p.id AND t.state = 'reserved' AND t.updated_at < $2)
        OR (p.superseded_at IS NOT NULL AND p.released_at IS NULL AND p.updated_at < $2)
      )
    ORDER BY p.updated_at
    LIMIT $5
    FOR NO KEY UPDATE SKIP LOCKED
  )
  RETURNING id`;

const lockOrders: Statement = { name: 'orders.lock_several', text: lockOrdersSql };
const lockStripePayment: Statement = { name: 'stripe_payments.lock', text: lockStripePaymentSql };
const stripePaymentOrder: Statement = { name: 'stripe_payments.order_id', text: stripePaymentOrderSql };

/** Locks the orders that exist among `ids` (in id order) and returns their ids. */
export async function lockOrderRows(tx: AnyTx, ids: readonly string[]): Promise<string[]> {
  const rows = await run<{ id: string }>(tx, lockOrders, [[...new Set(ids)]]);
  return rows.map((row) => row.id);
}

/** Locks a created stripe payment and reads its columns (snake_case); null when there is none. */
export async function lockStripePaymentRow(tx: AnyTx, paymentId: string): Promise<Record<string, unknown> | null> {
  const [row] = await run(tx, lockStripePayment, [paymentId]);
  return row ?? null;
}

/** The order id of a created stripe payment, without a lock; null when there is none. */
export async function stripePaymentOrderId(tx: AnyTx, paymentId: string): Promise<string | null> {
  const [row] = await run<{ orderId: string }>(tx, stripePaymentOrder, [paymentId]);
  return row?.orderId ?? null;
}

export interface ReconcileClaim {
  now: Date;
  /** Payments unchanged since, and reservations older than, this. */
  unchangedSince: Date;
  /** Claims older than this have lapsed. */
  leaseStartedBefore: Date;
  /** Pending payments created before this are abandoned. */
  createdAfter: Date;
  limit: number;
}

/** Claims a batch of payments for the reconciliation job; returns their ids. */
export async function claimStripePaymentsToReconcile(client: LockingClient, claim: ReconcileClaim): Promise<string[]> {
  const rows = await client.$queryRawUnsafe<{ id: string }[]>(
    claimStripePaymentsSql,
    claim.now,
    claim.unchangedSince,
    claim.leaseStartedBefore,
    claim.createdAfter,
    claim.limit,
  );
  return rows.map((row) => row.id);
}
