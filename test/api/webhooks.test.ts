import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { webhookTopics } from '../../src/webhooks/topics.ts';
import { api, createCheckout, startTestContext, type TestContext } from '../support/context.ts';
import { confirm, getOrder, payableOrder, trigger } from '../support/payments.ts';
import { startReceiver, type ReceivedEvent, type Receiver } from '../support/receiver.ts';

let context: TestContext;
let receiver: Receiver;
const created: string[] = [];

beforeAll(async () => {
  context = await startTestContext();
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
  receiver.register(path, topic, response.body.data.attributes.shared_secret);
  return response.body.data as { id: string; attributes: Record<string, unknown> };
}

/** The events the receiver got about `ids`, topic and record. */
const about = (ids: readonly string[], path?: string) =>
  receiver.received.filter((event) => ids.includes(event.body.data.id) && (path === undefined || event.path === path)).map((event) => ({ topic: event.topic, id: event.body.data.id, event }));

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
    // The attempt is recorded once the answer came back, just after the receiver saw the request.
    const callbacks = () => api(context).get(`/api/event_callbacks?filter[q][callback_url_eq]=${encodeURIComponent(receiver.url('/created'))}`);
    await expect.poll(async () => (await callbacks()).body.data.length, { timeout: 10_000 }).toBe(1);
    expect((await callbacks()).body.data[0].attributes).toMatchObject({ response_code: '200' });
  });
});

/** Every topic, one webhook each, on one callback URL path; the transactions' payloads include their order. */
async function subscribeAll(path: string) {
  for (const topic of webhookTopics) await createWebhook(topic, path, topic.startsWith('orders.') || topic.startsWith('customers.') ? {} : { include_resources: ['order'] });
}

/** The storefront's journey: an order, a stripe payment, confirmed at the stand-in, placed, captured, refunded. */
async function journey() {
  const order = await payableOrder(context);
  const confirmed = await confirm(order);
  expect('status' in confirmed && confirmed.status).toBe('requires_capture');
  expect((await trigger(context, order.orderId, { _place: true })).status).toBe(200);
  expect((await trigger(context, order.orderId, { _capture: true })).status).toBe(200);
  expect((await trigger(context, order.orderId, { _refund: true })).status).toBe(200);
  await context.standin.webhooksIdle();
  const read = await getOrder(context, order.orderId, '?include=authorizations,captures,refunds,voids');
  const transactions = (read.included ?? []).map((resource) => resource.id);
  return { orderId: order.orderId, ids: [order.orderId, ...transactions] };
}

/** The received events of a journey, as "topic" per record, in the order received. */
function topicsByRecord(ids: readonly string[], path?: string) {
  const byRecord = new Map<string, string[]>();
  for (const { topic, id } of about(ids, path)) byRecord.set(id, [...(byRecord.get(id) ?? []), topic]);
  return byRecord;
}

const expectedOrderTopics = ['orders.create', 'orders.authorize', 'orders.place', 'orders.pay', 'orders.refund'];

describe('the storefront journey', () => {
  it('produces exactly the expected topics, in order, each signed', { timeout: 60_000 }, async () => {
    await removeWebhooks();
    await subscribeAll('/journey');
    const { orderId, ids } = await journey();
    await expect.poll(() => about(ids, '/journey').length, { timeout: 30_000 }).toBe(expectedOrderTopics.length + 3);
    const byRecord = topicsByRecord(ids, '/journey');
    expect(byRecord.get(orderId)).toEqual(expectedOrderTopics);
    expect([...byRecord.entries()].filter(([id]) => id !== orderId).map(([, topics]) => topics).sort()).toEqual([['authorizations.create'], ['captures.create'], ['refunds.create']]);
    expect(about(ids, '/journey').every(({ event }) => event.signatureValid)).toBe(true);
    // Each rendered when it happened: the order as it was at each step.
    const statuses = about([orderId], '/journey').map(({ event }) => [event.body.data.attributes.status, event.body.data.attributes.payment_status]);
    expect(statuses).toEqual([
      ['draft', 'unpaid'],
      expect.any(Array),
      ['placed', 'authorized'],
      ['placed', 'paid'],
      ['placed', 'refunded'],
    ]);
    const capture = about(ids, '/journey').find(({ topic }) => topic === 'captures.create')!.event;
    expect(capture.body.included).toEqual([expect.objectContaining({ type: 'orders', id: orderId })]);
  });
});

