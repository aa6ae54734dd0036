import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { api, startTestContext, type TestContext } from '../support/context.ts';
import { confirm, getOrder, payableOrder, paymentStatusAfterWebhooks, trigger, type PayableOrder } from '../support/payments.ts';

// The whole journey through HTTP: the API, the Stripe stand-in confirming as Stripe.js
// would, and its signed webhooks arriving at the API.

let context: TestContext;
beforeAll(async () => {
  context = await startTestContext();
});
afterEach(() => {
  context.standin.clearFaults();
  context.standin.releaseWebhooks();
});
afterAll(async () => {
  await context?.close();
});

type Included = { type: string; id: string; attributes: Record<string, unknown>; relationships: Record<string, { data?: unknown }> };

async function transactions(orderId: string) {
  const body = await getOrder(context, orderId, '?include=authorizations,captures,refunds,voids');
  const included = (body.included ?? []) as Included[];
  const of = (type: string) => included.filter((resource) => resource.type === type);
  return { order: body.data, authorizations: of('authorizations'), captures: of('captures'), refunds: of('refunds'), voids: of('voids') };
}

async function placed(options: Parameters<typeof payableOrder>[1] = {}): Promise<PayableOrder> {
  const order = await payableOrder(context, options);
  await confirm(order);
  expect(await paymentStatusAfterWebhooks(context, order.orderId)).toBe('authorized');
  const response = await trigger(context, order.orderId, { _place: true });
  expect(response.status, response.text).toBe(200);
  return order;
}

describe('filtering orders on their transactions', () => {
  it('counts only the related kind: a placed order has an authorization, no capture', async () => {
    const order = await placed();
    const matching = async (filter: string) => {
      const response = await api(context).get(`/api/orders?filter[q][id_eq]=${order.orderId}&${filter}`);
      expect(response.status, response.text).toBe(200);
      return response.body.data.length;
    };
    expect(await matching('filter[q][authorizations_amount_cents_gt]=0')).toBe(1);
    expect(await matching('filter[q][captures_amount_cents_gt]=0')).toBe(0);
  });
});

