import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, createCheckout, createdId, startTestContext, type TestContext } from '../support/context.ts';
import { payableOrder, type PayableOrder } from '../support/payments.ts';

/**
 * The order contract of Commerce Layer's official schema (resources.current.json) that
 * storefronts and its components rely on: relationship types, order filters, includes,
 * the order's lifecycle fields and triggers.
 */

let context: TestContext;
let paid: PayableOrder;

beforeAll(async () => {
  context = await startTestContext();
  paid = await payableOrder(context);
});
afterAll(async () => {
  await context?.close();
});

describe('payment_gateway is typed payment_gateways', () => {
  it('in the linkage, the included object and the related resource of stripe payments and payment methods', async () => {
    const payment = await api(context).get(`/api/stripe_payments/${paid.paymentId}?include=payment_gateway`);
    expect(payment.status).toBe(200);
    expect(payment.body.data.relationships.payment_gateway.data).toEqual({ type: 'payment_gateways', id: paid.gatewayId });
    expect(payment.body.included).toEqual([expect.objectContaining({ type: 'payment_gateways', id: paid.gatewayId })]);
    expect(payment.body.included[0].attributes).not.toHaveProperty('login');

    const related = await api(context).get(`/api/stripe_payments/${paid.paymentId}/payment_gateway`);
    expect(related.status).toBe(200);
    expect(related.body.data).toMatchObject({ type: 'payment_gateways', id: paid.gatewayId });
    const linkage = await api(context).get(`/api/stripe_payments/${paid.paymentId}/relationships/payment_gateway`);
    expect(linkage.body.data).toEqual({ type: 'payment_gateways', id: paid.gatewayId });

    const method = await api(context).get(`/api/payment_methods/${paid.paymentMethodId}?include=payment_gateway`);
    expect(method.body.data.relationships.payment_gateway.data).toEqual({ type: 'payment_gateways', id: paid.gatewayId });
    expect(method.body.included[0].type).toBe('payment_gateways');
    const methodGateway = await api(context).get(`/api/payment_methods/${paid.paymentMethodId}/payment_gateway`);
    expect(methodGateway.body.data).toMatchObject({ type: 'payment_gateways', id: paid.gatewayId });
  });

  it('links a gateway named by either type, and no other', async () => {
    for (const type of ['stripe_gateways', 'payment_gateways']) {
      const id = await createdId(context, '/api/payment_methods', {
        data: {
          type: 'payment_methods',
          attributes: { payment_source_type: 'stripe_payments', currency_code: 'EUR', price_amount_cents: 0 },
          relationships: { payment_gateway: { data: { type, id: paid.gatewayId } } },
        },
      });
      const moved = await api(context).patch(`/api/payment_methods/${id}`, {
        data: { type: 'payment_methods', id, relationships: { payment_gateway: { data: { type, id: paid.gatewayId } } } },
      });
      expect(moved.status).toBe(200);
      expect(moved.body.data.relationships.payment_gateway.links.related).toMatch(new RegExp(`/api/payment_methods/${id}/payment_gateway$`));
    }
    const wrong = await api(context).post('/api/payment_methods', {
      data: {
        type: 'payment_methods',
        attributes: { payment_source_type: 'stripe_payments', currency_code: 'EUR', price_amount_cents: 0 },
        relationships: { payment_gateway: { data: { type: 'markets', id: paid.gatewayId } } },
      },
    });
    expect(wrong.status).toBe(400);
    expect(wrong.body.errors[0].source.pointer).toBe('/data/relationships/payment_gateway/data/type');
  });
});

describe('order filters', () => {
  it('takes payment_source_id_eq', async () => {
    const other = await createCheckout(context);
    const response = await api(context).get(`/api/orders?filter[q][payment_source_id_eq]=${paid.paymentId}`);
    expect(response.status).toBe(200);
    expect(response.body.data.map((order: { id: string }) => order.id)).toEqual([paid.orderId]);
    const none = await api(context).get(`/api/orders?filter[q][payment_source_id_null]=true&filter[q][id_in]=${paid.orderId},${other.orderId}`);
    expect(none.body.data.map((order: { id: string }) => order.id)).toEqual([other.orderId]);
  });

  it('treats number as the string responses show', async () => {
    const order = (await api(context).get(`/api/orders/${paid.orderId}`)).body.data;
    const number: string = order.attributes.number;
    expect(typeof number).toBe('string');
    const exact = await api(context).get(`/api/orders?filter[q][number_eq]=${number}`);
    expect(exact.status).toBe(200);
    expect(exact.body.data.map((found: { id: string }) => found.id)).toEqual([paid.orderId]);
    // String predicates, and a value that is no integer, are filters like any other on a string.
    const start = await api(context).get(`/api/orders?filter[q][number_start]=${number}&filter[q][id_eq]=${paid.orderId}`);
    expect(start.status).toBe(200);
    expect(start.body.data).toHaveLength(1);
    const text = await api(context).get('/api/orders?filter[q][number_eq]=ORD-1');
    expect(text.status).toBe(200);
    expect(text.body.data).toEqual([]);
  });
});

