import { afterAll, beforeAll, expect, it } from 'vitest';
import { api, createCheckout, startTestContext, type Checkout, type TestContext } from '../support/context.ts';
import { stripeClient, trigger } from '../support/payments.ts';

// Commerce Layer's stripe_id and client_secret, "created if null": a PaymentIntent made
// elsewhere (the storefront's own backend) is attached instead of created, once checked at
// Stripe on the gateway's account.

let context: TestContext;
beforeAll(async () => {
  context = await startTestContext();
});
afterAll(async () => {
  await context?.close();
});

function attach(orderId: string, attributes: Record<string, unknown>) {
  return api(context).post('/api/stripe_payments', {
    data: { type: 'stripe_payments', attributes, relationships: { order: { data: { type: 'orders', id: orderId } } } },
  });
}

/** A PaymentIntent the merchant's backend made with the gateway's key (the checkout's total is 25.00 EUR). */
function intentElsewhere(checkout: Checkout, amount = 2500, currency = 'eur') {
  return stripeClient(context, checkout.secretKey).paymentIntents.create({ amount, currency, capture_method: 'manual' });
}

const creates = () => context.standin.requestLog().filter((entry) => entry.method === 'POST' && entry.path === '/v1/payment_intents').length;

it('attaches a PaymentIntent made elsewhere instead of creating one, and the order is paid through it', async () => {
  const checkout = await createCheckout(context);
  const intent = await intentElsewhere(checkout);
  const before = creates();
  const attached = await attach(checkout.orderId, { stripe_id: intent.id, client_secret: intent.client_secret });
  expect(attached.status, attached.text).toBe(201);
  expect(attached.body.data.attributes).toMatchObject({ stripe_id: intent.id, client_secret: intent.client_secret, mismatched_amounts: false });
  expect(creates()).toBe(before);
  const stored = await context.db.order.findUniqueOrThrow({ where: { id: checkout.orderId } });
  expect(stored).toMatchObject({ paymentSourceType: 'stripe_payments', paymentSourceId: attached.body.data.id });

  await stripeClient(context, checkout.secretKey).paymentIntents.confirm(intent.id, { payment_method: 'pm_card_visa', return_url: 'https://shop.example.com/return' });
  const placed = await trigger(context, checkout.orderId, { _place: true });
  expect(placed.status, placed.text).toBe(200);
  expect(placed.body.data.attributes).toMatchObject({ status: 'placed', payment_status: 'authorized' });
});

it('fills in the client secret when only stripe_id is given', async () => {
  const checkout = await createCheckout(context);
  const intent = await intentElsewhere(checkout);
  const attached = await attach(checkout.orderId, { stripe_id: intent.id });
  expect(attached.status, attached.text).toBe(201);
  expect(attached.body.data.attributes.client_secret).toBe(intent.client_secret);
});

it('refuses a PaymentIntent of another amount or currency, of another account, or canceled, naming stripe_id', async () => {
  const checkout = await createCheckout(context);
  const pointer = { source: { pointer: '/data/attributes/stripe_id' } };
  const cheaper = await attach(checkout.orderId, { stripe_id: (await intentElsewhere(checkout, 2400)).id });
  expect(cheaper.status).toBe(422);
  expect(cheaper.body.errors[0]).toMatchObject({ ...pointer, detail: expect.stringContaining('order total') });
  const dollars = await attach(checkout.orderId, { stripe_id: (await intentElsewhere(checkout, 2500, 'usd')).id });
  expect(dollars.status).toBe(422);
  expect(dollars.body.errors[0]).toMatchObject(pointer);
  // Made on a connected account: the gateway charges on its own account, where it does not exist.
  const otherAccount = await stripeClient(context, checkout.secretKey).paymentIntents.create({ amount: 2500, currency: 'eur' }, { stripeAccount: 'acct_1Other' });
  const foreign = await attach(checkout.orderId, { stripe_id: otherAccount.id });
  expect(foreign.status).toBe(422);
  expect(foreign.body.errors[0]).toMatchObject(pointer);
  const canceled = await intentElsewhere(checkout);
  await stripeClient(context, checkout.secretKey).paymentIntents.cancel(canceled.id);
  const refused = await attach(checkout.orderId, { stripe_id: canceled.id });
  expect(refused.status).toBe(422);
  expect(refused.body.errors[0]).toMatchObject({ ...pointer, detail: expect.stringContaining('canceled') });
  const malformed = await attach(checkout.orderId, { stripe_id: 'ch_123' });
  expect(malformed.status).toBe(422);
  expect(malformed.body.errors[0]).toMatchObject(pointer);
  expect(await context.db.stripePayment.count({ where: { orderId: checkout.orderId } })).toBe(0);
});

