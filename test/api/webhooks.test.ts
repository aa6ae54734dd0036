import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { webhookTopics } from '../../src/webhooks/topics.ts';
import { api, createCheckout, startTestContext, type TestContext } from '../support/context.ts';
import { confirm, getOrder, payableOrder, trigger } from '../support/payments.ts';
import { startReceiver, type ReceivedEvent, type Receiver } from '../support/receiver.ts';

let context: TestContext;
let receiver: Receiver;
const created: string[] = [];

beforeAll(async () => {
  context = await startTestContext({}, { webhookDelivery: { retryBaseMs: 200 } });
  receiver = await startReceiver();
});
afterAll(async () => {
  // Other test files share the database: their writes must not keep rendering payloads for these.
  for (const id of created) await api(context).delete(`/api/webhooks/${id}`);
  await context?.close();
  await receiver?.down();
});

async function createWebhook(topic: string, path: string, attributes: Record<string, unknown> = {}) {
  const response = await api(context).post('/api/webhooks', {
    data: { type: 'webhooks', attributes: { topic, callback_url: receiver.url(path), ...attributes } },
  });
  expect(response.status, response.text).toBe(201);
  created.push(response.body.data.id);
  receiver.register(path, response.body.data.attributes.shared_secret);
  return response.body.data as { id: string; attributes: Record<string, unknown> };
}

/** The events the receiver got about `ids`, topic and record. */
const about = (ids: readonly string[]) =>
  receiver.received.filter((event) => ids.includes(event.body.data.id)).map((event) => ({ topic: event.topic, id: event.body.data.id, event }));

describe('webhooks, the resource', () => {
  it('creates a webhook whose shared secret is shown on create only and stored sealed', async () => {
    const webhook = await createWebhook('orders.place', '/resource');
    const secret = webhook.attributes.shared_secret as string;
    expect(secret).toMatch(/^[A-Za-z0-9_-]{32,}$/);
    expect(webhook.attributes).toMatchObject({ topic: 'orders.place', circuit_state: 'closed', circuit_failure_count: 0, include_resources: [], disabled_at: null });
    const read = await api(context).get(`/api/webhooks/${webhook.id}`);
    expect(read.status).toBe(200);
    expect(read.body.data.attributes.shared_secret).toBeNull();
    const row = await context.db.webhook.findUniqueOrThrow({ where: { id: webhook.id } });
    expect(row.sharedSecretEncrypted).not.toContain(secret);
    expect(JSON.stringify(row)).not.toContain(secret);

    const regenerated = await api(context).patch(`/api/webhooks/${webhook.id}`, { data: { type: 'webhooks', id: webhook.id, attributes: { _regenerate_shared_secret: true } } });
    expect(regenerated.status, regenerated.text).toBe(200);
    const renewed = regenerated.body.data.attributes.shared_secret as string;
    expect(renewed).toMatch(/^[A-Za-z0-9_-]{32,}$/);
    expect(renewed).not.toBe(secret);
    expect((await api(context).get(`/api/webhooks/${webhook.id}`)).body.data.attributes.shared_secret).toBeNull();
  });

  it('answers 422 for an unknown topic, a bad include and a callback URL the rule refuses', async () => {
    const attempt = (attributes: Record<string, unknown>) => api(context).post('/api/webhooks', { data: { type: 'webhooks', attributes: { topic: 'orders.place', callback_url: 'https://example.com/hook', ...attributes } } });
    const unknown = await attempt({ topic: 'orders.explode' });
    expect(unknown.status).toBe(422);
    expect(unknown.body.errors[0].source.pointer).toBe('/data/attributes/topic');
    const include = await attempt({ include_resources: ['gateway'] });
    expect(include.status).toBe(422);
    expect(include.body.errors[0].source.pointer).toBe('/data/attributes/include_resources');
    for (const url of [
      'ftp://example.com/hook',
      'http://example.com/hook',
      'https://169.254.169.254/latest/meta-data',
      'https://[::ffff:169.254.169.254]/',
      'https://10.1.2.3/hook',
      'https://192.168.0.10/hook',
      'https://metadata.google.internal/computeMetadata/v1/',
      'https://user:password@example.com/hook',
      'not a url',
    ]) {
      const refused = await attempt({ callback_url: url });
      expect(refused.status, url).toBe(422);
      expect(refused.body.errors[0].source.pointer, url).toBe('/data/attributes/callback_url');
    }
  });

  it('lists webhooks with the query language and is for integrations only', async () => {
    const webhook = await createWebhook('customers.create', '/listed', { name: 'crm' });
    const listed = await api(context).get(`/api/webhooks?filter[q][name_eq]=crm&fields[webhooks]=name,topic`);
    expect(listed.status).toBe(200);
    expect(listed.body.data.map((row: { id: string }) => row.id)).toContain(webhook.id);
    expect(Object.keys(listed.body.data[0].attributes).sort()).toEqual(['name', 'topic']);
    expect(webhookTopics).toContain('customers.create');
  });
});

describe('deliveries', () => {
  it('POST the order as GET returns it with include_resources, signed with the shared secret', async () => {
    await createWebhook('orders.create', '/created', { include_resources: ['line_items'] });
    const checkout = await createCheckout(context);
    await expect.poll(() => about([checkout.orderId]).length, { timeout: 20_000 }).toBe(1);
    const event = about([checkout.orderId])[0]?.event;
    expect(event!.topic).toBe('orders.create');
    expect(event!.signatureValid).toBe(true);
    expect(event!.deliveryId).toMatch(/\w+/);
    // Rendered when the order was created: before its line items were added.
    expect(event!.body.data).toMatchObject({ type: 'orders', id: checkout.orderId, attributes: { status: 'draft' } });
    const callbacks = await api(context).get(`/api/event_callbacks?filter[q][callback_url_eq]=${encodeURIComponent(receiver.url('/created'))}`);
    expect(callbacks.status).toBe(200);
    expect(callbacks.body.data[0].attributes).toMatchObject({ response_code: '200' });
  });
});