describe("the order read of Commerce Layer's storefront components", () => {
  const componentsInclude = 'available_payment_methods,payment_source,payment_method,line_items.line_item_options.sku_option,line_items.item';

  it('answers the include with the enabled payment methods of the order market and currency, and empty options and items', async () => {
    const created = (url: string, body: unknown) => createdId(context, url, body);
    const market = await created('/api/markets', { data: { type: 'markets', attributes: { name: 'Components', code: `cmp-${Date.now()}` } } });
    const method = (attributes: Record<string, unknown>, relationships: Record<string, unknown> = {}) =>
      created('/api/payment_methods', {
        data: {
          type: 'payment_methods',
          attributes: { payment_source_type: 'stripe_payments', price_amount_cents: 0, ...attributes },
          relationships: { payment_gateway: { data: { type: 'payment_gateways', id: paid.gatewayId } }, ...relationships },
        },
      });
    const inMarket = await method({ currency_code: 'USD', name: 'market USD' }, { market: { data: { type: 'markets', id: market } } });
    const everywhere = await method({ currency_code: 'USD', name: 'every market USD' });
    await method({ currency_code: 'USD', name: 'disabled', _disable: true }, { market: { data: { type: 'markets', id: market } } });
    await method({ currency_code: 'EUR', name: 'other currency' }, { market: { data: { type: 'markets', id: market } } });
    const otherMarket = await created('/api/markets', { data: { type: 'markets', attributes: { name: 'Elsewhere', code: `els-${Date.now()}` } } });
    await method({ currency_code: 'USD', name: 'other market' }, { market: { data: { type: 'markets', id: otherMarket } } });
    const orderId = await created('/api/orders', {
      data: {
        type: 'orders',
        attributes: { currency_code: 'USD' },
        relationships: { market: { data: { type: 'markets', id: market } }, payment_method: { data: { type: 'payment_methods', id: inMarket } } },
      },
    });
    const lineId = await created('/api/line_items', {
      data: { type: 'line_items', attributes: { sku_code: 'TSHIRT', quantity: 1, unit_amount_cents: 1500 }, relationships: { order: { data: { type: 'orders', id: orderId } } } },
    });

    const response = await api(context).get(`/api/orders/${orderId}?include=${componentsInclude}`);
    expect(response.status).toBe(200);
    const relationships = response.body.data.relationships;
    const available = relationships.available_payment_methods.data.map((linkage: { id: string }) => linkage.id).sort();
    expect(available).toEqual([inMarket, everywhere].sort());
    expect(relationships.payment_method.data).toEqual({ type: 'payment_methods', id: inMarket });
    expect(relationships.payment_source.data).toBeNull();
    const line = response.body.included.find((resource: { type: string; id: string }) => resource.type === 'line_items' && resource.id === lineId);
    expect(line.relationships.line_item_options.data).toEqual([]);
    expect(line.relationships.item.data).toBeNull();
    expect(response.body.included.filter((resource: { type: string }) => resource.type === 'payment_methods').map((resource: { id: string }) => resource.id).sort()).toEqual(
      [inMarket, everywhere].sort(),
    );

    // The related resources the links advertise.
    const related = await api(context).get(`/api/orders/${orderId}/available_payment_methods`);
    expect(related.status).toBe(200);
    expect(related.body.data.map((found: { id: string }) => found.id).sort()).toEqual([inMarket, everywhere].sort());
    expect(related.body.meta.record_count).toBe(2);
    const options = await api(context).get(`/api/line_items/${lineId}/line_item_options`);
    expect(options.status).toBe(200);
    expect(options.body.data).toEqual([]);
    const item = await api(context).get(`/api/line_items/${lineId}/item`);
    expect(item.status).toBe(200);
    expect(item.body.data).toBeNull();
    const itemLinkage = await api(context).get(`/api/line_items/${lineId}/relationships/item`);
    expect(itemLinkage.body.data).toBeNull();

    // Below a relationship without records only the schema's names are valid.
    const wrong = await api(context).get(`/api/orders/${orderId}?include=line_items.line_item_options.nope`);
    expect(wrong.status).toBe(400);
    expect(wrong.body.errors[0].code).toBe('INVALID_INCLUDE');
  });

  it('answers it for a sales channel token, with the methods its market offers', async () => {
    const created = (url: string, body: unknown) => createdId(context, url, body);
    const code = `sc-${Date.now()}`;
    const market = await created('/api/markets', { data: { type: 'markets', attributes: { name: 'Storefront', code } } });
    const application = await api(context).post('/api/applications', { data: { type: 'applications', attributes: { name: 'Storefront', kind: 'sales_channel' } } });
    const clientId = application.body.data.attributes.client_id as string;
    const tokenResponse = await context.http
      .post('/oauth/token')
      .set('Content-Type', 'application/json')
      .send({ grant_type: 'client_credentials', client_id: clientId, scope: `market:code:${code}` });
    const token = tokenResponse.body.access_token as string;
    const methodId = await created('/api/payment_methods', {
      data: {
        type: 'payment_methods',
        attributes: { payment_source_type: 'stripe_payments', currency_code: 'EUR', price_amount_cents: 0 },
        relationships: { payment_gateway: { data: { type: 'stripe_gateways', id: paid.gatewayId } }, market: { data: { type: 'markets', id: market } } },
      },
    });
    const asGuest = (request: ReturnType<TestContext['http']['get']>) => request.set('Accept', 'application/vnd.api+json').set('Authorization', `Bearer ${token}`);
    const order = await asGuest(context.http.post('/api/orders'))
      .set('Content-Type', 'application/vnd.api+json')
      .send(JSON.stringify({ data: { type: 'orders', attributes: { currency_code: 'EUR' } } }));
    expect(order.status).toBe(201);
    const response = await asGuest(context.http.get(`/api/orders/${order.body.data.id}?include=${componentsInclude}`));
    expect(response.status).toBe(200);
    const available: { id: string }[] = response.body.data.relationships.available_payment_methods.data;
    // Methods of other markets are beyond the token's reach; those offered everywhere in EUR are in it.
    expect(available.map((linkage) => linkage.id)).toContain(methodId);
    const reachable = await Promise.all(available.map(async (linkage) => (await asGuest(context.http.get(`/api/payment_methods/${linkage.id}`))).status));
    expect(reachable.every((status) => status === 200)).toBe(true);
  });
});
