import { AsyncLocalStorage } from 'node:async_hooks';
import type { Change } from './changes.ts';
import { insertRow } from './db/sql/insert.ts';
import { run, type AnyTx } from './db/sql-transaction.ts';
import { newId } from './ids.ts';

/**
 * Commerce Layer's `versions`: the audit trail of the payment side. Each described change
 * (src/changes.ts) of a versioned resource becomes one row in the transaction of the change:
 * the event (create, update, destroy), the changed fields as `name: [before, after]`, who
 * made it (the request's application and owner, or the server itself when a Stripe webhook
 * or a job changed it), when. Sealed, hashed and secret columns show as changed with
 * `[FILTERED]` in place of both values, so a version never holds a secret.
 */

/** The resources whose changes are versioned (the payment side of Commerce Layer's). */
const versioned: ReadonlySet<string> = new Set([
  'orders',
  'stripe_payments',
  'stripe_gateways',
  'payment_gateways',
  'payment_methods',
  'authorizations',
  'captures',
  'refunds',
  'voids',
]);

export const filtered = '[FILTERED]';

/** Columns whose values never leave the database: sealed keys, hashes, client secrets. */
const sealed = /(Encrypted|Hash)$|^clientSecret$|^webhookSecret/;
/** The server's own keys inside metadata (an Idempotency-Key's digest): not the client's data, left out. */
const ownMetadataKeys = ['idempotency_key_digest'];

/** Who a change is by, as Commerce Layer's `who` shows it. */
export type Author =
  | { application: { id: string; kind: string; public: boolean }; owner?: { id: string; type: string } }
  | { source: 'stripe_webhook' | 'server' };

const authors = new AsyncLocalStorage<{ author: () => Author }>();

/** Runs `work` with its changes attributed to `author` (read when a change is recorded: a request's token is verified after it starts). */
export function attributedTo<T>(author: () => Author, work: () => T): T {
  return authors.run({ author }, work);
}

/** Sealed and hashed columns, by the field a client writes them through. */
const sealedFields: Record<string, string> = {
  loginEncrypted: 'login',
  webhookSecretEncrypted: 'webhook_endpoint_secret',
  secretHash: 'client_secret',
  passwordHash: 'password',
};

/** A column as Commerce Layer names the field: `loginEncrypted` is `login`, `paymentStatus` is `payment_status`. */
function fieldName(column: string): string {
  return (
    sealedFields[column] ??
    column.replace(/(Encrypted|Hash)$/, '').replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`)
  );
}

function shown(column: string, value: unknown): unknown {
  if (value === undefined) return null;
  if (value instanceof Date) return value.toISOString();
  // Prisma's JSON null markers, and anything else that is not plain data.
  if (value !== null && typeof value === 'object' && !Array.isArray(value) && Object.getPrototypeOf(value) !== Object.prototype) return null;
  if (column === 'metadata' && value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).filter(([key]) => !ownMetadataKeys.includes(key)));
  }
  return value;
}

/** A change's columns as a version's `changes`: field name -> [before, after]. */
export function versionChanges(changes: Change['changes']): Record<string, [unknown, unknown]> {
  const result: Record<string, [unknown, unknown]> = {};
  for (const [column, { before, after }] of Object.entries(changes ?? {})) {
    const name = fieldName(column);
    if (sealed.test(column)) {
      result[name] = [before === undefined || before === null ? null : filtered, after === undefined || after === null ? null : filtered];
      continue;
    }
    const pair: [unknown, unknown] = [shown(column, before), shown(column, after)];
    if (JSON.stringify(pair[0]) !== JSON.stringify(pair[1])) result[name] = pair;
  }
  return result;
}

/** Commerce Layer's three events: a trigger or a payment step (`orders.place`) is an update, `captures.create` a create. */
function versionEvent(event: string): 'create' | 'update' | 'destroy' {
  if (event === 'create' || event.endsWith('.create')) return 'create';
  if (event === 'destroy' || event.endsWith('.destroy')) return 'destroy';
  return 'update';
}

/** Writes the version of a change, inside the change's transaction; other resources' changes are not versioned. */
export async function recordVersion(tx: AnyTx, change: Change): Promise<void> {
  if (!versioned.has(change.type)) return;
  const event = versionEvent(change.event);
  const changes = versionChanges(change.changes);
  // An update that changed nothing the API shows (a reservation's bookkeeping) is no version.
  if (event === 'update' && Object.keys(changes).length === 0) return;
  const who = authors.getStore()?.author() ?? { source: 'server' };
  const now = new Date();
  // Nothing is read back of a version.
  const { statement, values } = insertRow('versions', { id: newId(), resourceType: change.type, resourceId: change.id, event, changes, who, createdAt: now, updatedAt: now });
  await run(tx, statement, values);
}
