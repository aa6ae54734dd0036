import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, createCheckout, jsonApi, startTestContext, type TestContext } from '../support/context.ts';

let context: TestContext;
beforeAll(async () => {
  context = await startTestContext();
});
afterAll(async () => {
  await context?.close();
});

/** The body of Commerce Layer's "Create a stripe payment" example, as its curl sends it. */
const seedBody = (orderId: string) => `{
  "data": {
    "type": "stripe_payments",
    "relationships": {
      "order": {
        "data": {
          "type": "orders",
          "id": "${orderId}"
        }
      }
    }
  }
}`;

function seedRequest(orderId: string, headers: Record<string, string> = {}) {
  const request = context.http
    .post('/api/stripe_payments')
    .set('Accept', jsonApi)
    .set('Authorization', `Bearer ${context.token}`)
    .set('Content-Type', jsonApi);
  for (const [name, value] of Object.entries(headers)) request.set(name, value);
  return request.send(seedBody(orderId));
}

describe('POST /api/stripe_payments', () => {
  it('answers the documented request with 201 and a client secret of a real PaymentIntent for the order total', async () => {
    const checkout = await createCheckout(context, { lines: [{ quantity: 2, unit_amount_cents: 1250 }, { quantity: 1, unit_amount_cents: 499 }] });
    const response = await seedRequest(checkout.orderId);

    expect(response.status).toBe(201);
    expect(response.headers['content-type']).toMatch(/^application\/vnd\.api\+json/);
    const { data } = response.body;
    expect(data.type).toBe('stripe_payments');
    expect(data.id).toMatch(/^[A-Za-z]{10}$/);
    expect(response.headers.location).toBe(data.links.self);
    expect(data.links.self).toMatch(new RegExp(`/api/stripe_payments/${data.id}$`));
    expect(data.meta).toEqual({ mode: 'test' });
    expect(Object.keys(data.attributes).sort()).toEqual(
      [
        'stripe_id', 'client_secret', 'publishable_key', 'connected_account', 'on_behalf_of', 'transfer_group', 'charge_id', 'options', 'payment_method',
        'mismatched_amounts', 'return_url', 'receipt_email', 'payment_instrument', 'intent_missing_at', 'id', 'created_at', 'updated_at',
        'reference', 'reference_origin', 'metadata',
      ].filter((name) => name !== 'id').sort(),
    );
    expect(data.attributes.publishable_key).toBe('pk_test_abc123');
    expect(data.attributes.mismatched_amounts).toBe(false);
    expect(data.relationships.order.links.related).toBe(`${data.links.self}/order`);
    expect(data.relationships.payment_gateway.links.self).toBe(`${data.links.self}/relationships/payment_gateway`);

    const intent = context.standin.paymentIntents().find((pi) => pi.id === data.attributes.stripe_id);
    expect(intent).toBeDefined();
    expect(data.attributes.client_secret).toBe(intent!.client_secret);
    expect(intent!.amount).toBe(2 * 1250 + 499);
    expect(intent!.currency).toBe('eur');
    expect(intent!.metadata).toMatchObject({ order_id: checkout.orderId, stripe_payment_id: data.id });

    const create = context.standin.requestLog().find((entry) => entry.method === 'POST' && entry.path === '/v1/payment_intents');
    expect(create?.apiKey).toBe(checkout.secretKey);
    expect(create?.idempotencyKey).toBe(`stripe_payments/${data.id}/create`);

    const order = await api(context).get(`/api/orders/${checkout.orderId}`);
    expect(order.body.data.attributes.total_amount_cents).toBe(2999);
    const stored = await context.db.order.findUniqueOrThrow({ where: { id: checkout.orderId } });
    expect(stored).toMatchObject({ paymentSourceType: 'stripe_payments', paymentSourceId: data.id });
  });

  it('reads the created payment back with GET', async () => {
    const checkout = await createCheckout(context);
    const created = await seedRequest(checkout.orderId);
    const read = await api(context).get(`/api/stripe_payments/${created.body.data.id}`);
    expect(read.status).toBe(200);
    expect(read.body.data).toEqual(created.body.data);
    // A second payment for the order supersedes the first: its create runs in a Prisma
    // transaction (src/db/sql-transaction.ts) and answers with the same document as GET too.
    const replacing = await seedRequest(checkout.orderId);
    expect(replacing.status).toBe(201);
    const replacingRead = await api(context).get(`/api/stripe_payments/${replacing.body.data.id}`);
    expect(replacingRead.body.data).toEqual(replacing.body.data);
  });

  it('sends Stripe zero-decimal amounts as they are: 1500 JPY is amount 1500', async () => {
    const checkout = await createCheckout(context, { currency: 'JPY', lines: [{ quantity: 3, unit_amount_cents: 500 }] });
    const response = await seedRequest(checkout.orderId);
    expect(response.status).toBe(201);
    const order = await api(context).get(`/api/orders/${checkout.orderId}`);
    expect(order.body.data.attributes).toMatchObject({ total_amount_cents: 1500, total_amount_float: 1500, formatted_total_amount: '¥1,500' });
    const intent = context.standin.paymentIntents().find((pi) => pi.id === response.body.data.attributes.stripe_id);
    expect(intent).toMatchObject({ amount: 1500, currency: 'jpy' });
  });

  it('passes creatable options and attributes to Stripe and returns them', async () => {
    const checkout = await createCheckout(context);
    const response = await api(context).post('/api/stripe_payments', {
      data: {
        type: 'stripe_payments',
        attributes: {
          options: { setup_future_usage: 'off_session', payment_method: 'pm_card_visa' },
          receipt_email: 'receipts@example.com',
          return_url: 'https://shop.example.com/return',
          reference: 'ERP-1',
          reference_origin: 'erp',
          metadata: { foo: 'bar' },
        },
        relationships: { order: { data: { type: 'orders', id: checkout.orderId } } },
      },
    });
    expect(response.status).toBe(201);
    expect(response.body.data.attributes).toMatchObject({
      options: { setup_future_usage: 'off_session', payment_method: 'pm_card_visa' },
      receipt_email: 'receipts@example.com',
      return_url: 'https://shop.example.com/return',
      reference: 'ERP-1',
      reference_origin: 'erp',
      metadata: { foo: 'bar' },
    });
    const intent = context.standin.paymentIntents().find((pi) => pi.id === response.body.data.attributes.stripe_id)!;
    expect(intent).toMatchObject({ setup_future_usage: 'off_session', receipt_email: 'receipts@example.com' });
    // Stripe turns the test token into a payment method of its own; we show Stripe's id.
    expect(intent.payment_method).toMatch(/^pm_/);
    expect(response.body.data.attributes.payment_method).toEqual({ id: intent.payment_method });
  });

  it('sends the payment method types option as the pinned API version names it', async () => {
    const checkout = await createCheckout(context);
    const response = await api(context).post('/api/stripe_payments', {
      data: {
        type: 'stripe_payments',
        attributes: { options: { payment_method_types: ['card'] } },
        relationships: { order: { data: { type: 'orders', id: checkout.orderId } } },
      },
    });
    expect(response.status).toBe(201);
    expect(response.body.data.attributes.options).toEqual({ payment_method_types: ['card'] });
    const intent = context.standin.paymentIntents().find((pi) => pi.id === response.body.data.attributes.stripe_id)!;
    expect(intent).toMatchObject({ allowed_payment_method_types: ['card'], payment_method_types: ['card'], automatic_payment_methods: null });
  });

  it('does not create a second PaymentIntent when the SDK retries after a lost response', async () => {
    const checkout = await createCheckout(context);
    const before = context.standin.paymentIntents().length;
    context.standin.injectFaults({ kind: 'drop_after_processing', times: 1, match: { method: 'POST', pathPrefix: '/v1/payment_intents' } });
    const response = await seedRequest(checkout.orderId);
    context.standin.clearFaults();
    expect(response.status).toBe(201);
    expect(context.standin.paymentIntents().length).toBe(before + 1);
  });

  it('turns a double-submitted create into one payment and one PaymentIntent', async () => {
    const checkout = await createCheckout(context);
    const before = context.standin.paymentIntents().length;
    // A slow Stripe keeps the first attempt in flight while the second arrives.
    context.standin.injectFaults({ kind: 'delay', ms: 300, times: 1, match: { method: 'POST', pathPrefix: '/v1/payment_intents' } });
    const [first, second] = await Promise.all([seedRequest(checkout.orderId), seedRequest(checkout.orderId)]);
    context.standin.clearFaults();
    expect([first.status, second.status]).toEqual([201, 201]);
    expect(second.body.data.id).toBe(first.body.data.id);
    expect(context.standin.paymentIntents().length).toBe(before + 1);
  });

  it('answers 20 parallel creates for one order without a 500 or a deadlock', async () => {
    const checkout = await createCheckout(context);
    const logged = context.logs.length;
    const responses = await Promise.all(Array.from({ length: 20 }, () => seedRequest(checkout.orderId)));
    const statuses = responses.map((response) => response.status);
    // Each one creates (or shares) a payment, or says clearly why not.
    expect(statuses.filter((status) => ![201, 409, 422].includes(status)), JSON.stringify(responses.map((r) => r.body.errors?.[0]))).toEqual([]);
    expect(statuses).toContain(201);
    const logs = context.logs.slice(logged).join('');
    expect(logs).not.toMatch(/deadlock|40P01/);
    // Whichever answered last, the order's payment source is one of the created payments.
    const order = await context.db.order.findUniqueOrThrow({ where: { id: checkout.orderId } });
    const created = new Set(responses.filter((response) => response.status === 201).map((response) => response.body.data.id as string));
    expect(created.has(order.paymentSourceId!)).toBe(true);
  }, 60_000);

  it('answers 503 when Stripe is down, then a retry creates exactly one PaymentIntent', async () => {
    const checkout = await createCheckout(context);
    const before = context.standin.paymentIntents().length;
    // More failures than the SDK's retries: the request must give up with a clear error.
    context.standin.injectFaults({ kind: 'drop_after_processing', times: 3, match: { method: 'POST', pathPrefix: '/v1/payment_intents' } });
    const failed = await seedRequest(checkout.orderId);
    context.standin.clearFaults();
    expect(failed.status).toBe(503);
    expect(failed.body.errors[0]).toMatchObject({ status: '503', code: 'STRIPE_UNAVAILABLE' });
    expect(await context.db.stripePayment.count({ where: { orderId: checkout.orderId, intentState: 'created' } })).toBe(0);

    const retried = await seedRequest(checkout.orderId);
    expect(retried.status).toBe(201);
    // Stripe did create the intent on the first try; the retry got that one back.
    expect(context.standin.paymentIntents().length).toBe(before + 1);
    expect(retried.body.data.attributes.stripe_id).toBe(context.standin.paymentIntents().at(-1)!.id);
  });

  it('answers 503 with nothing written when Stripe cannot be reached at all', async () => {
    const unreachable = await startTestContext({
      stripe: { apiUrl: new URL('http://127.0.0.1:9'), timeoutMs: 1000, maxNetworkRetries: 0 },
    });
    try {
      const checkout = await createCheckout(unreachable);
      const response = await unreachable.http
        .post('/api/stripe_payments')
        .set('Accept', jsonApi)
        .set('Authorization', `Bearer ${unreachable.token}`)
        .set('Content-Type', jsonApi)
        .send(seedBody(checkout.orderId));
      expect(response.status).toBe(503);
      expect(response.body.errors[0].detail).toMatch(/Stripe could not be reached/);
      const order = await unreachable.db.order.findUniqueOrThrow({ where: { id: checkout.orderId } });
      expect(order.paymentSourceId).toBeNull();
    } finally {
      await unreachable.close();
    }
  });

  it('answers 422 with Stripe\'s code when Stripe rejects the request, and leaves nothing behind', async () => {
    const checkout = await createCheckout(context);
    const response = await api(context).post('/api/stripe_payments', {
      data: {
        type: 'stripe_payments',
        attributes: { options: { payment_method: 'pm_does_not_exist' } },
        relationships: { order: { data: { type: 'orders', id: checkout.orderId } } },
      },
    });
    expect(response.status).toBe(422);
    expect(response.body.errors[0]).toMatchObject({ status: '422', code: 'STRIPE_ERROR', meta: { stripe_code: 'resource_missing' } });
    expect(await context.db.stripePayment.count({ where: { orderId: checkout.orderId } })).toBe(0);
  });
});