describe('the journey: pay, place, capture, refund', () => {
  it('moves the order unpaid -> authorized -> paid -> partially_refunded -> refunded, recording each transaction', async () => {
    const order = await payableOrder(context);
    expect((await getOrder(context, order.orderId)).data.attributes.payment_status).toBe('unpaid');

    // The shopper pays; Stripe tells us by webhook.
    const intent = await confirm(order);
    expect(intent).toMatchObject({ status: 'requires_capture' });
    expect(await paymentStatusAfterWebhooks(context, order.orderId)).toBe('authorized');
    const payment = await api(context).get(`/api/stripe_payments/${order.paymentId}`);
    expect(payment.body.data.attributes.payment_method).toMatchObject({ id: expect.stringMatching(/^pm_/), type: 'card', card: { brand: 'visa', last4: '4242' } });
    expect(payment.body.data.attributes.payment_instrument).toMatchObject({ issuer_type: 'card', card_type: 'visa', last4: '4242' });
    expect(payment.body.data.attributes.charge_id).toMatch(/^ch_/);

    const place = await trigger(context, order.orderId, { _place: true }, '?include=authorizations');
    expect(place.status, place.text).toBe(200);
    expect(place.body.data.attributes).toMatchObject({ status: 'placed', payment_status: 'authorized', editable: false });
    expect(place.body.data.attributes.placed_at).toEqual(expect.any(String));
    expect(place.body.data.attributes).not.toHaveProperty('_place');
    const [authorization] = place.body.included as Included[];
    expect(authorization).toMatchObject({
      type: 'authorizations',
      attributes: {
        amount_cents: 2500,
        amount_float: 25,
        formatted_amount: '€25.00',
        currency_code: 'EUR',
        succeeded: true,
        token: order.paymentIntentId,
        gateway_transaction_id: payment.body.data.attributes.charge_id,
        capture_balance_cents: 2500,
        void_balance_cents: 2500,
      },
    });
    expect(authorization!.attributes.number).toMatch(/^\d+\/A\/1$/);

    const capture = await trigger(context, order.orderId, { _capture: true });
    expect(capture.status, capture.text).toBe(200);
    expect(capture.body.data.attributes).toMatchObject({ status: 'placed', payment_status: 'paid' });
    expect(context.standin.paymentIntents().find((pi) => pi.id === order.paymentIntentId)).toMatchObject({ status: 'succeeded', amount_received: 2500 });

    const partial = await trigger(context, order.orderId, { _refund: true, _refund_amount_cents: 1000 });
    expect(partial.status, partial.text).toBe(200);
    expect(partial.body.data.attributes.payment_status).toBe('partially_refunded');

    const rest = await trigger(context, order.orderId, { _refund: true });
    expect(rest.status, rest.text).toBe(200);
    expect(rest.body.data.attributes.payment_status).toBe('refunded');

    const again = await trigger(context, order.orderId, { _refund: true });
    expect(again.status).toBe(422);
    expect(again.body.errors[0]).toMatchObject({ code: 'VALIDATION_ERROR', source: { pointer: '/data/attributes/_refund' } });

    // The webhooks of all this arrive too, and change nothing more.
    expect(await paymentStatusAfterWebhooks(context, order.orderId)).toBe('refunded');
    const recorded = await transactions(order.orderId);
    expect(recorded.authorizations).toHaveLength(1);
    expect(recorded.captures).toHaveLength(1);
    expect(recorded.captures[0]!.attributes).toMatchObject({ amount_cents: 2500, succeeded: true, refund_balance_cents: 0 });
    expect(recorded.captures[0]!.relationships.reference_authorization).toBeDefined();
    expect(recorded.refunds.map((refund) => refund.attributes.amount_cents).sort()).toEqual([1000, 1500]);
    expect(recorded.refunds.every((refund) => String(refund.attributes.gateway_transaction_id).startsWith('re_'))).toBe(true);
    expect(recorded.voids).toHaveLength(0);

    // Every delivery was signed well enough for the API to accept it.
    const deliveries = context.standin.webhookDeliveries().filter((delivery) => delivery.status !== 'failed');
    expect(deliveries.length).toBeGreaterThan(0);
    expect(deliveries.every((delivery) => delivery.responseStatus === 200)).toBe(true);
  });

  it('refuses a refund above what is left, pointing at the amount', async () => {
    const order = await placed();
    expect((await trigger(context, order.orderId, { _capture: true })).status).toBe(200);
    const tooMuch = await trigger(context, order.orderId, { _refund: true, _refund_amount_cents: 2501 });
    expect(tooMuch.status).toBe(422);
    expect(tooMuch.body.errors[0]).toMatchObject({ source: { pointer: '/data/attributes/_refund_amount_cents' } });
    expect(tooMuch.body.errors[0].detail).toContain('€25.00');
    expect((await trigger(context, order.orderId, { _refund_amount_cents: 100 })).status).toBe(422);
    expect((await getOrder(context, order.orderId)).data.attributes.payment_status).toBe('paid');
  });

  it('captures on place when the payment method has auto_capture', async () => {
    const order = await payableOrder(context, { autoCapture: true });
    await confirm(order);
    await context.standin.webhooksIdle();
    const response = await trigger(context, order.orderId, { _place: true });
    expect(response.status, response.text).toBe(200);
    expect(response.body.data.attributes).toMatchObject({ status: 'placed', payment_status: 'paid' });
    expect((await transactions(order.orderId)).captures).toHaveLength(1);
  });

  it('places with _place even before the webhook arrived, reading the PaymentIntent', async () => {
    const order = await payableOrder(context);
    context.standin.holdWebhooks();
    await confirm(order);
    const response = await trigger(context, order.orderId, { _place: true });
    expect(response.status, response.text).toBe(200);
    expect(response.body.data.attributes).toMatchObject({ status: 'placed', payment_status: 'authorized' });
    context.standin.releaseWebhooks();
    expect(await paymentStatusAfterWebhooks(context, order.orderId)).toBe('authorized');
  });

  it('records _authorize without placing, and _place then keeps the one authorization', async () => {
    const order = await payableOrder(context);
    await confirm(order);
    const authorize = await trigger(context, order.orderId, { _authorize: true });
    expect(authorize.status, authorize.text).toBe(200);
    expect(authorize.body.data.attributes).toMatchObject({ status: 'draft', payment_status: 'authorized' });
    expect((await trigger(context, order.orderId, { _place: true })).status).toBe(200);
    expect((await transactions(order.orderId)).authorizations).toHaveLength(1);
  });

  it('places an order whose PaymentIntent was already captured at Stripe as paid, recording both transactions', async () => {
    const order = await payableOrder(context);
    await confirm(order);
    await order.stripe.paymentIntents.capture(order.paymentIntentId);
    expect(await paymentStatusAfterWebhooks(context, order.orderId)).toBe('paid');
    const response = await trigger(context, order.orderId, { _place: true });
    expect(response.status, response.text).toBe(200);
    expect(response.body.data.attributes).toMatchObject({ status: 'placed', payment_status: 'paid' });
    const recorded = await transactions(order.orderId);
    expect(recorded.authorizations).toHaveLength(1);
    expect(recorded.captures).toHaveLength(1);
    expect((await trigger(context, order.orderId, { _refund: true, _refund_amount_cents: 100 })).status).toBe(200);
  });

  it('lists transactions with the query language and serves them from the order', async () => {
    const order = await placed();
    await trigger(context, order.orderId, { _capture: true });
    const client = api(context);
    const list = await client.get(`/api/captures?filter[q][token_eq]=${order.paymentIntentId}&include=order,reference_authorization,payment_source`);
    expect(list.status, list.text).toBe(200);
    expect(list.body.data).toHaveLength(1);
    expect(list.body.data[0].meta).toEqual({ mode: 'test' });
    expect((list.body.included as Included[]).map((resource) => resource.type).sort()).toEqual(['authorizations', 'orders', 'stripe_payments']);
    const related = await client.get(`/api/orders/${order.orderId}/authorizations`);
    expect(related.body.data).toHaveLength(1);
    const sorted = await client.get(`/api/authorizations?filter[q][succeeded_true]=1&sort=-amount_cents&page[size]=1`);
    expect(sorted.status).toBe(200);
    expect(sorted.body.meta.record_count).toBeGreaterThan(0);
    // Records, not writable: Stripe and the order triggers make them.
    expect((await client.post('/api/captures', { data: { type: 'captures', attributes: {} } })).status).toBe(405);
    const authorizationId = related.body.data[0].id;
    const captures = await client.get(`/api/authorizations/${authorizationId}/captures`);
    expect(captures.body.data).toHaveLength(1);
  });
});

