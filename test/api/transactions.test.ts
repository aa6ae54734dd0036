import { afterAll, beforeAll, expect, it } from 'vitest';
import { api, startTestContext, type TestContext } from '../support/context.ts';
import { confirm, payableOrder, paymentStatusAfterWebhooks, trigger, type PayableOrder } from '../support/payments.ts';

// Commerce Layer's `transactions`: every kind of an order's money movements in one
// polymorphic collection, each item typed and shaped as its kind.

let context: TestContext;
let order: PayableOrder;
beforeAll(async () => {
  context = await startTestContext();
  order = await payableOrder(context);
  await confirm(order);
  expect(await paymentStatusAfterWebhooks(context, order.orderId)).toBe('authorized');
  for (const attributes of [{ _place: true }, { _capture: true }, { _refund: true, _refund_amount_cents: 500 }]) {
    const response = await trigger(context, order.orderId, attributes);
    expect(response.status, response.text).toBe(200);
  }
});
afterAll(async () => {
  await context?.close();
});

type Resource = { id: string; type: string; links: { self: string }; attributes: Record<string, any>; relationships: Record<string, { data?: unknown }> };

it('lists every kind, each typed and shaped as its own resource, with the query language', async () => {
  const response = await api(context).get(`/api/transactions?filter[q][token_eq]=${order.paymentIntentId}&sort=created_at&include=order`);
  expect(response.status, response.text).toBe(200);
  const data = response.body.data as Resource[];
  expect(data.map((item) => item.type)).toEqual(['authorizations', 'captures', 'refunds']);
  expect(response.body.meta.record_count).toBe(3);
  for (const item of data) expect(item.links.self).toMatch(new RegExp(`/api/${item.type}/${item.id}$`));
  expect(data[0]!.attributes).toMatchObject({ amount_cents: 2500, capture_balance_cents: 0 });
  expect(data[1]!.attributes).toMatchObject({ amount_cents: 2500, refund_balance_cents: 2000 });
  expect(data[1]!.relationships).toHaveProperty('reference_authorization');
  expect(data[2]!.attributes.amount_cents).toBe(500);
  expect((response.body.included as Resource[]).map((item) => `${item.type}:${item.id}`)).toEqual([`orders:${order.orderId}`]);

  const page = await api(context).get(`/api/transactions?filter[q][token_eq]=${order.paymentIntentId}&filter[q][amount_cents_gt]=1000&sort=-number&page[size]=1`);
  expect(page.status, page.text).toBe(200);
  expect(page.body.meta).toMatchObject({ record_count: 2, page_count: 2 });
  expect(page.body.data[0].type).toBe('captures');

  const sparse = await api(context).get(`/api/transactions?filter[q][token_eq]=${order.paymentIntentId}&fields[captures]=amount_cents&fields[authorizations]=number`);
  const byType = Object.fromEntries((sparse.body.data as Resource[]).map((item) => [item.type, Object.keys(item.attributes)]));
  expect(byType).toMatchObject({ captures: ['amount_cents'], authorizations: ['number'] });
});

it('retrieves one transaction as its kind, and serves them from the order typed per kind', async () => {
  const captures = await api(context).get(`/api/orders/${order.orderId}/captures`);
  const captureId = captures.body.data[0].id as string;
  const one = await api(context).get(`/api/transactions/${captureId}?include=order`);
  expect(one.status, one.text).toBe(200);
  expect(one.body.data).toMatchObject({ type: 'captures', id: captureId });
  expect(one.body.included[0].type).toBe('orders');
  expect(one.body.data.relationships).toHaveProperty('reference_authorization');

  const withOrder = await api(context).get(`/api/orders/${order.orderId}?include=transactions`);
  expect(withOrder.status, withOrder.text).toBe(200);
  const linkage = withOrder.body.data.relationships.transactions.data as { type: string }[];
  expect(linkage.map((item) => item.type).sort()).toEqual(['authorizations', 'captures', 'refunds']);
  expect((withOrder.body.included as Resource[]).map((item) => item.type).sort()).toEqual(['authorizations', 'captures', 'refunds']);
  const related = await api(context).get(`/api/orders/${order.orderId}/relationships/transactions`);
  expect((related.body.data as { type: string }[]).map((item) => item.type).sort()).toEqual(['authorizations', 'captures', 'refunds']);
  expect((await api(context).get(`/api/orders/${order.orderId}/transactions`)).body.data).toHaveLength(3);
  // A list of records: Stripe and the triggers make them.
  expect((await api(context).post('/api/transactions', { data: { type: 'transactions', attributes: {} } })).status).toBe(405);
});

it('fills the transaction attributes Stripe knows from the charge: payment method type, card checks, risk level', async () => {
  const response = await api(context).get(`/api/transactions?filter[q][token_eq]=${order.paymentIntentId}&sort=created_at`);
  const intent = context.standin.paymentIntents().find((pi) => pi.id === order.paymentIntentId)!;
  const charge = await order.stripe.charges.retrieve(intent.latest_charge as string);
  const checks = charge.payment_method_details!.card!.checks!;
  expect(response.body.data).toHaveLength(3);
  for (const item of response.body.data as Resource[]) {
    // A capture and a refund move the authorization's charge: its details are theirs.
    expect(item.attributes).toMatchObject({
      payment_method_type: 'card',
      cvv_code: checks.cvc_check,
      cvv_message: `CVC check: ${checks.cvc_check}`,
      avs_code: checks.address_postal_code_check,
      fraud_review: charge.outcome!.risk_level,
    });
    expect(item.attributes).toMatchObject({ cvv_code: 'pass', fraud_review: 'normal' });
  }
});