describe('orders approved and deleted', () => {
  it('fire orders.approve on _approve and _approve_and_capture, and orders.destroy on the DELETE of a draft order', { timeout: 60_000 }, async () => {
    await removeWebhooks();
    await createWebhook('orders.approve', '/approved');
    await createWebhook('orders.destroy', '/destroyed', { include_resources: ['line_items'] });
    const placed = async () => {
      const order = await payableOrder(context);
      const confirmed = await confirm(order);
      expect('status' in confirmed && confirmed.status).toBe('requires_capture');
      expect((await trigger(context, order.orderId, { _place: true })).status).toBe(200);
      return order.orderId;
    };
    const approved = await placed();
    expect((await trigger(context, approved, { _approve: true })).status).toBe(200);
    const captured = await placed();
    expect((await trigger(context, captured, { _approve_and_capture: true })).status).toBe(200);
    const draft = await createCheckout(context);
    expect((await api(context).delete(`/api/orders/${draft.orderId}`)).status).toBe(204);

    await expect.poll(() => about([approved, captured], '/approved').length, { timeout: 20_000 }).toBe(2);
    for (const { topic, event } of about([approved, captured], '/approved')) {
      expect(topic).toBe('orders.approve');
      expect(event.signatureValid).toBe(true);
      expect(event.body.data.attributes.status).toBe('approved');
    }
    await expect.poll(() => about([draft.orderId], '/destroyed').length, { timeout: 20_000 }).toBe(1);
    const destroyed = about([draft.orderId], '/destroyed')[0]!;
    expect(destroyed.topic).toBe('orders.destroy');
    expect(destroyed.event.signatureValid).toBe(true);
    // The order as it was when deleted, with the line items that went with it.
    expect(destroyed.event.body.data).toMatchObject({ type: 'orders', id: draft.orderId, attributes: { status: 'draft' } });
    expect(destroyed.event.body.included?.map((resource: { type: string }) => resource.type)).toEqual(['line_items']);
    // Only the deleted order was sent to the destroy webhook, and no approval to it.
    expect(about([approved, captured], '/destroyed')).toEqual([]);
  });
});

/** Deletes the webhooks made so far: later tests count only their own deliveries and failures. */
async function removeWebhooks() {
  for (const id of created.splice(0)) expect((await api(context).delete(`/api/webhooks/${id}`)).status).toBe(204);
}

const callbacksTo = (path: string) => context.db.eventCallback.findMany({ where: { callbackUrl: receiver.url(path) }, orderBy: { createdAt: 'asc' } });

describe('when the receiver is down for a while', () => {
  it('it sees every event once it is back, in order per record', { timeout: 120_000 }, async () => {
    await removeWebhooks();
    await subscribeAll('/outage');
    await receiver.down();
    const journeys = [await journey(), await journey()];
    const ids = journeys.flatMap((run) => run.ids);
    // Failed attempts are recorded, with no answer; nothing arrived.
    await expect.poll(async () => (await callbacksTo('/outage')).filter((callback) => callback.responseCode === null).length, { timeout: 30_000 }).toBeGreaterThanOrEqual(10);
    expect(about(ids, '/outage')).toEqual([]);
    await receiver.up();
    await expect.poll(() => about(ids, '/outage').length, { timeout: 60_000 }).toBe(2 * (expectedOrderTopics.length + 3));
    for (const run of journeys) {
      const byRecord = topicsByRecord(run.ids, '/outage');
      expect(byRecord.get(run.orderId)).toEqual(expectedOrderTopics);
    }
    // Each event once here (no crash between an answer and its record), all signed.
    const deliveries = about(ids, '/outage').map(({ event }) => event.deliveryId);
    expect(new Set(deliveries).size).toBe(deliveries.length);
    expect(about(ids, '/outage').every(({ event }) => event.signatureValid)).toBe(true);
  });
});

