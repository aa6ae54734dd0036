import type { Change } from '../changes.ts';

/**
 * The topics a webhook may subscribe to: Commerce Layer's (docs/real-time-webhooks.md) for
 * what this server does. Stripe payments have none: Commerce Layer's schema gives
 * `stripe_payments` no events. Any other topic is a 422.
 */
export const webhookTopics = [
  'orders.create',
  'orders.place',
  'orders.approve',
  'orders.cancel',
  'orders.authorize',
  'orders.void',
  'orders.pay',
  'orders.refund',
  'orders.destroy',
  'authorizations.create',
  'captures.create',
  'refunds.create',
  'voids.create',
  'customers.create',
] as const;

export type WebhookTopic = (typeof webhookTopics)[number];

/** The resource type a topic's payload is: `orders.place` → `orders`. */
export function resourceOfTopic(topic: string): string {
  return topic.slice(0, topic.indexOf('.'));
}

// Commerce Layer's order events follow the status and payment status a change sets.
const statusTopics: Record<string, WebhookTopic> = { placed: 'orders.place', approved: 'orders.approve', cancelled: 'orders.cancel' };
const paymentStatusTopics: Record<string, WebhookTopic> = { authorized: 'orders.authorize', voided: 'orders.void', paid: 'orders.pay', refunded: 'orders.refund' };

/**
 * The topics a described change fires, in the order a receiver should see them. A topic
 * whose record the API does not show yet (a transaction still reserved) sends nothing:
 * src/webhooks/outbox.ts renders no payload for it.
 */
export function topicsOf(change: Change): WebhookTopic[] {
  const topics: WebhookTopic[] = [];
  if (change.event === 'create' || change.event === `${change.type}.create`) {
    const topic = `${change.type}.create`;
    if ((webhookTopics as readonly string[]).includes(topic)) topics.push(topic as WebhookTopic);
  }
  // A transaction is shown once Stripe's answer is recorded (a reservation is not): it is created for the API then.
  const transaction = ['authorizations', 'captures', 'refunds', 'voids'].includes(change.type);
  if (transaction && change.event === 'update' && change.changes?.state?.after === 'recorded') topics.push(`${change.type}.create` as WebhookTopic);
  if (change.event === 'destroy' && change.type === 'orders') topics.push('orders.destroy');
  if (change.type === 'orders' && change.event !== 'create') {
    const status = change.changes?.status?.after;
    if (typeof status === 'string' && statusTopics[status] && change.changes!.status!.before !== status) topics.push(statusTopics[status]);
    const paymentStatus = change.changes?.paymentStatus?.after;
    if (typeof paymentStatus === 'string' && paymentStatusTopics[paymentStatus] && change.changes!.paymentStatus!.before !== paymentStatus) {
      topics.push(paymentStatusTopics[paymentStatus]);
    }
  }
  return topics;
}
