import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, createCheckout, createdId, startTestContext, type TestContext } from '../support/context.ts';
import { confirm, payableOrder, stripeClient, type PayableOrder } from '../support/payments.ts';

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
    // Methods offered in every market count, so the currency is one no other test uses.
    const inMarket = await method({ currency_code: 'SEK', name: 'market SEK' }, { market: { data: { type: 'markets', id: market } } });
    const everywhere = await method({ currency_code: 'SEK', name: 'every market SEK' });
    await method({ currency_code: 'SEK', name: 'disabled', _disable: true }, { market: { data: { type: 'markets', id: market } } });
    await method({ currency_code: 'EUR', name: 'other currency' }, { market: { data: { type: 'markets', id: market } } });
    const otherMarket = await created('/api/markets', { data: { type: 'markets', attributes: { name: 'Elsewhere', code: `els-${Date.now()}` } } });
    await method({ currency_code: 'SEK', name: 'other market' }, { market: { data: { type: 'markets', id: otherMarket } } });
    const orderId = await created('/api/orders', {
      data: {
        type: 'orders',
        attributes: { currency_code: 'SEK' },
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

describe("the payment side of Commerce Layer's order", () => {
  const attributesOf = async (orderId: string) => (await api(context).get(`/api/orders/${orderId}`)).body.data.attributes as Record<string, unknown>;
  const patch = (orderId: string, attributes: Record<string, unknown>) => api(context).patch(`/api/orders/${orderId}`, { data: { type: 'orders', id: orderId, attributes } });
  const placed = async () => {
    const order = await payableOrder(context);
    await confirm(order);
    const response = await patch(order.orderId, { _place: true });
    expect(response.status).toBe(200);
    return order;
  };

  it('shows fulfillment_status, guest, customer_type and the lifecycle timestamps', async () => {
    const { orderId } = await createCheckout(context);
    expect(await attributesOf(orderId)).toMatchObject({
      fulfillment_status: 'unfulfilled',
      guest: true,
      customer_type: null,
      placed_at: null,
      approved_at: null,
      cancelled_at: null,
      payment_updated_at: null,
      archived_at: null,
      refreshed_at: null,
    });
    const listed = await api(context).get(`/api/orders?filter[q][id_eq]=${orderId}&filter[q][guest_true]=true&filter[q][fulfillment_status_eq]=unfulfilled&sort=-approved_at`);
    expect(listed.status).toBe(200);
    expect(listed.body.data).toHaveLength(1);
  });

  it('decides customer_type when a customer order is placed: new, then returning', async () => {
    const customerId = await createdId(context, '/api/customers', { data: { type: 'customers', attributes: { email: `ct-${Date.now()}@example.com` } } });
    const types: unknown[] = [];
    for (let index = 0; index < 2; index += 1) {
      const checkout = await createCheckout(context, { lines: [] });
      const orderId = await createdId(context, '/api/orders', {
        data: {
          type: 'orders',
          attributes: { currency_code: 'EUR' },
          relationships: { customer: { data: { type: 'customers', id: customerId } }, payment_method: { data: { type: 'payment_methods', id: checkout.paymentMethodId } } },
        },
      });
      expect((await attributesOf(orderId)).guest).toBe(false);
      await createdId(context, '/api/line_items', {
        data: { type: 'line_items', attributes: { sku_code: 'A', quantity: 1, unit_amount_cents: 900 }, relationships: { order: { data: { type: 'orders', id: orderId } } } },
      });
      const payment = await api(context).post('/api/stripe_payments', { data: { type: 'stripe_payments', relationships: { order: { data: { type: 'orders', id: orderId } } } } });
      await stripeClient(context, checkout.secretKey).paymentIntents.confirm(payment.body.data.attributes.stripe_id, { payment_method: 'pm_card_visa', return_url: 'https://shop.example.com/return' });
      expect((await patch(orderId, { _place: true })).status).toBe(200);
      types.push((await attributesOf(orderId)).customer_type);
    }
    expect(types).toEqual(['new', 'returning']);
  });

  it('_approve approves a placed order once; sales channels may not send it', async () => {
    const order = await placed();
    const approved = await patch(order.orderId, { _approve: true });
    expect(approved.status).toBe(200);
    expect(approved.body.data.attributes).toMatchObject({ status: 'approved', payment_status: 'authorized' });
    expect(approved.body.data.attributes.approved_at).toEqual(expect.any(String));
    const again = await patch(order.orderId, { _approve: true });
    expect(again.status).toBe(422);
    expect(again.body.errors[0].source.pointer).toBe('/data/attributes/_approve');
    // Captured after approval, as Commerce Layer allows.
    expect((await patch(order.orderId, { _capture: true })).body.data.attributes.payment_status).toBe('paid');
  });

  it('_approve_and_capture captures through _capture, once, then approves', async () => {
    const order = await placed();
    const [first, second] = await Promise.all([patch(order.orderId, { _approve_and_capture: true }), patch(order.orderId, { _approve_and_capture: true })]);
    // Racing requests: one captures, the other waits its turn (409) or finds it captured.
    expect([first.status, second.status].sort()).toContain(200);
    const retried = await patch(order.orderId, { _approve_and_capture: true });
    expect(retried.status).toBe(200);
    expect(retried.body.data.attributes).toMatchObject({ status: 'approved', payment_status: 'paid' });
    const captures = await api(context).get(`/api/orders/${order.orderId}/captures`);
    expect(captures.body.data).toHaveLength(1);
    const intent = await order.stripe.paymentIntents.retrieve(order.paymentIntentId);
    expect(intent.amount_received).toBe(2500);

    const draft = await createCheckout(context);
    const refused = await patch(draft.orderId, { _approve_and_capture: true });
    expect(refused.status).toBe(422);
    expect(refused.body.errors[0].source.pointer).toBe('/data/attributes/_approve_and_capture');
  });

  it('moves the money once when _capture and _approve_and_capture race', async () => {
    const order = await placed();
    const answers = await Promise.all([patch(order.orderId, { _capture: true }), patch(order.orderId, { _approve_and_capture: true }), patch(order.orderId, { _capture: true })]);
    // Whoever loses waits its turn (409) or finds the capture made (422 for _capture).
    for (const answer of answers) expect([200, 409, 422]).toContain(answer.status);
    const settled = await patch(order.orderId, { _approve_and_capture: true });
    expect(settled.body.data.attributes).toMatchObject({ status: 'approved', payment_status: 'paid' });
    expect((await api(context).get(`/api/orders/${order.orderId}/captures`)).body.data).toHaveLength(1);
    expect((await order.stripe.paymentIntents.retrieve(order.paymentIntentId)).amount_received).toBe(2500);
  });

  it('names _approve_and_capture when the capture it makes is refused', async () => {
    const order = await placed();
    await patch(order.orderId, { _cancel: true });
    const refused = await patch(order.orderId, { _approve_and_capture: true });
    expect(refused.status).toBe(422);
    expect(refused.body.errors[0].source.pointer).toBe('/data/attributes/_approve_and_capture');
  });

  it('_archive and _unarchive set and clear archived_at', async () => {
    const { orderId } = await createCheckout(context);
    const archived = await patch(orderId, { _archive: true });
    expect(archived.status).toBe(200);
    expect(archived.body.data.attributes.archived_at).toEqual(expect.any(String));
    const back = await patch(orderId, { _unarchive: true });
    expect(back.body.data.attributes.archived_at).toBeNull();
  });

  it("_refresh computes the total again from the payment method's current price", async () => {
    const checkout = await createCheckout(context, { priceAmountCents: 100 });
    expect((await attributesOf(checkout.orderId)).total_amount_cents).toBe(2600);
    await api(context).patch(`/api/payment_methods/${checkout.paymentMethodId}`, {
      data: { type: 'payment_methods', id: checkout.paymentMethodId, attributes: { price_amount_cents: 300 } },
    });
    expect((await attributesOf(checkout.orderId)).total_amount_cents).toBe(2600);
    const refreshed = await patch(checkout.orderId, { _refresh: true });
    expect(refreshed.status).toBe(200);
    expect(refreshed.body.data.attributes).toMatchObject({ total_amount_cents: 2800, payment_method_amount_cents: 300 });
    expect(refreshed.body.data.attributes.refreshed_at).toEqual(expect.any(String));
  });

  it('_authorization_amount_cents is the amount _authorize checks the PaymentIntent for', async () => {
    const order = await payableOrder(context);
    await confirm(order);
    const alone = await patch(order.orderId, { _authorization_amount_cents: 2500 });
    expect(alone.status).toBe(422);
    const other = await patch(order.orderId, { _authorize: true, _authorization_amount_cents: 1000 });
    expect(other.status).toBe(422);
    expect(other.body.errors[0].detail).toContain('_authorization_amount_cents');
    const same = await patch(order.orderId, { _authorize: true, _authorization_amount_cents: 2500 });
    expect(same.status).toBe(200);
    expect(same.body.data.attributes.payment_status).toBe('authorized');
  });

  it('deletes draft orders without a payment, and records nothing depends on', async () => {
    const draft = await createCheckout(context);
    const lines = (await api(context).get(`/api/orders/${draft.orderId}/line_items`)).body.data as { id: string }[];
    // The payment method is in use by the order: not yet.
    const methodInUse = await api(context).delete(`/api/payment_methods/${draft.paymentMethodId}`);
    expect(methodInUse.status).toBe(422);
    expect(methodInUse.body.errors[0].source.pointer).toBe('/data/attributes/base');
    expect((await api(context).delete(`/api/orders/${draft.orderId}`)).status).toBe(204);
    expect((await api(context).get(`/api/orders/${draft.orderId}`)).status).toBe(404);
    expect((await api(context).get(`/api/line_items/${lines[0]!.id}`)).status).toBe(404);
    expect((await api(context).delete(`/api/payment_methods/${draft.paymentMethodId}`)).status).toBe(204);

    const withPayment = await payableOrder(context);
    const refused = await api(context).delete(`/api/orders/${withPayment.orderId}`);
    expect(refused.status).toBe(422);
    expect(refused.body.errors[0].detail).toContain('stripe payment');
    const placedOrder = await placed();
    expect((await api(context).delete(`/api/orders/${placedOrder.orderId}`)).status).toBe(422);

    const market = await createdId(context, '/api/markets', { data: { type: 'markets', attributes: { name: 'Gone', code: `gone-${Date.now()}` } } });
    const marketOrder = await createdId(context, '/api/orders', { data: { type: 'orders', attributes: { currency_code: 'EUR' }, relationships: { market: { data: { type: 'markets', id: market } } } } });
    expect((await api(context).delete(`/api/markets/${market}`)).status).toBe(422);
    const customer = await createdId(context, '/api/customers', { data: { type: 'customers', attributes: { email: `gone-${Date.now()}@example.com` } } });
    const customerOrder = await createdId(context, '/api/orders', { data: { type: 'orders', attributes: { currency_code: 'EUR' }, relationships: { customer: { data: { type: 'customers', id: customer } } } } });
    expect((await api(context).delete(`/api/customers/${customer}`)).status).toBe(422);
    expect((await api(context).delete(`/api/orders/${marketOrder}`)).status).toBe(204);
    expect((await api(context).delete(`/api/orders/${customerOrder}`)).status).toBe(204);
    expect((await api(context).delete(`/api/markets/${market}`)).status).toBe(204);
    expect((await api(context).delete(`/api/customers/${customer}`)).status).toBe(204);
  });
});
