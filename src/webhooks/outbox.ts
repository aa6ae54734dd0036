import type { Change } from '../changes.ts';
import { Prisma } from '../db/client.ts';
import { asFields } from '../db/sql/payments.ts';
import { prismaOf, run, type AnyTx, type Statement } from '../db/sql-transaction.ts';
import type { Webhook } from '../generated/prisma/client.ts';
import { newId } from '../ids.ts';
import { renderPayload } from './render.ts';
import { topicsOf } from './topics.ts';

/**
 * The outbox of outgoing webhooks: for each topic a change fires and each enabled webhook
 * on it, one `webhook_events` row with the payload rendered now, written in the change's
 * own transaction (called from `recordChange`), so a rollback leaves no event and a
 * commit cannot lose one. The commit then notifies the instances' workers
 * (`pg_notify`, delivered only on commit), which deliver it (src/webhooks/worker.ts).
 */
export const webhookChannel = 'webhook_events';

/**
 * The ordering lane of an event: the events of one record to one callback URL go out in
 * the order they happened, also across the webhooks (one per topic) that share the URL, so
 * a receiver of `orders.place` and `orders.pay` sees the order placed before it is paid.
 */
export function laneOf(callbackUrl: string, type: string, id: string): string {
  return `${type}:${id} ${callbackUrl}`;
}

const webhookFields = Object.values(Prisma.WebhookScalarFieldEnum);
const subscribed: Statement = {
  name: 'webhooks.subscribed',
  text: 'SELECT w.* FROM webhooks w WHERE w.topic = ANY($1::text[]) AND w.disabled_at IS NULL ORDER BY w.created_at',
};

export async function recordWebhookEvents(anyTx: AnyTx, change: Change): Promise<void> {
  const topics = topicsOf(change);
  if (topics.length === 0) return;
  const webhooks = (await run(anyTx, subscribed, [topics])).map((row) => asFields<Webhook>(row, webhookFields));
  if (webhooks.length === 0) return;
  // Payloads are rendered by the resource store, which reads through Prisma: only a change someone subscribed to needs it.
  const tx = prismaOf(anyTx);
  const bodies = new Map<string, string | null>();
  const lanes = new Set<string>();
  for (const topic of topics) {
    for (const webhook of webhooks.filter((candidate) => candidate.topic === topic)) {
      const include = (webhook.includeResources as string[] | null) ?? [];
      const key = include.join(',');
      if (!bodies.has(key)) bodies.set(key, await renderPayload(tx, change.type, change.id, include));
      const body = bodies.get(key)!;
      if (body === null) continue;
      const lane = laneOf(webhook.callbackUrl, change.type, change.id);
      await tx.webhookEvent.create({ data: { id: newId(), webhookId: webhook.id, topic, resourceType: change.type, resourceId: change.id, lane, body } });
      lanes.add(lane);
    }
  }
  for (const lane of lanes) await notifyWorkers(tx, lane);
}

/** Wakes the workers once the transaction commits: a lane to deliver, or `webhook:<id>` for all of a webhook's. */
const notify: Statement = { name: 'webhook_events.notify', text: 'SELECT 1 AS notified FROM pg_notify($1, $2)' };

export async function notifyWorkers(tx: AnyTx, message: string): Promise<void> {
  await run(tx, notify, [webhookChannel, message]);
}
