// A create whose COMMIT outcome its server never learns (the connection cut after the
// COMMIT reached the database), retried with the same Idempotency-Key on another instance
// of the same deployment: the key was recorded in the create's own transaction, so the
// retry answers with the committed record instead of creating a second one.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCheckout, jsonApi, startTestContext, type TestContext } from '../support/context.ts';
import { startCuttingProxy, type CuttingProxy } from '../support/cutting-proxy.ts';
import { testDatabaseUrl } from '../support/test-database-url.ts';

let proxy: CuttingProxy;
// Two instances on one database: `first` reaches it through the proxy.
let first: TestContext;
let second: TestContext;

beforeAll(async () => {
  proxy = await startCuttingProxy(testDatabaseUrl());
  // A key is deemed lost with its instance after 3 s without a refresh (15 s by default).
  first = await startTestContext({ databaseUrl: proxy.urlOf(testDatabaseUrl()), idempotencyAbandonedAfterSeconds: 3, stripe: { timeoutMs: 15_000 } });
  second = await startTestContext({ idempotencyAbandonedAfterSeconds: 3 });
});
afterAll(async () => {
  await first?.close();
  await second?.close();
  await proxy?.close();
});

function lineItem(orderId: string) {
  return {
    data: {
      type: 'line_items',
      attributes: { sku_code: 'LOST', name: 'Lost answer', quantity: 1, unit_amount_cents: 700 },
      relationships: { order: { data: { type: 'orders', id: orderId } } },
    },
  };
}

/** POST with the first instance's token (instances share signing keys) on either instance. */
function post(on: TestContext, url: string, body: unknown, key: string) {
  return on.http
    .post(url)
    .set('Accept', jsonApi)
    .set('Authorization', `Bearer ${first.token}`)
    .set('Content-Type', jsonApi)
    .set('Idempotency-Key', key)
    .send(JSON.stringify(body));
}

/** Retries while the key is reported in progress, as a client does, for at most `ms`. */
async function retryWhileInProgress(send: () => ReturnType<typeof post>, ms: number) {
  const deadline = Date.now() + ms;
  for (;;) {
    const response = await send();
    if (response.status !== 409 || Date.now() > deadline) return response;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

describe('Idempotency-Key recorded with the write', { timeout: 30_000 }, () => {
  it('answers a retry on another instance with the record whose COMMIT answer was lost, and creates it once', async () => {
    const { orderId } = await createCheckout(first);
    const before = await first.db.lineItem.count({ where: { orderId } });
    const key = `commit-${randomBytes(6).toString('hex')}`;

    const cut = proxy.cutAnswer(/INSERT INTO "public"\."line_items"/, /COMMIT/);
    const lost = await post(first, '/api/line_items', lineItem(orderId), key);
    await cut;
    // The server cannot know the outcome; the database committed.
    expect(lost.status).toBe(503);
    const stored = await first.db.lineItem.findMany({ where: { orderId, skuCode: 'LOST' } });
    expect(stored).toHaveLength(1);

    const retried = await retryWhileInProgress(() => post(second, '/api/line_items', lineItem(orderId), key), 10_000);
    expect(retried.status).toBe(201);
    expect(retried.headers['idempotent-replayed']).toBe('true');
    expect(retried.body.data.id).toBe(stored[0]!.id);
    expect(retried.headers.location).toMatch(new RegExp(`/api/line_items/${stored[0]!.id}$`));
    expect(await first.db.lineItem.count({ where: { orderId } })).toBe(before + 1);

    // The rebuilt answer is now the key's answer, replayed as such.
    const again = await post(first, '/api/line_items', lineItem(orderId), key);
    expect(again.status).toBe(201);
    expect(again.body.data.id).toBe(stored[0]!.id);
  });

  it('answers from the committed record when the instance that created it died before storing its answer', async () => {
    const key = `died-${randomBytes(6).toString('hex')}`;
    const order = { data: { type: 'orders', attributes: { currency_code: 'EUR' } } };
    const created = await post(first, '/api/orders', order, key);
    expect(created.status).toBe(201);
    // As its instance left it when killed after the COMMIT: committed in the write's
    // transaction, no answer stored, and not touched for longer than a running request is.
    const record = await first.db.idempotencyKey.findFirstOrThrow({ where: { key } });
    expect(record.recordId).toBe(created.body.data.id);
    await first.db.$executeRaw`UPDATE idempotency_keys SET state = 'committed', response_status = NULL, response_body = NULL, updated_at = now() - interval '2 minutes' WHERE id = ${record.id}`;

    const retried = await post(second, '/api/orders', order, key);
    expect(retried.status).toBe(201);
    expect(retried.headers['idempotent-replayed']).toBe('true');
    expect(retried.body.data.id).toBe(created.body.data.id);
    expect(await first.db.order.count({ where: { id: created.body.data.id } })).toBe(1);
  });

  it('lets another instance take a key its instance stopped refreshing (killed mid-request), before any write committed', async () => {
    const key = `lost-${randomBytes(6).toString('hex')}`;
    const order = { data: { type: 'orders', attributes: { currency_code: 'EUR' } } };
    const created = await post(first, '/api/orders', order, key);
    // As a request left it when its instance died before its create committed, a while ago.
    await first.db.$executeRaw`UPDATE idempotency_keys SET state = 'in_progress', record_id = NULL, response_status = NULL, response_body = NULL, updated_at = now() - interval '5 seconds' WHERE key = ${key}`;
    const retried = await post(second, '/api/orders', order, key);
    expect(retried.status).toBe(201);
    expect(retried.headers['idempotent-replayed']).toBeUndefined();
    expect(retried.body.data.id).not.toBe(created.body.data.id);
  });

  it('keeps the key of a request running longer than that on its instance held for the others', async () => {
    const { orderId } = await createCheckout(first);
    const key = `held-${randomBytes(6).toString('hex')}`;
    const payment = { data: { type: 'stripe_payments', relationships: { order: { data: { type: 'orders', id: orderId } } } } };
    first.standin.injectFaults({ kind: 'delay', ms: 7_000, times: 1, match: { method: 'POST', pathPrefix: '/v1/payment_intents' } });
    const slow = post(first, '/api/stripe_payments', payment, key).then((response) => response);
    await expect.poll(() => first.db.idempotencyKey.count({ where: { key } }), { timeout: 5_000 }).toBe(1);
    // Past the 3 s after which an unrefreshed key is free: its instance refreshes it while it runs.
    await new Promise((resolve) => setTimeout(resolve, 4_500));
    const meanwhile = await post(second, '/api/stripe_payments', payment, key);
    expect(meanwhile.status).toBe(409);
    expect(meanwhile.body.errors[0].source).toEqual({ header: 'Idempotency-Key' });
    expect((await slow).status).toBe(201);
    first.standin.clearFaults();
  });
});
