// Found by `npm run soak`: when Stripe was still processing an earlier attempt of the same
// call, the server answered 409 "retry shortly", and stored that answer under the client's
// Idempotency-Key: every retry got the same 409 back and the payment was never stored.
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { api, createCheckout, startTestContext, type TestContext } from '../support/context.ts';

let context: TestContext;
beforeAll(async () => {
  // A short timeout and one SDK retry: the retry reaches Stripe while the first attempt is still running there.
  context = await startTestContext({ stripe: { timeoutMs: 300, maxNetworkRetries: 1 } });
});
afterAll(async () => {
  await context?.close();
});

it('a 409 because Stripe is still busy with the same call is not replayed to the retry', async () => {
  const { orderId } = await createCheckout(context);
  const key = `in-flight-${randomBytes(6).toString('hex')}`;
  const create = () =>
    api(context)
      .post('/api/stripe_payments', { data: { type: 'stripe_payments', relationships: { order: { data: { type: 'orders', id: orderId } } } } })
      .set('Idempotency-Key', key);
  context.standin.injectFaults({ kind: 'delay', ms: 2_500, times: 1, match: { method: 'POST', pathPrefix: '/v1/payment_intents' } });
  const first = await create();
  expect(first.status).toBe(409);
  expect(first.headers['retry-after']).toBeDefined();

  // Once Stripe has finished the first attempt, the retry with the same key completes the payment.
  await sleep(2_600);
  const retried = await create();
  expect(retried.headers['idempotent-replayed']).toBeUndefined();
  expect(retried.status).toBe(201);
  expect(context.standin.paymentIntents().filter((intent) => intent.metadata.order_id === orderId).map((intent) => intent.id)).toEqual([retried.body.data.attributes.stripe_id]);
}, 30_000);
