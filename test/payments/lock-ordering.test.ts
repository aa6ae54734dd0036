// Found by `npm run soak`: a webhook applying a PaymentIntent and a capture being reserved
// for the same order deadlocked, and one of them answered 500. The capture holds the order
// and inserts a transaction that references the payment (a foreign key takes a KEY SHARE
// lock on it); the webhook held the payment and waited for the order. Every writer now
// locks the order first, then the payment, each FOR NO KEY UPDATE (src/payments/locks.ts).
// Here each path that locks both runs against a writer holding the order, with that
// interleaving forced.
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createPrismaClient, type PrismaClient } from '../../src/db/client.ts';
import { inTransaction, lockOrder, lockPaymentWithOrder } from '../../src/payments/locks.ts';
import { createTransaction } from '../../src/payments/transactions.ts';
import { api, startTestContext, type TestContext } from '../support/context.ts';
import { confirm, payableOrder, trigger, type PayableOrder } from '../support/payments.ts';
import { testDatabaseUrl } from '../support/test-database-url.ts';

let context: TestContext;
let db: PrismaClient;
let admin: pg.Client;
const suffix = `${process.pid}-${Date.now()}`;
// The app's connections and the test's own, told apart in pg_stat_activity.
const appName = `lock-ordering-app-${suffix}`;
const testName = `lock-ordering-${suffix}`;

const named = (name: string) => {
  const url = new URL(testDatabaseUrl());
  url.searchParams.set('application_name', name);
  return url.toString();
};

beforeAll(async () => {
  context = await startTestContext({ databaseUrl: named(appName) });
  db = createPrismaClient(named(testName), { poolMax: 2 });
  admin = new pg.Client({ connectionString: testDatabaseUrl() });
  await admin.connect();
});
afterAll(async () => {
  await admin?.end();
  await db?.$disconnect();
  await context?.close();
});

/** Whether a connection of `name` waits for an order's row lock. */
async function waitingForOrderLock(name: string): Promise<boolean> {
  const { rows } = await admin.query(
    `SELECT 1 FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock' AND query ILIKE '%FROM orders%FOR %UPDATE%'`,
    [name],
  );
  return rows.length > 0;
}

class RolledBack extends Error {}

/**
 * What every order trigger does first: the order's lock, then (once `waiter` waits for that
 * lock) a reserved transaction naming the payment, whose foreign key takes KEY SHARE on it.
 * Rolled back, so the path it raced runs on the order as it was.
 */
function holdOrderThenReferencePayment(order: PayableOrder, waiter: string, { rollBack }: { rollBack: boolean }) {
  let orderLocked!: () => void;
  const locked = new Promise<void>((resolve) => (orderLocked = resolve));
  const done = db.$transaction(
    async (tx) => {
      const row = (await lockOrder(tx, order.orderId))!;
      orderLocked();
      await expect.poll(() => waitingForOrderLock(waiter), { timeout: 10_000, interval: 20 }).toBe(true);
      const payment = await tx.stripePayment.findUniqueOrThrow({ where: { id: order.paymentId } });
      await createTransaction(tx, { kind: 'captures', order: row, payment, amountCents: payment.amountCents });
      if (rollBack) throw new RolledBack();
    },
    { timeout: 20_000 },
  );
  return { locked, done };
}

const outcome = (settled: PromiseSettledResult<unknown>) =>
  settled.status === 'fulfilled' || settled.reason instanceof RolledBack ? 'completed' : String(settled.reason);

it('a capture reservation and a webhook on the same order both commit instead of deadlocking', async () => {
  const order = await payableOrder(context);
  await confirm(order);
  expect((await trigger(context, order.orderId, { _place: true })).status).toBe(200);

  const capture = holdOrderThenReferencePayment(order, testName, { rollBack: false });
  await capture.locked;
  // What a webhook does: from the payment, its order's lock and then the payment's.
  const webhook = inTransaction(db, (tx) => lockPaymentWithOrder(tx, order.paymentId));

  const [captured, applied] = await Promise.allSettled([capture.done, webhook]);
  expect(outcome(captured)).toBe('completed');
  expect(outcome(applied)).toBe('completed');
}, 30_000);

/** Runs `request` (the app's) while a trigger-like writer holds the order; neither may fail on the other. */
async function racesTheOrdersHolder(order: PayableOrder, request: () => PromiseLike<{ status: number; text: string }>, expected: number) {
  const holder = holdOrderThenReferencePayment(order, appName, { rollBack: true });
  await holder.locked;
  const [held, answered] = await Promise.allSettled([holder.done, Promise.resolve(request())]);
  expect(outcome(held)).toBe('completed');
  expect(answered.status === 'fulfilled' ? `${answered.value.status} ${answered.value.status === expected ? '' : answered.value.text}` : String(answered.reason)).toBe(`${expected} `);
  expect(context.logs.join('')).not.toMatch(/deadlock|40P01/);
}

it('deleting a payment waits for the order it belongs to, then the payment', async () => {
  const order = await payableOrder(context);
  await racesTheOrdersHolder(order, () => api(context).delete(`/api/stripe_payments/${order.paymentId}`), 204);
}, 30_000);

it("moving a payment to another order locks both orders first, the payment's last", async () => {
  const order = await payableOrder(context);
  const client = api(context);
  const other = await client.post('/api/orders', {
    data: { type: 'orders', attributes: { currency_code: 'EUR' }, relationships: { payment_method: { data: { type: 'payment_methods', id: order.paymentMethodId } } } },
  });
  const otherId = other.body.data.id as string;
  await client.post('/api/line_items', {
    data: { type: 'line_items', attributes: { quantity: 1, unit_amount_cents: 900 }, relationships: { order: { data: { type: 'orders', id: otherId } } } },
  });
  await racesTheOrdersHolder(
    order,
    () =>
      client.patch(`/api/stripe_payments/${order.paymentId}`, {
        data: { type: 'stripe_payments', id: order.paymentId, relationships: { order: { data: { type: 'orders', id: otherId } } } },
      }),
    200,
  );
  expect((await context.db.stripePayment.findUniqueOrThrow({ where: { id: order.paymentId } })).orderId).toBe(otherId);
}, 30_000);

it('_update locks the order, then the payment', async () => {
  const order = await payableOrder(context);
  await racesTheOrdersHolder(
    order,
    () => api(context).patch(`/api/stripe_payments/${order.paymentId}`, { data: { type: 'stripe_payments', id: order.paymentId, attributes: { _update: true } } }),
    200,
  );
}, 30_000);
