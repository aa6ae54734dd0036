// Found by `npm run soak`: a webhook applying a PaymentIntent and a capture being reserved
// for the same order deadlocked, and one of them answered 500. The capture holds the order
// and inserts a transaction that references the payment (a foreign key takes a KEY SHARE
// lock on it); the webhook holds the payment and waits for the order. Here both paths run
// with that interleaving forced.
import pg from 'pg';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { createPrismaClient, type PrismaClient } from '../../src/db/client.ts';
import { lockOrder } from '../../src/payments/orders.ts';
import { lockPaymentAndOrder } from '../../src/payments/stripe-sync.ts';
import { createTransaction } from '../../src/payments/transactions.ts';
import { startTestContext, type TestContext } from '../support/context.ts';
import { confirm, payableOrder, trigger } from '../support/payments.ts';

let context: TestContext;
let db: PrismaClient;
let admin: pg.Client;
const applicationName = `lock-ordering-${process.pid}-${Date.now()}`;

beforeAll(async () => {
  context = await startTestContext();
  const url = new URL(inject('databaseUrl'));
  url.searchParams.set('application_name', applicationName);
  db = createPrismaClient(url.toString(), { poolMax: 2 });
  admin = new pg.Client({ connectionString: inject('databaseUrl') });
  await admin.connect();
});
afterAll(async () => {
  await admin?.end();
  await db?.$disconnect();
  await context?.close();
});

async function waitingForOrderLock(): Promise<boolean> {
  const { rows } = await admin.query(
    `SELECT 1 FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock' AND query ILIKE '%FROM orders%FOR UPDATE%'`,
    [applicationName],
  );
  return rows.length > 0;
}

it('a capture reservation and a webhook on the same order both commit instead of deadlocking', async () => {
  const order = await payableOrder(context);
  await confirm(order);
  expect((await trigger(context, order.orderId, { _place: true })).status).toBe(200);
  const payment = await context.db.stripePayment.findUniqueOrThrow({ where: { id: order.paymentId } });

  let orderLocked!: () => void;
  const orderIsLocked = new Promise<void>((resolve) => (orderLocked = resolve));
  // What captureOrder does first: the order's lock, then a reserved capture naming the payment.
  const capture = db.$transaction(
    async (tx) => {
      const locked = (await lockOrder(tx, order.orderId))!;
      orderLocked();
      await expect.poll(waitingForOrderLock, { timeout: 5_000, interval: 20 }).toBe(true);
      return createTransaction(tx, { kind: 'captures', order: locked, payment, amountCents: payment.amountCents });
    },
    { timeout: 15_000 },
  );
  await orderIsLocked;
  // What a webhook does: the payment's lock, then the order's.
  const webhook = db.$transaction((tx) => lockPaymentAndOrder(tx, order.paymentId), { timeout: 15_000 });

  const [captured, applied] = await Promise.allSettled([capture, webhook]);
  expect(captured.status === 'rejected' ? String(captured.reason) : 'committed').toBe('committed');
  expect(applied.status === 'rejected' ? String(applied.reason) : 'committed').toBe('committed');
}, 30_000);
