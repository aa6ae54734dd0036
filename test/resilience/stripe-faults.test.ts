import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCheckout, jsonApi, startTestContext, type TestContext } from '../support/context.ts';

let context: TestContext;
beforeAll(async () => {
  // Short timeout, one retry: the faults below outlast it.
  context = await startTestContext({ stripe: { timeoutMs: 400, maxNetworkRetries: 1 } });
});
afterAll(async () => {
  await context?.close();
});

function createPayment(orderId: string) {
  return context.http
    .post('/api/stripe_payments')
    .set('Accept', jsonApi)
    .set('Authorization', `Bearer ${context.token}`)
    .set('Content-Type', jsonApi)
    .send(JSON.stringify({ data: { type: 'stripe_payments', relationships: { order: { data: { type: 'orders', id: orderId } } } } }));
}

describe('Stripe faults', () => {
  it.each([
    ['500s', { kind: 'status', status: 500 } as const, 502, 'STRIPE_ERROR'],
    ['429s', { kind: 'status', status: 429 } as const, 503, 'STRIPE_RATE_LIMITED'],
    ['slow answers past the timeout', { kind: 'delay', ms: 700 } as const, 504, 'STRIPE_TIMEOUT'],
    ['dropped connections', { kind: 'drop_after_processing' } as const, 503, 'STRIPE_UNAVAILABLE'],
  ])('%s: a clear error once retries run out, then a retry succeeds with one PaymentIntent', async (_label, fault, status, code) => {
    const checkout = await createCheckout(context);
    const before = context.standin.paymentIntents().length;
    context.standin.injectFaults({ ...fault, times: 2, match: { method: 'POST', pathPrefix: '/v1/payment_intents' } });
    const failed = await createPayment(checkout.orderId);
    expect(failed.status).toBe(status);
    expect(failed.body.errors[0]).toMatchObject({ status: String(status), code });
    context.standin.clearFaults();
    // Let a delayed attempt finish at Stripe before the client retries.
    await new Promise((resolve) => setTimeout(resolve, 800));

    const retried = await createPayment(checkout.orderId);
    expect(retried.status).toBe(201);
    const created = context.standin.paymentIntents().slice(before);
    expect(created).toHaveLength(1);
    expect(retried.body.data.attributes.stripe_id).toBe(created[0]!.id);
    // Every attempt at Stripe carried the same key.
    const keys = new Set(
      context.standin
        .requestLog()
        .filter((entry) => entry.path === '/v1/payment_intents' && entry.method === 'POST' && entry.body.metadata && (entry.body.metadata as Record<string, string>).order_id === checkout.orderId)
        .map((entry) => entry.idempotencyKey),
    );
    expect(keys.size).toBe(1);
  });
});
