import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, createCheckout, jsonApi, startTestContext, type TestContext } from '../support/context.ts';

let context: TestContext;
beforeAll(async () => {
  context = await startTestContext();
});
afterAll(async () => {
  await context?.close();
});

const orderLink = (id: string) => ({ data: { type: 'orders', id } });

describe('orders and line items', () => {
  it('creates a draft order with a generated number and Commerce Layer style id', async () => {
    const first = await api(context).post('/api/orders', { data: { type: 'orders', attributes: { currency_code: 'eur' } } });
    const second = await api(context).post('/api/orders', { data: { type: 'orders', attributes: { currency_code: 'EUR' } } });
    expect(first.status).toBe(201);
    expect(first.body.data.id).toMatch(/^[A-Za-z]{10}$/);
    expect(first.body.data.attributes).toMatchObject({
      status: 'draft',
      payment_status: 'unpaid',
      currency_code: 'EUR',
      language_code: 'en',
      total_amount_cents: 0,
      formatted_total_amount: '€0.00',
    });
    expect(Number(second.body.data.attributes.number)).toBeGreaterThan(Number(first.body.data.attributes.number));
  });

  it('recomputes totals as line items are added, changed and deleted', async () => {
    const { orderId } = await createCheckout(context, { lines: [{ quantity: 2, unit_amount_cents: 1000 }], priceAmountCents: 150 });
    const totals = async () => (await api(context).get(`/api/orders/${orderId}`)).body.data.attributes;
    expect(await totals()).toMatchObject({ subtotal_amount_cents: 2000, payment_method_amount_cents: 150, total_amount_cents: 2150, total_amount_float: 21.5 });

    const added = await api(context).post('/api/line_items', {
      data: { type: 'line_items', attributes: { quantity: 3, unit_amount_cents: 333, sku_code: 'TSHIRT' }, relationships: { order: orderLink(orderId) } },
    });
    expect(added.status).toBe(201);
    expect(added.body.data.attributes).toMatchObject({ total_amount_cents: 999, currency_code: 'EUR', formatted_unit_amount: '€3.33' });
    expect((await totals()).subtotal_amount_cents).toBe(2999);

    const changed = await api(context).patch(`/api/line_items/${added.body.data.id}`, {
      data: { type: 'line_items', id: added.body.data.id, attributes: { quantity: 1 } },
    });
    expect(changed.status).toBe(200);
    expect(changed.body.data.attributes.total_amount_cents).toBe(333);
    expect((await totals()).total_amount_cents).toBe(2000 + 333 + 150);

    const deleted = await api(context).delete(`/api/line_items/${added.body.data.id}`);
    expect(deleted.status).toBe(204);
    expect((await totals()).total_amount_cents).toBe(2150);
  });

  it('keeps totals exact when line items are added concurrently', async () => {
    const { orderId } = await createCheckout(context, { lines: [] });
    await Promise.all(
      Array.from({ length: 8 }, () =>
        api(context).post('/api/line_items', {
          data: { type: 'line_items', attributes: { quantity: 1, unit_amount_cents: 100 }, relationships: { order: orderLink(orderId) } },
        }),
      ),
    );
    const order = await api(context).get(`/api/orders/${orderId}`);
    expect(order.body.data.attributes.subtotal_amount_cents).toBe(800);
  });

  it('rejects invalid line items with 422 and a pointer', async () => {
    const { orderId } = await createCheckout(context, { lines: [] });
    const response = await api(context).post('/api/line_items', {
      data: { type: 'line_items', attributes: { quantity: 0, unit_amount_cents: -5 }, relationships: { order: orderLink(orderId) } },
    });
    expect(response.status).toBe(422);
    expect(response.body.errors.map((error: { source: { pointer: string } }) => error.source.pointer).sort()).toEqual([
      '/data/attributes/quantity',
      '/data/attributes/unit_amount_cents',
    ]);
  });

  it('refuses a payment method of another currency', async () => {
    const { paymentMethodId } = await createCheckout(context, { currency: 'USD', lines: [] });
    const response = await api(context).post('/api/orders', {
      data: {
        type: 'orders',
        attributes: { currency_code: 'EUR' },
        relationships: { payment_method: { data: { type: 'payment_methods', id: paymentMethodId } } },
      },
    });
    expect(response.status).toBe(422);
    expect(response.body.errors[0].source.pointer).toBe('/data/relationships/payment_method');
  });

  it('answers 400 KEY_NOT_INCLUDED_IN_URL when the body id differs from the URL', async () => {
    const { orderId } = await createCheckout(context, { lines: [] });
    const response = await api(context).patch(`/api/orders/${orderId}`, { data: { type: 'orders', id: 'OtherOrder', attributes: {} } });
    expect(response.status).toBe(400);
    expect(response.body.errors[0].code).toBe('KEY_NOT_INCLUDED_IN_URL');
  });

  it('answers 405 for an action the resource does not offer', async () => {
    // Draft orders can be deleted now, as in Commerce Layer; a payment gateway cannot.
    const { gatewayId } = await createCheckout(context, { lines: [] });
    const response = await api(context).delete(`/api/payment_gateways/${gatewayId}`);
    expect(response.status).toBe(405);
    expect(response.body.errors[0].code).toBe('METHOD_NOT_ALLOWED');
  });
});