describe('the circuit breaker', () => {
  it('opens after 30 consecutive failures, sends nothing while open, and resets', { timeout: 120_000 }, async () => {
    await removeWebhooks();
    const webhook = await createWebhook('orders.create', '/failing');
    receiver.answer(() => 500);
    const orders = [await createCheckout(context), await createCheckout(context), await createCheckout(context)].map((checkout) => checkout.orderId);
    await expect.poll(async () => (await context.db.webhook.findUniqueOrThrow({ where: { id: webhook.id } })).circuitState, { timeout: 90_000 }).toBe('open');
    const read = await api(context).get(`/api/webhooks/${webhook.id}?include=last_event_callbacks`);
    expect(read.body.data.attributes).toMatchObject({ circuit_state: 'open', circuit_failure_count: 30 });
    const failures = await callbacksTo('/failing');
    expect(failures).toHaveLength(30);
    expect(failures.every((callback) => callback.responseCode === '500')).toBe(true);
    // 30 attempts over the three events, whose lanes take turns; an event still pending waits for the reset.
    const events = await context.db.webhookEvent.findMany({ where: { webhookId: webhook.id }, orderBy: { seq: 'asc' } });
    expect(events.reduce((sum, event) => sum + event.attempts, 0)).toBe(30);
    const waiting = events.filter((event) => event.status === 'pending').map((event) => event.resourceId);
    expect(events.filter((event) => event.status === 'failed').every((event) => event.attempts === 11)).toBe(true);
    // While open, a new event is recorded and held.
    const held = (await createCheckout(context)).orderId;
    expect(await context.db.webhookEvent.count({ where: { webhookId: webhook.id, resourceId: held, status: 'pending' } })).toBe(1);

    // As a long backoff leaves them (the test run retries after 10 ms): the reset must send them now all the same.
    await context.db.webhookEvent.updateMany({ where: { webhookId: webhook.id, status: 'pending' }, data: { nextAttemptAt: new Date(Date.now() + 3_600_000) } });
    receiver.answer(() => 200);
    const reset = await api(context).patch(`/api/webhooks/${webhook.id}`, { data: { type: 'webhooks', id: webhook.id, attributes: { _reset_circuit: true } } });
    expect(reset.status, reset.text).toBe(200);
    expect(reset.body.data.attributes).toMatchObject({ circuit_state: 'closed', circuit_failure_count: 0 });
    await expect.poll(() => about([...waiting, held], '/failing').length, { timeout: 30_000 }).toBe(waiting.length + 1);
    expect(about(orders.filter((id) => !waiting.includes(id)), '/failing')).toEqual([]);
    await expect.poll(async () => (await callbacksTo('/failing')).length, { timeout: 10_000 }).toBe(30 + waiting.length + 1);
  });
});

describe('behind a proxy', () => {
  it('links payloads to PUBLIC_URL when it is set', { timeout: 60_000 }, async () => {
    await removeWebhooks();
    const proxied = await startTestContext({ publicUrl: new URL('https://shop.example.com/payments/') });
    try {
      const response = await api(proxied).post('/api/webhooks', {
        data: { type: 'webhooks', attributes: { topic: 'orders.create', callback_url: receiver.url('/public'), include_resources: ['line_items'] } },
      });
      expect(response.status, response.text).toBe(201);
      created.push(response.body.data.id);
      receiver.register('/public', 'orders.create', response.body.data.attributes.shared_secret);
      const checkout = await createCheckout(proxied);
      await expect.poll(() => about([checkout.orderId], '/public').length, { timeout: 20_000 }).toBe(1);
      const { event } = about([checkout.orderId], '/public')[0]!;
      const links = (event.body.data as { links?: { self?: string } }).links;
      expect(links?.self).toBe(`https://shop.example.com/payments/api/orders/${checkout.orderId}`);
    } finally {
      await proxied.close();
    }
  });
});