describe('declines and 3-D Secure', () => {
  it('keeps a declined order unpaid and unplaceable, until a good card authorizes it', async () => {
    const order = await payableOrder(context);
    const declined = await confirm(order, 'pm_card_chargeDeclined');
    expect(declined).toMatchObject({ type: 'StripeCardError', code: 'card_declined' });
    expect(await paymentStatusAfterWebhooks(context, order.orderId)).toBe('unpaid');
    const refused = await trigger(context, order.orderId, { _place: true });
    expect(refused.status).toBe(422);
    expect(refused.body.errors[0]).toMatchObject({
      source: { pointer: '/data/attributes/_place' },
      meta: { stripe_status: 'requires_payment_method' },
    });
    expect((await getOrder(context, order.orderId)).data.attributes.status).toBe('draft');

    await confirm(order, 'pm_card_mastercard');
    expect(await paymentStatusAfterWebhooks(context, order.orderId)).toBe('authorized');
    expect((await trigger(context, order.orderId, { _place: true })).status).toBe(200);
  });

  it('waits for 3-D Secure: requires_action cannot be placed, the authenticated payment can', async () => {
    const order = await payableOrder(context);
    const challenged = await confirm(order, 'pm_card_threeDSecure2Required');
    expect(challenged).toMatchObject({ status: 'requires_action', next_action: { type: 'redirect_to_url' } });
    expect(await paymentStatusAfterWebhooks(context, order.orderId)).toBe('unpaid');
    const early = await trigger(context, order.orderId, { _place: true });
    expect(early.status).toBe(422);
    expect(early.body.errors[0].meta).toEqual({ stripe_status: 'requires_action' });

    // The shopper passes the challenge; Stripe.js confirms again.
    await order.stripe.paymentIntents.confirm(order.paymentIntentId, {});
    expect(await paymentStatusAfterWebhooks(context, order.orderId)).toBe('authorized');
    expect((await trigger(context, order.orderId, { _place: true })).status).toBe(200);
  });

  it('refuses to place an order whose total changed after the authorization', async () => {
    const order = await payableOrder(context);
    await confirm(order);
    await api(context).post('/api/line_items', {
      data: {
        type: 'line_items',
        attributes: { sku_code: 'EXTRA', quantity: 1, unit_amount_cents: 500 },
        relationships: { order: { data: { type: 'orders', id: order.orderId } } },
      },
    });
    const response = await trigger(context, order.orderId, { _place: true });
    expect(response.status).toBe(422);
    expect(response.body.errors[0].detail).toContain('€25.00');
    expect(response.body.errors[0].detail).toContain('€30.00');
  });
});