it('refuses a PaymentIntent attached to another payment, here or by its metadata', async () => {
  const first = await createCheckout(context);
  const second = await createCheckout(context);
  const intent = await intentElsewhere(first);
  expect((await attach(first.orderId, { stripe_id: intent.id })).status).toBe(201);
  // The same gateway, another order of the same total.
  const sameGateway = await createCheckout(context);
  await api(context).patch(`/api/orders/${sameGateway.orderId}`, {
    data: { type: 'orders', id: sameGateway.orderId, relationships: { payment_method: { data: { type: 'payment_methods', id: first.paymentMethodId } } } },
  });
  const twice = await attach(sameGateway.orderId, { stripe_id: intent.id });
  expect(twice.status).toBe(422);
  expect(twice.body.errors[0]).toMatchObject({ source: { pointer: '/data/attributes/stripe_id' }, detail: expect.stringContaining('already attached') });
  // One this server created for an order: its metadata names that payment.
  const made = await api(context).post('/api/stripe_payments', {
    data: { type: 'stripe_payments', relationships: { order: { data: { type: 'orders', id: second.orderId } } } },
  });
  expect(made.status).toBe(201);
  await context.db.stripePayment.update({ where: { id: made.body.data.id }, data: { stripeId: null } });
  const other = await createCheckout(context);
  await api(context).patch(`/api/orders/${other.orderId}`, {
    data: { type: 'orders', id: other.orderId, relationships: { payment_method: { data: { type: 'payment_methods', id: second.paymentMethodId } } } },
  });
  const named = await attach(other.orderId, { stripe_id: made.body.data.attributes.stripe_id });
  expect(named.status).toBe(422);
  expect(named.body.errors[0].detail).toContain(made.body.data.id);
});

it('refuses a client secret that is not the PaymentIntent\'s, or one without stripe_id, naming client_secret', async () => {
  const checkout = await createCheckout(context);
  const intent = await intentElsewhere(checkout);
  const other = await intentElsewhere(checkout);
  const wrong = await attach(checkout.orderId, { stripe_id: intent.id, client_secret: other.client_secret });
  expect(wrong.status).toBe(422);
  expect(wrong.body.errors[0]).toMatchObject({ source: { pointer: '/data/attributes/client_secret' } });
  const alone = await attach(checkout.orderId, { client_secret: intent.client_secret });
  expect(alone.status).toBe(422);
  expect(alone.body.errors[0]).toMatchObject({ source: { pointer: '/data/attributes/client_secret' } });
});

it('attaches one PaymentIntent once when two orders ask for it at the same time', async () => {
  const first = await createCheckout(context);
  const second = await createCheckout(context);
  await api(context).patch(`/api/orders/${second.orderId}`, {
    data: { type: 'orders', id: second.orderId, relationships: { payment_method: { data: { type: 'payment_methods', id: first.paymentMethodId } } } },
  });
  const intent = await intentElsewhere(first);
  const answers = await Promise.all([attach(first.orderId, { stripe_id: intent.id }), attach(second.orderId, { stripe_id: intent.id })]);
  expect(answers.map((answer) => answer.status).sort(), answers.map((answer) => answer.text).join(' ')).toEqual([201, 422]);
  const refused = answers.find((answer) => answer.status === 422)!;
  expect(refused.body.errors[0]).toMatchObject({ source: { pointer: '/data/attributes/stripe_id' }, detail: expect.stringContaining('already attached') });
  expect(await context.db.stripePayment.count({ where: { stripeId: intent.id } })).toBe(1);
});

it('supersedes the order\'s earlier payment like a create: its PaymentIntent is canceled and the attached one is the source', async () => {
  const checkout = await createCheckout(context);
  const earlier = await api(context).post('/api/stripe_payments', {
    data: { type: 'stripe_payments', relationships: { order: { data: { type: 'orders', id: checkout.orderId } } } },
  });
  expect(earlier.status, earlier.text).toBe(201);
  const earlierIntent = earlier.body.data.attributes.stripe_id as string;
  const intent = await intentElsewhere(checkout);
  const attached = await attach(checkout.orderId, { stripe_id: intent.id });
  expect(attached.status, attached.text).toBe(201);
  const atStripe = (id: string) => context.standin.paymentIntents().find((pi) => pi.id === id)!;
  expect(atStripe(earlierIntent).status).toBe('canceled');
  expect(atStripe(intent.id).status).toBe('requires_payment_method');
  const stored = await context.db.order.findUniqueOrThrow({ where: { id: checkout.orderId } });
  expect(stored).toMatchObject({ paymentSourceType: 'stripe_payments', paymentSourceId: attached.body.data.id });
  const read = await api(context).get(`/api/orders/${checkout.orderId}?include=payment_source`);
  expect(read.body.data.relationships.payment_source.data).toEqual({ type: 'stripe_payments', id: attached.body.data.id });
});
