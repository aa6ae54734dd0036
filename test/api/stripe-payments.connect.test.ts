import { afterAll, beforeAll, expect, it } from 'vitest';
import { api, createCheckout, startTestContext, type TestContext } from '../support/context.ts';

// Stripe Connect on a stripe payment: `on_behalf_of` and `transfer_group` go to the
// PaymentIntent as Stripe defines them (charges on the platform's account), beside the
// gateway's `connected_account` (direct charges on the connected account).

let context: TestContext;
beforeAll(async () => {
  context = await startTestContext();
});
afterAll(async () => {
  await context?.close();
});

function createPayment(orderId: string, options: Record<string, unknown>) {
  return api(context).post('/api/stripe_payments', {
    data: { type: 'stripe_payments', attributes: { options }, relationships: { order: { data: { type: 'orders', id: orderId } } } },
  });
}

const intentOf = (id: string) => context.standin.paymentIntents().find((pi) => pi.id === id)!;

it('sends on_behalf_of and transfer_group to the PaymentIntent and shows them as the PaymentIntent has them', async () => {
  const checkout = await createCheckout(context);
  const created = await createPayment(checkout.orderId, { on_behalf_of: 'acct_1Seller', transfer_group: `order-${checkout.orderId}` });
  expect(created.status, created.text).toBe(201);
  const { attributes } = created.body.data;
  expect(attributes).toMatchObject({ on_behalf_of: 'acct_1Seller', transfer_group: `order-${checkout.orderId}`, connected_account: null });
  const intent = intentOf(attributes.stripe_id);
  expect(intent).toMatchObject({ on_behalf_of: 'acct_1Seller', transfer_group: `order-${checkout.orderId}` });
  // On the platform's account: no Stripe-Account header.
  const request = context.standin.requestLog().find((entry) => entry.method === 'POST' && entry.path === '/v1/payment_intents' && entry.body.transfer_group === `order-${checkout.orderId}`);
  expect(request?.stripeAccount).toBeUndefined();
  expect(request?.body.on_behalf_of).toBe('acct_1Seller');
});

it('sets a transfer group later with _update, once, as Stripe allows', async () => {
  const checkout = await createCheckout(context);
  const created = await createPayment(checkout.orderId, {});
  expect(created.status, created.text).toBe(201);
  const id = created.body.data.id as string;
  expect(created.body.data.attributes.transfer_group).toBeNull();
  const patched = await api(context).patch(`/api/stripe_payments/${id}`, {
    data: { type: 'stripe_payments', id, attributes: { options: { transfer_group: 'group-later' }, _update: true } },
  });
  expect(patched.status, patched.text).toBe(200);
  expect(patched.body.data.attributes.transfer_group).toBe('group-later');
  expect(intentOf(created.body.data.attributes.stripe_id).transfer_group).toBe('group-later');
});

it('refuses on_behalf_of on a gateway that charges on its connected account, and a malformed one, naming options', async () => {
  const connected = await createCheckout(context);
  const gatewayPatch = await api(context).patch(`/api/stripe_gateways/${connected.gatewayId}`, {
    data: { type: 'stripe_gateways', id: connected.gatewayId, attributes: { connected_account: 'acct_1Connected' } },
  });
  expect(gatewayPatch.status, gatewayPatch.text).toBe(200);
  const refused = await createPayment(connected.orderId, { on_behalf_of: 'acct_1Seller' });
  expect(refused.status).toBe(422);
  expect(refused.body.errors[0]).toMatchObject({ source: { pointer: '/data/attributes/options' }, detail: expect.stringContaining('connected_account') });
  // A transfer group is fine there: the direct charge carries it, with the Stripe-Account header.
  const grouped = await createPayment(connected.orderId, { transfer_group: 'direct-group' });
  expect(grouped.status, grouped.text).toBe(201);
  expect(grouped.body.data.attributes).toMatchObject({ connected_account: 'acct_1Connected', transfer_group: 'direct-group', on_behalf_of: null });
  const request = context.standin.requestLog().find((entry) => entry.path === '/v1/payment_intents' && entry.body.transfer_group === 'direct-group');
  expect(request?.stripeAccount).toBe('acct_1Connected');

  const plain = await createCheckout(context);
  const malformed = await createPayment(plain.orderId, { on_behalf_of: 'seller' });
  expect(malformed.status).toBe(422);
  expect(malformed.body.errors[0].source.pointer).toMatch(/^\/data\/attributes\/options/);
});
