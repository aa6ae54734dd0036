import { changedColumns, recordChange } from '../changes.ts';
import { newSecret } from '../crypto/password.ts';
import type { Webhook } from '../generated/prisma/client.ts';
import { newId } from '../ids.ts';
import { invalid } from '../domain-error.ts';
import type { Columns, TriggerContext, WriteContext } from '../jsonapi/resource.ts';
import type { Services } from '../services.ts';
import { notifyWorkers } from './outbox.ts';
import { includeQuery } from './render.ts';
import { resourceOfTopic } from './topics.ts';

/**
 * The rules of webhooks' writes: a shared secret made at creation (and by
 * `_regenerate_shared_secret`), sealed at rest and shown in that response only;
 * `include_resources` must be includes of the topic's resource, as `?include=` takes them.
 */

function assertIncludes(topic: string, include: unknown): void {
  try {
    includeQuery(resourceOfTopic(topic), Array.isArray(include) ? (include as string[]) : []);
  } catch (error) {
    throw invalid({ attribute: 'include_resources' }, `${(error as Error).message.replace(/\.$/, '')} (for the topic's ${resourceOfTopic(topic)})`);
  }
}

/** Written with the secret's columns: the plaintext is shown once and never stored. */
function sealedSecret(services: Services, show: (field: string, value: unknown) => void): Columns {
  const secret = newSecret(32);
  show('sharedSecret', secret);
  return { sharedSecretEncrypted: services.secretBox.seal(secret) };
}

// The change description never carries the sealed secret.
const described = ({ sharedSecretEncrypted: _sealed, ...columns }: Columns) => columns;

export async function createWebhook(services: Services, columns: Columns, context: WriteContext<Services>): Promise<Webhook> {
  assertIncludes(String(columns.topic), columns.includeResources);
  const id = newId();
  const data = { id, name: `Webhook ${id}`, ...columns, ...sealedSecret(services, context.show) } as Parameters<Services['db']['webhook']['create']>[0]['data'];
  return services.db.$transaction(async (tx) => {
    const created = await tx.webhook.create({ data });
    await recordChange(tx, { type: 'webhooks', id, event: 'create', changes: changedColumns(undefined, described(data as Columns)) });
    return created;
  });
}

export async function updateWebhook(services: Services, row: Webhook, columns: Columns): Promise<void> {
  if (columns.topic !== undefined || columns.includeResources !== undefined) {
    assertIncludes(String(columns.topic ?? row.topic), columns.includeResources ?? row.includeResources);
  }
  if (Object.keys(columns).length === 0) return;
  await services.db.$transaction(async (tx) => {
    await tx.webhook.update({ where: { id: row.id }, data: columns });
    await recordChange(tx, { type: 'webhooks', id: row.id, event: 'update', changes: changedColumns(row as unknown as Columns, columns) });
    // Enabled again: its held events go out.
    if (columns.disabledAt === null && row.disabledAt !== null) await notifyWorkers(tx, `webhook:${row.id}`);
  });
}

/** `_reset_circuit`: closed, no failures, and the events it held are sent. */
export async function resetCircuit(services: Services, id: string): Promise<void> {
  await services.db.$transaction(async (tx) => {
    const before = await tx.webhook.findUniqueOrThrow({ where: { id } });
    await tx.webhook.update({ where: { id }, data: { circuitState: 'closed', circuitFailureCount: 0 } });
    // Its waiting events go now, not at the retry time their last failure set.
    await tx.webhookEvent.updateMany({ where: { webhookId: id, status: 'pending' }, data: { nextAttemptAt: new Date() } });
    await recordChange(tx, {
      type: 'webhooks',
      id,
      event: 'update',
      changes: changedColumns({ circuitState: before.circuitState, circuitFailureCount: before.circuitFailureCount }, { circuitState: 'closed', circuitFailureCount: 0 }),
    });
    await notifyWorkers(tx, `webhook:${id}`);
  });
}

/** `_regenerate_shared_secret`: a new secret, shown in this response only; the old one stops signing at once. */
export async function regenerateSharedSecret(services: Services, id: string, context: TriggerContext): Promise<void> {
  const columns = sealedSecret(services, context.show);
  await services.db.$transaction(async (tx) => {
    await tx.webhook.update({ where: { id }, data: columns });
    await recordChange(tx, { type: 'webhooks', id, event: 'update' });
  });
}