describe('cancellations', () => {
  it('voids the authorization of a placed order and cancels it', async () => {
    const order = await placed();
    const response = await trigger(context, order.orderId, { _cancel: true }, '?include=voids');
    expect(response.status, response.text).toBe(200);
    expect(response.body.data.attributes).toMatchObject({ status: 'cancelled', payment_status: 'voided' });
    expect(response.body.data.attributes.cancelled_at).toEqual(expect.any(String));
    expect(response.body.included).toHaveLength(1);
    expect(response.body.included[0].attributes).toMatchObject({ amount_cents: 2500, succeeded: true, gateway_transaction_id: order.paymentIntentId });
    expect(context.standin.paymentIntents().find((pi) => pi.id === order.paymentIntentId)?.status).toBe('canceled');
    const cancelKeys = context.standin
      .requestLog()
      .filter((entry) => entry.path === `/v1/payment_intents/${order.paymentIntentId}/cancel`)
      .map((entry) => entry.idempotencyKey);
    expect(cancelKeys).toEqual([`voids/${response.body.included[0].id}`]);

    expect(await paymentStatusAfterWebhooks(context, order.orderId)).toBe('voided');
    expect((await trigger(context, order.orderId, { _capture: true })).status).toBe(422);
    expect((await trigger(context, order.orderId, { _cancel: true })).status).toBe(422);
    expect((await transactions(order.orderId)).voids).toHaveLength(1);
    const authorization = (await transactions(order.orderId)).authorizations[0]!;
    expect(authorization.attributes).toMatchObject({ void_balance_cents: 0, capture_balance_cents: 2500 });
  });

  it('refuses to cancel a captured order until it is refunded in full', async () => {
    const order = await placed();
    await trigger(context, order.orderId, { _capture: true });
    const refused = await trigger(context, order.orderId, { _cancel: true });
    expect(refused.status).toBe(422);
    expect(refused.body.errors[0].detail).toMatch(/refund/);
    await trigger(context, order.orderId, { _refund: true });
    const cancelled = await trigger(context, order.orderId, { _cancel: true });
    expect(cancelled.status, cancelled.text).toBe(200);
    expect(cancelled.body.data.attributes).toMatchObject({ status: 'cancelled', payment_status: 'refunded' });
    expect((await transactions(order.orderId)).voids).toHaveLength(0);
  });

  it('only cancels placed orders', async () => {
    const order = await payableOrder(context);
    const response = await trigger(context, order.orderId, { _cancel: true });
    expect(response.status).toBe(422);
    expect(response.body.errors[0].source.pointer).toBe('/data/attributes/_cancel');
  });

  it('records a cancellation made at Stripe (the dashboard) as a void', async () => {
    const order = await placed();
    await order.stripe.paymentIntents.cancel(order.paymentIntentId);
    expect(await paymentStatusAfterWebhooks(context, order.orderId)).toBe('voided');
    const { voids } = await transactions(order.orderId);
    expect(voids).toHaveLength(1);
    expect(voids[0]!.attributes.message).toBe('Canceled at Stripe');
    // _cancel then only closes the order: the authorization is already released.
    const cancelled = await trigger(context, order.orderId, { _cancel: true });
    expect(cancelled.status, cancelled.text).toBe(200);
    expect(cancelled.body.data.attributes).toMatchObject({ status: 'cancelled', payment_status: 'voided' });
  });
});

