import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, createCheckout, startTestContext, type TestContext } from '../support/context.ts';

let context: TestContext;
beforeAll(async () => {
  context = await startTestContext();
});
afterAll(async () => {
  await context?.close();
});

const paymentBody = (orderId: string) => ({ data: { type: 'stripe_payments', relationships: { order: { data: { type: 'orders', id: orderId } } } } });
const uniqueKey = () => `key-${Math.random().toString(36).slice(2)}`;

describe('Idempotency-Key', () => {
  it('replays the first response for the same key and body: one payment, one PaymentIntent', async () => {
    const { orderId } = await createCheckout(context);
    const key = uniqueKey();
    const before = context.standin.paymentIntents().length;
    const first = await api(context).post('/api/stripe_payments', paymentBody(orderId)).set('Idempotency-Key', key);
    const second = await api(context).post('/api/stripe_payments', paymentBody(orderId)).set('Idempotency-Key', key);
    expect(first.status).toBe(201);
    expect(second.status).toBe(201);
    expect(second.headers['idempotent-replayed']).toBe('true');
    expect(second.headers.location).toBe(first.headers.location);
    expect(second.body).toEqual(first.body);
    expect(context.standin.paymentIntents().length).toBe(before + 1);
    expect(await context.db.stripePayment.count({ where: { orderId } })).toBe(1);
  });

  it('refuses the same key with another body', async () => {
    const key = uniqueKey();
    const first = await api(context).post('/api/orders', { data: { type: 'orders', attributes: { currency_code: 'EUR' } } }).set('Idempotency-Key', key);
    expect(first.status).toBe(201);
    const other = await api(context).post('/api/orders', { data: { type: 'orders', attributes: { currency_code: 'USD' } } }).set('Idempotency-Key', key);
    expect(other.status).toBe(422);
    expect(other.body.errors[0].code).toBe('IDEMPOTENCY_KEY_REUSED');
  });

  it('runs two concurrent requests with the same key once', async () => {
    const { orderId } = await createCheckout(context);
    const key = uniqueKey();
    const before = context.standin.paymentIntents().length;
    context.standin.injectFaults({ kind: 'delay', ms: 300, times: 1, match: { method: 'POST', pathPrefix: '/v1/payment_intents' } });
    const responses = await Promise.all([
      api(context).post('/api/stripe_payments', paymentBody(orderId)).set('Idempotency-Key', key),
      api(context).post('/api/stripe_payments', paymentBody(orderId)).set('Idempotency-Key', key),
    ]);
    context.standin.clearFaults();
    expect(responses.map((response) => response.status).sort()).toEqual([201, 409]);
    expect(context.standin.paymentIntents().length).toBe(before + 1);
  });

  it('scopes keys to the client and lets a key run again once it has expired', async () => {
    const key = uniqueKey();
    const create = () => api(context).post('/api/orders', { data: { type: 'orders', attributes: { currency_code: 'EUR' } } }).set('Idempotency-Key', key);
    const first = await create();
    await context.db.idempotencyKey.updateMany({ where: { key }, data: { expiresAt: new Date(Date.now() - 1000) } });
    const second = await create();
    expect(second.status).toBe(201);
    expect(second.headers['idempotent-replayed']).toBeUndefined();
    expect(second.body.data.id).not.toBe(first.body.data.id);
  });

  it('refuses a malformed key', async () => {
    const response = await api(context).post('/api/orders', { data: { type: 'orders' } }).set('Idempotency-Key', 'x'.repeat(300));
    expect(response.status).toBe(400);
  });
});
