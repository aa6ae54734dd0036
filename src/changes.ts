import type { AnyTx } from './db/sql-transaction.ts';
import { markKeyCommitted } from './keyed-writes.ts';
import { recordVersion } from './versions.ts';
import { recordWebhookEvents } from './webhooks/outbox.ts';

/**
 * The one place a committed change is described: every write of a resource's record, by
 * the domain (a request, a Stripe event, `_refresh`, the reconciliation job) or by the
 * JSON:API engine, calls `recordChange` inside the transaction that makes the change, so a
 * change and its description commit or roll back together. Not described: the server's
 * own bookkeeping (a payment reserved while its PaymentIntent is made, the reconciliation
 * claim, a gateway's webhook endpoint registered at Stripe, Idempotency-Key records), and
 * an order's payment source, which follows the stripe payment whose change is described.
 *
 * It is where two features write their rows: Commerce Layer's `versions` (an audit record
 * of each create, update and destroy with the changed fields: src/versions.ts) and an
 * outbox of events (`orders.place`, `captures.create`, ...: src/webhooks/outbox.ts)
 * delivered after the commit. Neither may hold a secret: `changes` carries column values
 * as written, so a writer of versions must leave out the sealed and hashed columns (`loginEncrypted`,
 * `secretHash`, `passwordHash`, ...).
 */

export interface Change {
  /** The resource type, e.g. `orders`, `captures`. */
  type: string;
  id: string;
  /** `create`, `update` or `destroy`, or the event of a trigger or a payment step (`orders.place`, `captures.create`). */
  event: string;
  /** The columns that changed, before and after; absent when the event changes none of the record's own. */
  changes?: Record<string, { before: unknown; after: unknown }>;
}

export async function recordChange(tx: AnyTx, change: Change): Promise<void> {
  // The request's Idempotency-Key commits with its write (src/keyed-writes.ts).
  await markKeyCommitted(tx, change);
  await recordVersion(tx, change);
  // Outgoing webhooks: the events this change fires, in its transaction (src/webhooks/outbox.ts).
  await recordWebhookEvents(tx, change);
}

/** The columns of `after` whose values differ from `before` (a created record: every column, from undefined). */
export function changedColumns(before: Record<string, unknown> | undefined, after: Record<string, unknown>): Change['changes'] {
  const changes: NonNullable<Change['changes']> = {};
  for (const [column, value] of Object.entries(after)) {
    const old = before?.[column];
    if (JSON.stringify(old) !== JSON.stringify(value)) changes[column] = { before: old, after: value };
  }
  return changes;
}