describe('money moves once', () => {
  it('lets only one of concurrent _capture requests capture', async () => {
    const order = await placed();
    const responses = await Promise.all(Array.from({ length: 6 }, () => trigger(context, order.orderId, { _capture: true })));
    const statuses = responses.map((response) => response.status);
    expect(statuses.filter((status) => status === 200)).toHaveLength(1);
    // The others were refused: in progress (409) or already captured (422).
    expect(statuses.every((status) => status === 200 || status === 409 || status === 422)).toBe(true);
    const captureCalls = context.standin.requestLog().filter((entry) => entry.path === `/v1/payment_intents/${order.paymentIntentId}/capture`);
    expect(captureCalls).toHaveLength(1);
    const { captures } = await transactions(order.orderId);
    expect(captures).toHaveLength(1);
    expect(captureCalls[0]!.idempotencyKey).toBe(`captures/${captures[0]!.id}`);
    expect(context.standin.paymentIntents().find((pi) => pi.id === order.paymentIntentId)?.amount_received).toBe(2500);
  });

  it('lets concurrent _refund requests refund at most what was captured', async () => {
    const order = await placed();
    await trigger(context, order.orderId, { _capture: true });
    const full = await Promise.all(Array.from({ length: 5 }, () => trigger(context, order.orderId, { _refund: true })));
    expect(full.filter((response) => response.status === 200)).toHaveLength(1);
    const refundCalls = context.standin.requestLog().filter((entry) => entry.method === 'POST' && entry.path === '/v1/refunds' && entry.body.payment_intent === order.paymentIntentId);
    expect(refundCalls).toHaveLength(1);
    expect((await getOrder(context, order.orderId)).data.attributes.payment_status).toBe('refunded');
  });

  it('never refunds more than captured with concurrent partial refunds', async () => {
    const order = await placed();
    await trigger(context, order.orderId, { _capture: true });
    const amounts = [900, 1000, 1100, 1200];
    const responses = await Promise.all(amounts.map((amount) => trigger(context, order.orderId, { _refund: true, _refund_amount_cents: amount })));
    const refunded = amounts.filter((_, index) => responses[index]!.status === 200).reduce((total, amount) => total + amount, 0);
    expect(refunded).toBeGreaterThan(0);
    expect(refunded).toBeLessThanOrEqual(2500);
    const atStripe = context.standin
      .requestLog()
      .filter((entry) => entry.method === 'POST' && entry.path === '/v1/refunds' && entry.body.payment_intent === order.paymentIntentId)
      .reduce((total, entry) => total + Number(entry.body.amount), 0);
    expect(atStripe).toBe(refunded);
    const { refunds } = await transactions(order.orderId);
    expect(refunds.reduce((total, refund) => total + Number(refund.attributes.amount_cents), 0)).toBe(refunded);
  });

  it('keeps a capture whose outcome was lost, and lets the webhook record it', async () => {
    const order = await placed();
    // Stripe captures, then every answer (the SDK retries included) is lost on the way back.
    context.standin.injectFaults({ kind: 'drop_after_processing', times: 3, match: { method: 'POST', pathPrefix: `/v1/payment_intents/${order.paymentIntentId}/capture` } });
    const lost = await trigger(context, order.orderId, { _capture: true });
    expect(lost.status).toBeGreaterThanOrEqual(502);
    // Stripe's webhook says what happened, naming our capture.
    expect(await paymentStatusAfterWebhooks(context, order.orderId)).toBe('paid');
    const { captures } = await transactions(order.orderId);
    expect(captures).toHaveLength(1);
    expect(captures[0]!.attributes.succeeded).toBe(true);
    const keys = new Set(context.standin.requestLog().filter((entry) => entry.path.endsWith('/capture') && entry.path.includes(order.paymentIntentId)).map((entry) => entry.idempotencyKey));
    expect([...keys]).toEqual([`captures/${captures[0]!.id}`]);
    expect((await trigger(context, order.orderId, { _capture: true })).status).toBe(422);
  });

  it('answers 409 while a capture is in flight, and retries a stale one with the same idempotency key', async () => {
    const order = await placed();
    // Stripe fails without acting, on every attempt: the outcome stays unknown to us.
    context.standin.injectFaults({ kind: 'status', status: 500, times: 3, match: { method: 'POST', pathPrefix: `/v1/payment_intents/${order.paymentIntentId}/capture` } });
    const failed = await trigger(context, order.orderId, { _capture: true });
    expect(failed.status).toBe(502);
    const busy = await trigger(context, order.orderId, { _capture: true });
    expect(busy.status).toBe(409);
    expect(busy.body.errors[0]).toMatchObject({ code: 'CONFLICT', source: { pointer: '/data/attributes/_capture' } });

    // The reservation outlives its request: a later _capture takes it over.
    await context.db.$executeRaw`UPDATE transactions SET updated_at = now() - interval '2 minutes' WHERE order_id = ${order.orderId} AND state = 'reserved'`;
    const retried = await trigger(context, order.orderId, { _capture: true });
    expect(retried.status, retried.text).toBe(200);
    expect(retried.body.data.attributes.payment_status).toBe('paid');
    const keys = context.standin.requestLog().filter((entry) => entry.path === `/v1/payment_intents/${order.paymentIntentId}/capture`).map((entry) => entry.idempotencyKey);
    expect(new Set(keys).size).toBe(1);
    expect((await transactions(order.orderId)).captures).toHaveLength(1);
  });

  it('captures once when a retry takes over a reservation whose call is still running at Stripe', async () => {
    const order = await placed();
    // Stripe acts at once but answers late, holding the idempotency key meanwhile.
    context.standin.injectFaults({ kind: 'delay', ms: 1500, times: 1, match: { method: 'POST', pathPrefix: `/v1/payment_intents/${order.paymentIntentId}/capture` } });
    // Supertest sends on then(): start it now.
    const first = trigger(context, order.orderId, { _capture: true }).then((response) => response);
    await expect.poll(() => context.standin.requestLog().some((entry) => entry.path.endsWith('/capture') && entry.path.includes(order.paymentIntentId))).toBe(true);
    // As if the first request had been given up on: its reservation looks stale.
    await context.db.$executeRaw`UPDATE transactions SET updated_at = now() - interval '2 minutes' WHERE order_id = ${order.orderId} AND state = 'reserved'`;
    const second = await trigger(context, order.orderId, { _capture: true });
    expect([200, 409]).toContain(second.status);
    expect((await first).status).toBe(200);
    const captures = await api(context).get(`/api/captures?filter[q][token_eq]=${order.paymentIntentId}`);
    expect(captures.body.data).toHaveLength(1);
    expect(captures.body.data[0].attributes.succeeded).toBe(true);
    const keys = new Set(context.standin.requestLog().filter((entry) => entry.path === `/v1/payment_intents/${order.paymentIntentId}/capture`).map((entry) => entry.idempotencyKey));
    expect(keys.size).toBe(1);
    expect(context.standin.paymentIntents().find((pi) => pi.id === order.paymentIntentId)?.amount_received).toBe(2500);
  });

  it('records a refused capture as a failed transaction', async () => {
    const order = await placed();
    // Canceled behind our back, before any webhook could tell us.
    context.standin.holdWebhooks();
    await order.stripe.paymentIntents.cancel(order.paymentIntentId);
    const response = await trigger(context, order.orderId, { _capture: true });
    expect(response.status).toBe(422);
    expect(response.body.errors[0].meta).toMatchObject({ stripe_code: 'payment_intent_unexpected_state' });
    const failed = await api(context).get(`/api/captures?filter[q][token_eq]=${order.paymentIntentId}`);
    expect(failed.body.data).toHaveLength(1);
    expect(failed.body.data[0].attributes).toMatchObject({ succeeded: false, error_code: 'payment_intent_unexpected_state' });
    // What Stripe told us in its refusal is recorded: the authorization is gone.
    expect((await getOrder(context, order.orderId)).data.attributes.payment_status).toBe('voided');
  });
});

describe('_refresh, when webhooks were missed', () => {
  it('reads the PaymentIntent and moves the order as the webhook would have', async () => {
    const order = await payableOrder(context);
    context.standin.holdWebhooks();
    await confirm(order);
    expect((await getOrder(context, order.orderId)).data.attributes.payment_status).toBe('unpaid');
    const refreshed = await api(context).patch(`/api/stripe_payments/${order.paymentId}`, {
      data: { type: 'stripe_payments', id: order.paymentId, attributes: { _refresh: true } },
    });
    expect(refreshed.status, refreshed.text).toBe(200);
    expect(refreshed.body.data.attributes.payment_instrument).toMatchObject({ last4: '4242' });
    expect((await getOrder(context, order.orderId)).data.attributes.payment_status).toBe('authorized');
  });
});