describe('stripe gateways and payment methods', () => {
  it('validates the Stripe key and never echoes it', async () => {
    const bad = await api(context).post('/api/stripe_gateways', {
      data: { type: 'stripe_gateways', attributes: { name: 'Stripe', login: 'not-a-key' } },
    });
    expect(bad.status).toBe(422);
    expect(bad.body.errors[0].source.pointer).toBe('/data/attributes/login');
    expect(bad.text).not.toContain('not-a-key');

    const live = await api(context).post('/api/stripe_gateways', {
      data: { type: 'stripe_gateways', attributes: { name: 'Live', login: 'sk_live_abcdef' } },
    });
    expect(live.status).toBe(201);
    expect(live.body.data.meta).toEqual({ mode: 'live' });
    expect(live.text).not.toContain('sk_live_abcdef');
  });

  it('lists with pagination metadata and links that keep other parameters', async () => {
    for (let i = 0; i < 3; i += 1) await createCheckout(context, { lines: [] });
    const response = await api(context).get('/api/payment_methods?page[size]=2&page[number]=1&sort=-created_at');
    expect(response.status).toBe(200);
    expect(response.body.data).toHaveLength(2);
    expect(response.body.meta.record_count).toBeGreaterThanOrEqual(3);
    expect(response.body.meta.page_count).toBe(Math.ceil(response.body.meta.record_count / 2));
    const next = new URL(response.body.links.next);
    expect(next.searchParams.get('page[number]')).toBe('2');
    expect(next.searchParams.get('sort')).toBe('-created_at');
  });

  it('answers 400 for an oversized page, an unknown sort or an unknown field', async () => {
    const page = await api(context).get('/api/payment_methods?page[size]=26');
    expect(page.status).toBe(400);
    expect(page.body.errors[0].code).toBe('INVALID_PAGE_VALUE');
    const sort = await api(context).get('/api/payment_methods?sort=moto');
    expect(sort.status).toBe(400);
    expect(sort.body.errors[0].code).toBe('INVALID_SORT_CRITERIA');
    const fields = await api(context).get('/api/payment_methods?fields[payment_methods]=nope');
    expect(fields.status).toBe(400);
  });

  it('returns only the requested sparse fields', async () => {
    const { paymentMethodId } = await createCheckout(context, { lines: [] });
    const response = await api(context).get(`/api/payment_methods/${paymentMethodId}?fields[payment_methods]=currency_code,price_amount_cents`);
    expect(response.status).toBe(200);
    expect(Object.keys(response.body.data.attributes).sort()).toEqual(['currency_code', 'price_amount_cents']);
  });

  it('refuses to delete a gateway that payment methods use (423)', async () => {
    const { gatewayId } = await createCheckout(context, { lines: [] });
    const response = await api(context).delete(`/api/stripe_gateways/${gatewayId}`);
    expect(response.status).toBe(423);
  });

  it('shows gateways through the generic payment_gateways view', async () => {
    const { gatewayId } = await createCheckout(context, { lines: [] });
    const response = await api(context).get(`/api/payment_gateways/${gatewayId}`);
    expect(response.status).toBe(200);
    expect(response.body.data.type).toBe('payment_gateways');
    expect(response.body.data.attributes).not.toHaveProperty('login');
  });
});

describe('HTTP surface', () => {
  it('answers GET / once ready and 404 JSON:API for unknown routes', async () => {
    expect((await context.http.get('/')).status).toBe(200);
    const missing = await context.http.get('/api/nothing_here').set('Accept', jsonApi);
    expect(missing.status).toBe(404);
    expect(missing.body.errors[0].status).toBe('404');
  });

  it('echoes a request id for correlation with the log line', async () => {
    const response = await api(context).get('/api/orders').set('X-Request-Id', 'storefront-req-12345');
    expect(response.headers['x-request-id']).toBe('storefront-req-12345');
    expect(context.logs.join('')).toContain('"reqId":"storefront-req-12345"');
  });
});
