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
