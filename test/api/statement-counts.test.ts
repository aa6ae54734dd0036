import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countingApp, type CountingApp } from '../support/statements.ts';
import { createCheckout, startTestContext, type TestContext } from '../support/context.ts';
import { confirm, stripeClient } from '../support/payments.ts';

let context: TestContext;
let counting: CountingApp;
beforeAll(async () => {
  context = await startTestContext();
  counting = await countingApp(context.config);
});
afterAll(async () => {
  await counting?.close();
  await context?.close();
});

/** What each request kind cost, the last time it was counted; written to STATEMENT_COUNTS_FILE for `npm run bench`. */
const counts: Record<string, number> = {};
/** The statements of each kind sent unnamed (parsed and planned by PostgreSQL each time), the last time it was counted. */
const unprepared: Record<string, string[]> = {};
/**
 * The transactions of each kind Prisma's engine ran, the last time it was counted while no
 * webhook was enabled: an event someone subscribed to is rendered through Prisma
 * (src/webhooks/outbox.ts), and other test files, sharing the database, may subscribe meanwhile.
 */
const prismaTransactions: Record<string, number> = {};
const subscribed = () => context.db.webhook.count({ where: { disabledAt: null } });
afterAll(() => {
  if (process.env.STATEMENT_COUNTS_FILE) writeFileSync(process.env.STATEMENT_COUNTS_FILE, JSON.stringify(counts));
});

async function send(kind: string, method: 'POST' | 'PATCH', url: string, body: unknown, status: number) {
  const webhooksBefore = await subscribed();
  const response = await counting.send(method, url, context.token, body);
  expect(response.status, `${kind}: ${JSON.stringify(response.body)}`).toBe(status);
  counts[kind] = response.statements.length;
  unprepared[kind] = response.unprepared;
  if (webhooksBefore === 0 && (await subscribed()) === 0) prismaTransactions[kind] = response.prismaTransactions;
  // Stripe's webhooks for what the request did go to the other app: delivered before the next count, so that none races it.
  await context.standin.webhooksIdle();
  return response;
}

const createBody = (orderId: string) => ({ data: { type: 'stripe_payments', relationships: { order: { data: { type: 'orders', id: orderId } } } } });
const orderTrigger = (orderId: string, attributes: Record<string, unknown>) => ({ data: { type: 'orders', id: orderId, attributes } });

/** A checkout paid as a shopper pays it, each step counted: the second time a kind is counted, it has paid for what an app reads once. */
async function payThrough(ending: '_refund' | '_cancel') {
  const checkout = await createCheckout(context);
  const created = await send('POST /api/stripe_payments', 'POST', '/api/stripe_payments', createBody(checkout.orderId), 201);
  const payment = (created.body as { data: { id: string; attributes: { stripe_id: string } } }).data;
  await send('PATCH /api/stripe_payments/:id {_update}', 'PATCH', `/api/stripe_payments/${payment.id}`, { data: { type: 'stripe_payments', id: payment.id, attributes: { _update: true } } }, 200);
  await confirm({ ...checkout, paymentId: payment.id, paymentIntentId: payment.attributes.stripe_id, stripe: stripeClient(context, checkout.secretKey) });
  await context.standin.webhooksIdle();
  const order = `/api/orders/${checkout.orderId}`;
  await send('PATCH /api/orders/:id {_authorize}', 'PATCH', order, orderTrigger(checkout.orderId, { _authorize: true }), 200);
  await send('PATCH /api/orders/:id {_place}', 'PATCH', order, orderTrigger(checkout.orderId, { _place: true }), 200);
  if (ending === '_cancel') {
    await send('PATCH /api/orders/:id {_cancel}', 'PATCH', order, orderTrigger(checkout.orderId, { _cancel: true }), 200);
    return;
  }
  await send('PATCH /api/orders/:id {_capture}', 'PATCH', order, orderTrigger(checkout.orderId, { _capture: true }), 200);
  await send('PATCH /api/orders/:id {_refund}', 'PATCH', order, orderTrigger(checkout.orderId, { _refund: true }), 200);
}

describe('what one request costs, in SQL statements', () => {
  it('sends a fixed number for POST /api/stripe_payments, records the other money-moving requests, and names every statement', async () => {
    await payThrough('_refund');
    await payThrough('_refund');
    await payThrough('_cancel');
    await payThrough('_cancel');
    console.log(`statements per request, BEGIN and COMMIT included: ${JSON.stringify(counts)}`);
    // Fails when a create grows: lower the number when it shrinks. Two transactions: reserve
    // (BEGIN, lock, check and insert, COMMIT), record (BEGIN, lock, record, version, COMMIT).
    expect(counts['POST /api/stripe_payments']).toBe(9);
    console.log(`unprepared: ${JSON.stringify(Object.fromEntries(Object.entries(unprepared).map(([kind, list]) => [kind, list.length])))}`);
    console.log(`Prisma transactions: ${JSON.stringify(prismaTransactions)}`);
    // Every statement of a create goes by name: parsed and planned once per connection.
    expect(unprepared['POST /api/stripe_payments']).toEqual([]);
    // So does every statement of the triggers that move money or decide on Stripe's word, and
    // their transactions are SQL ones: none falls back to Prisma's on the common path.
    for (const trigger of ['_authorize', '_place', '_capture', '_refund', '_cancel']) {
      const kind = `PATCH /api/orders/:id {${trigger}}`;
      expect(unprepared[kind], kind).toEqual([]);
      expect(prismaTransactions[kind] ?? 0, kind).toBe(0);
    }
  });
});
