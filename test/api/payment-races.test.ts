import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { api, jsonApi, startTestContext, type TestContext } from '../support/context.ts';
import { marketPaymentMethod, stripeClient } from '../support/payments.ts';

// Two requests on one order that each decide from what Stripe said a moment ago: they must
// serialise on the order's lock, so that the order never ends in a state neither allowed.

let context: TestContext;
let storefrontToken: string;
let secretKey: string;
let paymentMethodId: string;

const body = (response: { body: unknown }) => response.body as Record<string, any>;

async function created(url: string, document: unknown, token = context.token) {
  const response = await as(token).post(url, document);
  if (response.status !== 201) throw new Error(`${url}: ${response.status} ${response.text}`);
  return body(response).data as { id: string; attributes: Record<string, any> };
}

function as(token: string) {
  const headers = (request: ReturnType<TestContext['http']['get']>) => request.set('Accept', jsonApi).set('Authorization', `Bearer ${token}`);
  return {
    post: (url: string, document: unknown) => headers(context.http.post(url)).set('Content-Type', jsonApi).send(JSON.stringify(document)),
    patch: (url: string, document: unknown) => headers(context.http.patch(url)).set('Content-Type', jsonApi).send(JSON.stringify(document)),
    delete: (url: string) => headers(context.http.delete(url)),
  };
}

beforeAll(async () => {
  context = await startTestContext();
  const marketCode = `race-${randomBytes(3).toString('hex')}`;
  const market = await created('/api/markets', { data: { type: 'markets', attributes: { name: 'Races', code: marketCode } } });
  const channel = await created('/api/applications', { data: { type: 'applications', attributes: { name: 'Shop', kind: 'sales_channel' } } });
  ({ paymentMethodId, secretKey } = await marketPaymentMethod(context, market.id));
  const signIn = await context.http
    .post('/oauth/token')
    .set('Content-Type', 'application/json')
    .send({ grant_type: 'client_credentials', client_id: channel.attributes.client_id, scope: `market:code:${marketCode}` });
  storefrontToken = body(signIn).access_token;
});
afterEach(() => {
  context.standin.clearFaults();
});
afterAll(async () => {
  await context?.close();
});

/** A guest's order with one line, its stripe payment authorized by the shopper's card. */
async function authorizedGuestOrder() {
  const order = await created(
    '/api/orders',
    { data: { type: 'orders', relationships: { payment_method: { data: { type: 'payment_methods', id: paymentMethodId } } } } },
    storefrontToken,
  );
  await created('/api/line_items', {
    data: { type: 'line_items', attributes: { quantity: 1, unit_amount_cents: 4200 }, relationships: { order: { data: { type: 'orders', id: order.id } } } },
  });
  const payment = await created(
    '/api/stripe_payments',
    { data: { type: 'stripe_payments', relationships: { order: { data: { type: 'orders', id: order.id } } } } },
    storefrontToken,
  );
  const stripeId = payment.attributes.stripe_id as string;
  await stripeClient(context, secretKey).paymentIntents.confirm(stripeId, { payment_method: 'pm_card_visa', return_url: 'https://shop.example.com/return' });
  await context.standin.webhooksIdle();
  return { orderId: order.id, paymentId: payment.id, stripeId };
}

