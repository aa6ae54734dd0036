// Found by `npm run soak`: a partial refund whose answer was a 503 (the database connection
// was cut after Stripe had refunded) refunded again when the client retried it with the
// same Idempotency-Key, because by then the webhook had recorded the first refund and
// nothing tied it to the retried request.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { api, startTestContext, type TestContext } from '../support/context.ts';
import { confirm, payableOrder, trigger } from '../support/payments.ts';

let context: TestContext;
let observer: pg.Client;
const applicationName = `refund-retry-${process.pid}-${Date.now()}`;

beforeAll(async () => {
  const url = new URL(inject('databaseUrl'));
  url.searchParams.set('application_name', applicationName);
  context = await startTestContext({ databaseUrl: url.toString() });
  observer = new pg.Client({ connectionString: inject('databaseUrl') });
  await observer.connect();
});
afterAll(async () => {
  await observer?.end();
  await context?.close();
});

/** The app's connection waiting for a lock on a statement like `pattern` (asked outside a transaction, whose snapshot would be stale). */
async function lockWaiter(pattern: string): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt += 1) {
    const { rows } = await observer.query<{ pid: number }>(
      `SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock' AND query ILIKE $2`,
      [applicationName, pattern],
    );
    if (rows[0]) return rows[0].pid;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`no connection of the app waits on ${pattern}`);
}

it('a partial refund retried with the same Idempotency-Key after a 503 refunds once', async () => {
  const order = await payableOrder(context);
  await confirm(order);
  expect((await trigger(context, order.orderId, { _place: true })).status).toBe(200);
  expect((await trigger(context, order.orderId, { _capture: true })).status).toBe(200);
  const key = `refund-${randomBytes(6).toString('hex')}`;
  const refund = () =>
    api(context)
      .patch(`/api/orders/${order.orderId}`, { data: { type: 'orders', id: order.orderId, attributes: { _refund: true, _refund_amount_cents: 1_000 } } })
      .set('Idempotency-Key', key);

  // Stripe refunds, and answers late; meanwhile the order is locked, so that recording the
  // refund waits, and that connection is cut. The webhook waits until then.
  context.standin.holdWebhooks();
  context.standin.injectFaults({ kind: 'delay', ms: 1_500, times: 1, match: { method: 'POST', pathPrefix: '/v1/refunds' } });
  const pending = refund().then((response) => response);
  await expect.poll(() => context.standin.requestLog().some((entry) => entry.method === 'POST' && entry.path === '/v1/refunds'), { interval: 20 }).toBe(true);
  const holder = new pg.Client({ connectionString: inject('databaseUrl') });
  await holder.connect();
  try {
    await holder.query('BEGIN');
    await holder.query('SELECT id FROM orders WHERE id = $1 FOR UPDATE', [order.orderId]);
    await observer.query('SELECT pg_terminate_backend($1)', [await lockWaiter('%FROM orders%FOR UPDATE%')]);
    const failed = await pending;
    expect(failed.status).toBe(503);
    await holder.query('ROLLBACK');
  } finally {
    await holder.end();
  }
  // The webhook records the refund before the client retries.
  context.standin.releaseWebhooks();
  await context.standin.webhooksIdle();
  expect(await context.db.transaction.count({ where: { orderId: order.orderId, kind: 'refunds', state: 'recorded', succeeded: true } })).toBe(1);

  const retried = await refund();
  expect(retried.status).toBe(200);
  expect(retried.body.data.attributes.payment_status).toBe('partially_refunded');
  const refunds = await order.stripe.refunds.list({ payment_intent: order.paymentIntentId });
  expect(refunds.data.map((r) => r.amount)).toEqual([1_000]);
  expect(await context.db.transaction.count({ where: { orderId: order.orderId, kind: 'refunds' } })).toBe(1);
}, 30_000);

it('a partial refund retried with the same Idempotency-Key before its outcome is recorded completes it', async () => {
  const order = await payableOrder(context);
  await confirm(order);
  expect((await trigger(context, order.orderId, { _place: true })).status).toBe(200);
  expect((await trigger(context, order.orderId, { _capture: true })).status).toBe(200);
  const key = `refund-${randomBytes(6).toString('hex')}`;
  const refund = () =>
    api(context)
      .patch(`/api/orders/${order.orderId}`, { data: { type: 'orders', id: order.orderId, attributes: { _refund: true, _refund_amount_cents: 700 } } })
      .set('Idempotency-Key', key);

  // As above, but the webhook is kept back: the retry finds its own refund still reserved.
  const refundCalls = () => context.standin.requestLog().filter((entry) => entry.method === 'POST' && entry.path === '/v1/refunds').length;
  const before = refundCalls();
  context.standin.holdWebhooks();
  context.standin.injectFaults({ kind: 'delay', ms: 1_500, times: 1, match: { method: 'POST', pathPrefix: '/v1/refunds' } });
  const pending = refund().then((response) => response);
  await expect.poll(refundCalls, { interval: 20 }).toBeGreaterThan(before);
  const holder = new pg.Client({ connectionString: inject('databaseUrl') });
  await holder.connect();
  try {
    await holder.query('BEGIN');
    await holder.query('SELECT id FROM orders WHERE id = $1 FOR UPDATE', [order.orderId]);
    await observer.query('SELECT pg_terminate_backend($1)', [await lockWaiter('%FROM orders%FOR UPDATE%')]);
    expect((await pending).status).toBe(503);
    await holder.query('ROLLBACK');
  } finally {
    await holder.end();
  }

  const retried = await refund();
  context.standin.releaseWebhooks();
  await context.standin.webhooksIdle();
  expect(retried.status).toBe(200);
  expect(retried.body.data.attributes.payment_status).toBe('partially_refunded');
  const refunds = await order.stripe.refunds.list({ payment_intent: order.paymentIntentId });
  expect(refunds.data.map((r) => r.amount)).toEqual([700]);
}, 30_000);
