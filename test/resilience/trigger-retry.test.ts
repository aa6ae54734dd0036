// Found by `npm run soak`: order triggers whose answer was a 5xx although they had acted
// (the database connection was cut after the fact), retried with the same
// Idempotency-Key. A partial refund refunded again, because by then the webhook had
// recorded the first refund and nothing tied it to the retried request; a `_place` was
// refused as "order is placed".
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { applyMigrations } from '../../src/db/migrations.ts';
import { createTestDatabase } from '../../src/db/test-database.ts';
import { api, startTestContext, type TestContext } from '../support/context.ts';
import { confirm, payableOrder, trigger } from '../support/payments.ts';
import { testDatabaseUrl } from '../support/test-database-url.ts';

let context: TestContext;
let observer: pg.Client;
const applicationName = `refund-retry-${process.pid}-${Date.now()}`;

beforeAll(async () => {
  const url = new URL(testDatabaseUrl());
  url.searchParams.set('application_name', applicationName);
  context = await startTestContext({ databaseUrl: url.toString() });
  observer = new pg.Client({ connectionString: testDatabaseUrl() });
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

/** A paid and captured order, and its partial refund request with one Idempotency-Key, to send as often as a client retries. */
/** Holds the order's row until the request waiting for it has had its connection cut; its answer. */
async function cutWhileWaitingForOrder<T>(orderId: string, pending: Promise<T>): Promise<T> {
  const holder = new pg.Client({ connectionString: testDatabaseUrl() });
  await holder.connect();
  try {
    await holder.query('BEGIN');
    await holder.query('SELECT id FROM orders WHERE id = $1 FOR UPDATE', [orderId]);
    await observer.query('SELECT pg_terminate_backend($1)', [await lockWaiter('%FROM orders%FOR %UPDATE%')]);
    const answer = await pending;
    await holder.query('ROLLBACK');
    return answer;
  } finally {
    await holder.end();
  }
}

async function capturedOrder(refundCents: number) {
  const order = await payableOrder(context);
  await confirm(order);
  expect((await trigger(context, order.orderId, { _place: true })).status).toBe(200);
  expect((await trigger(context, order.orderId, { _capture: true })).status).toBe(200);
  const key = `refund-${randomBytes(6).toString('hex')}`;
  const refund = () =>
    api(context)
      .patch(`/api/orders/${order.orderId}`, { data: { type: 'orders', id: order.orderId, attributes: { _refund: true, _refund_amount_cents: refundCents } } })
      .set('Idempotency-Key', key);
  return { order, refund };
}

it('a partial refund retried with the same Idempotency-Key after a 503 refunds once', async () => {
  const { order, refund } = await capturedOrder(1_000);

  // Stripe refunds, and answers late; meanwhile the order is locked, so that recording the
  // refund waits, and that connection is cut. The webhook waits until then.
  context.standin.holdWebhooks();
  context.standin.injectFaults({ kind: 'delay', ms: 1_500, times: 1, match: { method: 'POST', pathPrefix: '/v1/refunds' } });
  const pending = refund().then((response) => response);
  await expect.poll(() => context.standin.requestLog().some((entry) => entry.method === 'POST' && entry.path === '/v1/refunds'), { interval: 20 }).toBe(true);
  expect((await cutWhileWaitingForOrder(order.orderId, pending)).status).toBe(503);
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
  const { order, refund } = await capturedOrder(700);

  // As above, but the webhook is kept back: the retry finds its own refund still reserved.
  const refundCalls = () => context.standin.requestLog().filter((entry) => entry.method === 'POST' && entry.path === '/v1/refunds').length;
  const before = refundCalls();
  context.standin.holdWebhooks();
  context.standin.injectFaults({ kind: 'delay', ms: 1_500, times: 1, match: { method: 'POST', pathPrefix: '/v1/refunds' } });
  const pending = refund().then((response) => response);
  await expect.poll(refundCalls, { interval: 20 }).toBeGreaterThan(before);
  expect((await cutWhileWaitingForOrder(order.orderId, pending)).status).toBe(503);

  const retried = await refund();
  context.standin.releaseWebhooks();
  await context.standin.webhooksIdle();
  expect(retried.status).toBe(200);
  expect(retried.body.data.attributes.payment_status).toBe('partially_refunded');
  const refunds = await order.stripe.refunds.list({ payment_intent: order.paymentIntentId });
  expect(refunds.data.map((r) => r.amount)).toEqual([700]);
}, 30_000);

it('a _place retried with the same Idempotency-Key after a 503 answers the placed order', async () => {
  // A database of its own: the test locks a whole table, which other test files must not meet.
  const own = await createTestDatabase(inject('databaseAdminUrl'));
  const root = path.resolve(import.meta.dirname, '..', '..');
  await applyMigrations(own.databaseUrl, { migrationsDir: path.join(root, 'prisma', 'migrations'), schemaPath: path.join(root, 'prisma', 'schema.prisma') });
  const name = `place-retry-${process.pid}-${Date.now()}`;
  const url = new URL(own.databaseUrl);
  url.searchParams.set('application_name', name);
  const placing = await startTestContext({ databaseUrl: url.toString() });
  const holder = new pg.Client({ connectionString: own.databaseUrl });
  try {
    const order = await payableOrder(placing);
    await confirm(order);
    const key = `place-${randomBytes(6).toString('hex')}`;
    // The answer includes the line items: reading them is what fails, after the order is placed.
    const place = () =>
      api(placing)
        .patch(`/api/orders/${order.orderId}?include=line_items`, { data: { type: 'orders', id: order.orderId, attributes: { _place: true } } })
        .set('Idempotency-Key', key);
    await holder.connect();
    await holder.query('BEGIN');
    await holder.query('LOCK TABLE line_items IN ACCESS EXCLUSIVE MODE');
    const pending = place().then((response) => response);
    let pid: number | undefined;
    for (let attempt = 0; attempt < 200 && pid === undefined; attempt += 1) {
      const { rows } = await observer.query<{ pid: number }>(
        `SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock' AND query ILIKE '%line_items%'`,
        [name],
      );
      pid = rows[0]?.pid;
      if (pid === undefined) await new Promise((resolve) => setTimeout(resolve, 25));
    }
    await observer.query('SELECT pg_terminate_backend($1)', [pid]);
    expect((await pending).status).toBe(503);
    await holder.query('ROLLBACK');
    expect((await placing.db.order.findUniqueOrThrow({ where: { id: order.orderId } })).status).toBe('placed');

    const retried = await place();
    expect(retried.status).toBe(200);
    expect(retried.body.data.attributes.status).toBe('placed');
    expect(retried.body.data.attributes.payment_status).toBe('authorized');
  } finally {
    await holder.end().catch(() => {});
    await placing.close();
    await own.drop();
  }
}, 60_000);