it('a _place racing the delete of its stripe payment never leaves a placed order with a canceled PaymentIntent', async () => {
  const { orderId, paymentId, stripeId } = await authorizedGuestOrder();
  const shop = as(storefrontToken);
  // _place reads the PaymentIntent (authorized) and takes its time to hear back; the delete
  // cancels the PaymentIntent meanwhile and is slow to hear back in turn: each decides on
  // what it read before the other wrote.
  context.standin.injectFaults({ kind: 'delay', ms: 500, times: 1, match: { method: 'GET', pathPrefix: `/v1/payment_intents/${stripeId}` } });
  context.standin.injectFaults({ kind: 'delay', ms: 2_000, times: 1, match: { method: 'POST', pathPrefix: `/v1/payment_intents/${stripeId}/cancel` } });
  const readsBefore = context.standin.requestLog().length;
  const place = shop.patch(`/api/orders/${orderId}`, { data: { type: 'orders', id: orderId, attributes: { _place: true } } }).then((response) => response);
  await expect
    .poll(() => context.standin.requestLog().slice(readsBefore).some((entry) => entry.method === 'GET' && entry.path === `/v1/payment_intents/${stripeId}`), { interval: 10 })
    .toBe(true);
  const remove = shop.delete(`/api/stripe_payments/${paymentId}`).then((response) => response);
  const [placed, deleted] = await Promise.all([place, remove]);

  const order = await context.db.order.findUniqueOrThrow({ where: { id: orderId } });
  const intent = context.standin.paymentIntents().find((pi) => pi.id === stripeId)!;
  const payment = await context.db.stripePayment.findUnique({ where: { id: paymentId } });
  // One of them wins; the other is refused, with a reason.
  expect([placed.status, deleted.status].sort(), `${placed.text} ${deleted.text}`).toSatisfy(
    (statuses: number[]) => (statuses[0] === 200 && statuses[1] === 422) || (statuses[0] === 204 && statuses[1] === 422),
  );
  if (placed.status === 200) {
    expect(order).toMatchObject({ status: 'placed', paymentStatus: 'authorized', paymentSourceId: paymentId });
    expect(intent.status).toBe('requires_capture');
    expect(payment).not.toBeNull();
    expect(body(deleted).errors[0]).toMatchObject({ code: 'VALIDATION_ERROR', detail: expect.stringContaining('placed') });
  } else {
    expect(order).toMatchObject({ status: 'draft', paymentSourceId: null });
    expect(intent.status).toBe('canceled');
    expect(payment).toBeNull();
    expect(body(placed).errors[0]).toMatchObject({ code: 'VALIDATION_ERROR', source: { pointer: '/data/attributes/_place' } });
  }
}, 30_000);

it('a _place after the delete took its lock finds no payment source', async () => {
  const { orderId, paymentId, stripeId } = await authorizedGuestOrder();
  const shop = as(storefrontToken);
  // The delete has reserved the payment and is waiting for Stripe's answer to its cancel.
  context.standin.injectFaults({ kind: 'delay', ms: 1_000, times: 1, match: { method: 'POST', pathPrefix: `/v1/payment_intents/${stripeId}/cancel` } });
  const logged = context.standin.requestLog().length;
  const remove = shop.delete(`/api/stripe_payments/${paymentId}`).then((response) => response);
  await expect.poll(() => context.standin.requestLog().slice(logged).some((entry) => entry.path.endsWith('/cancel')), { interval: 10 }).toBe(true);
  const placed = await shop.patch(`/api/orders/${orderId}`, { data: { type: 'orders', id: orderId, attributes: { _place: true } } });
  expect(placed.status, placed.text).toBe(422);
  expect(body(placed).errors[0]).toMatchObject({ source: { pointer: '/data/attributes/_place' }, detail: expect.stringContaining('no payment source') });
  expect((await remove).status).toBe(204);
  expect(await context.db.order.findUniqueOrThrow({ where: { id: orderId } })).toMatchObject({ status: 'draft', paymentSourceId: null });
}, 30_000);

it('a delete after the _place committed is refused: the order is placed', async () => {
  const { orderId, paymentId, stripeId } = await authorizedGuestOrder();
  const placed = await api(context).patch(`/api/orders/${orderId}`, { data: { type: 'orders', id: orderId, attributes: { _place: true } } });
  expect(placed.status, placed.text).toBe(200);
  // With an integration token (a sales channel no longer reaches a placed order for writing).
  const deleted = await api(context).delete(`/api/stripe_payments/${paymentId}`);
  expect(deleted.status).toBe(422);
  expect(body(deleted).errors[0].detail).toContain('placed');
  expect(context.standin.paymentIntents().find((pi) => pi.id === stripeId)!.status).toBe('requires_capture');
}, 30_000);
