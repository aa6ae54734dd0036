import { AsyncLocalStorage } from 'node:async_hooks';
import { run, type AnyTx, type Statement } from './db/sql-transaction.ts';

/**
 * A request's Idempotency-Key is recorded in the transaction of its write, not after: a
 * create whose COMMIT outcome is unknown to the server (its connection cut around the
 * COMMIT, the process killed before the answer was stored) left nothing under the key, so
 * a retry made the record twice. Now the key row says "committed" with the record's id as
 * soon as, and only if, the write commits, and a retry on any instance answers with that
 * record instead of writing again.
 *
 * A create runs inside `withKeyedWrite`; `recordChange` (src/changes.ts), called in every
 * declared write's transaction, calls `markKeyCommitted`, which marks the key with the
 * first record of the create's type created. Only creates: an update sent again sets the
 * same values, and its triggers recognise their own retries by the key's digest (a
 * capture whose Stripe call failed must run again, not answer as if it had succeeded).
 */
interface KeyedWrite {
  /** The idempotency_keys row of the request. */
  keyRecordId: string;
  /** The type the request creates. */
  type: string;
}

const current = new AsyncLocalStorage<KeyedWrite>();

export const committedState = 'committed';

export function withKeyedCreate<T>(keyRecordId: string | undefined, type: string, work: () => Promise<T>): Promise<T> {
  if (keyRecordId === undefined) return work();
  return current.run({ keyRecordId, type }, work);
}

const markCommitted: Statement = {
  name: 'idempotency_keys.commit',
  text: `UPDATE idempotency_keys SET state = '${committedState}', record_id = $2, updated_at = $3::timestamp(3) WHERE id = $1 AND state = 'in_progress'`,
};

/** In the transaction of a change: marks the request's key committed, once (later calls match no row). */
export async function markKeyCommitted(tx: AnyTx, change: { type: string; id: string; event: string }): Promise<void> {
  const write = current.getStore();
  if (!write || change.type !== write.type || change.event !== 'create') return;
  await run(tx, markCommitted, [write.keyRecordId, change.id, new Date().toISOString()]);
}
