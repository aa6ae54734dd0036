import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countingApp, type CountingApp } from '../support/statements.ts';
import { createCheckout, startTestContext, type TestContext } from '../support/context.ts';

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

const createBody = (orderId: string) => ({ data: { type: 'stripe_payments', relationships: { order: { data: { type: 'orders', id: orderId } } } } });

async function create(orderId: string) {
  const response = await counting.send('POST', '/api/stripe_payments', context.token, createBody(orderId));
  expect(response.status, JSON.stringify(response.body)).toBe(201);
  return response;
}

describe('what one create costs', () => {
  it('sends a fixed number of SQL statements for POST /api/stripe_payments', async () => {
    // The first create pays for what an app reads once (signing keys, the token's check).
    await create((await createCheckout(context)).orderId);
    const { statements } = await create((await createCheckout(context)).orderId);
    // Fails when a create grows: lower the number when it shrinks. The statements Prisma
    // reports: every one sent but the two transactions' BEGINs (their COMMITs are counted).
    expect(statements, statements.join('\n')).toHaveLength(12);
  });
});