describe('POST /api/stripe_payments errors', () => {
  const orderLink = (id: string) => ({ data: { type: 'orders', id } });
  const body = (id: string) => ({ data: { type: 'stripe_payments', relationships: { order: orderLink(id) } } });

  it('401 without a token and with a forged one', async () => {
    const missing = await context.http.post('/api/stripe_payments').set('Accept', jsonApi).set('Content-Type', jsonApi).send(seedBody('x'));
    expect(missing.status).toBe(401);
    expect(missing.body.errors[0]).toMatchObject({ code: 'UNAUTHORIZED', status: '401' });
    const forged = await context.http
      .post('/api/stripe_payments')
      .set('Accept', jsonApi)
      .set('Authorization', `Bearer ${context.token.slice(0, -4)}AAAA`)
      .set('Content-Type', jsonApi)
      .send(seedBody('x'));
    expect(forged.status).toBe(401);
    expect(forged.body.errors[0].code).toBe('INVALID_TOKEN');
  });

  it('406 for an Accept that excludes JSON:API, 415 for another body media type', async () => {
    const notAcceptable = await context.http
      .post('/api/stripe_payments')
      .set('Accept', 'application/json')
      .set('Authorization', `Bearer ${context.token}`)
      .set('Content-Type', jsonApi)
      .send(seedBody('x'));
    expect(notAcceptable.status).toBe(406);
    expect(notAcceptable.body.errors[0].code).toBe('NOT_ACCEPTABLE');
    const unsupported = await context.http
      .post('/api/stripe_payments')
      .set('Accept', jsonApi)
      .set('Authorization', `Bearer ${context.token}`)
      .set('Content-Type', 'application/json')
      .send(seedBody('x'));
    expect(unsupported.status).toBe(415);
    expect(unsupported.headers['content-type']).toMatch(/^application\/vnd\.api\+json/);
  });

  it('400 for malformed JSON and for a wrong type', async () => {
    const malformed = await context.http
      .post('/api/stripe_payments')
      .set('Accept', jsonApi)
      .set('Authorization', `Bearer ${context.token}`)
      .set('Content-Type', jsonApi)
      .send('{"data": {');
    expect(malformed.status).toBe(400);
    expect(malformed.body.errors[0].status).toBe('400');
    const wrongType = await api(context).post('/api/stripe_payments', { data: { type: 'orders', relationships: { order: orderLink('x') } } });
    expect(wrongType.status).toBe(400);
    expect(wrongType.body.errors[0].source).toEqual({ pointer: '/data/type' });
  });

  it('422 with a pointer when the order is missing, unknown or not payable', async () => {
    const missing = await api(context).post('/api/stripe_payments', { data: { type: 'stripe_payments' } });
    expect(missing.status).toBe(422);
    expect(missing.body.errors[0]).toMatchObject({ code: 'VALIDATION_ERROR', source: { pointer: '/data/relationships/order' } });

    const unknown = await api(context).post('/api/stripe_payments', body('NoSuchOrdr'));
    expect(unknown.status).toBe(422);
    expect(unknown.body.errors[0].source.pointer).toBe('/data/relationships/order');

    const empty = await createCheckout(context, { lines: [] });
    const noLines = await api(context).post('/api/stripe_payments', body(empty.orderId));
    expect(noLines.status).toBe(422);
    expect(noLines.body.errors[0].detail).toMatch(/no line items/);

    const orderWithoutMethod = await api(context).post('/api/orders', { data: { type: 'orders', attributes: { currency_code: 'EUR' } } });
    await api(context).post('/api/line_items', {
      data: {
        type: 'line_items',
        attributes: { quantity: 1, unit_amount_cents: 100 },
        relationships: { order: orderLink(orderWithoutMethod.body.data.id) },
      },
    });
    const noMethod = await api(context).post('/api/stripe_payments', body(orderWithoutMethod.body.data.id));
    expect(noMethod.status).toBe(422);
    expect(noMethod.body.errors[0].detail).toMatch(/payment_method/);
  });

  it('400 naming an attribute that cannot be set', async () => {
    const checkout = await createCheckout(context);
    const response = await api(context).post('/api/stripe_payments', {
      data: { type: 'stripe_payments', attributes: { charge_id: 'ch_1' }, relationships: { order: orderLink(checkout.orderId) } },
    });
    expect(response.status).toBe(400);
    expect(response.body.errors[0]).toMatchObject({ code: 'PARAM_NOT_ALLOWED', source: { pointer: '/data/attributes/charge_id' } });
  });

  it('422 for an unknown option', async () => {
    const checkout = await createCheckout(context);
    const response = await api(context).post('/api/stripe_payments', {
      data: { type: 'stripe_payments', attributes: { options: { amount: 1 } }, relationships: { order: orderLink(checkout.orderId) } },
    });
    expect(response.status).toBe(422);
    expect(response.body.errors[0].source.pointer).toBe('/data/attributes/options');
  });

  it('404 for an unknown id', async () => {
    const response = await api(context).get('/api/stripe_payments/NoSuchPaym');
    expect(response.status).toBe(404);
    expect(response.body.errors[0]).toMatchObject({ code: 'RECORD_NOT_FOUND', status: '404' });
  });
});

describe('secrets', () => {
  it('never returns or logs the gateway key, the token or application secrets', async () => {
    const checkout = await createCheckout(context);
    const payment = await seedRequest(checkout.orderId);
    const gateway = await api(context).get(`/api/stripe_gateways/${checkout.gatewayId}`);
    const gateways = await api(context).get('/api/stripe_gateways');
    for (const response of [payment, gateway, gateways]) expect(response.text).not.toContain(checkout.secretKey);
    expect(gateway.body.data.attributes).not.toHaveProperty('login');

    const stored = await context.db.stripeGateway.findUniqueOrThrow({ where: { id: checkout.gatewayId } });
    expect(stored.loginEncrypted).not.toContain(checkout.secretKey);
    expect(stored.loginEncrypted).toMatch(/^v1\./);

    const logs = context.logs.join('');
    expect(logs).toContain('"status":201');
    for (const secret of [checkout.secretKey, context.token, context.credentials.clientSecret, payment.body.data.attributes.client_secret]) {
      expect(logs).not.toContain(secret);
    }
  });
});
