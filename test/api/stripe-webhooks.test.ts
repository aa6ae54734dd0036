import Stripe from 'stripe';
import { configureWebhookEndpoints, ensureWebhookEndpoints } from '../../src/payments/stripe-webhook-endpoints.ts';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { api, createCheckout, domainServices, startTestContext, type TestContext } from '../support/context.ts';
import { confirm, getOrder, payableOrder, paymentStatusAfterWebhooks, trigger, type PayableOrder } from '../support/payments.ts';

// POST /webhooks/stripe/:gatewayId: signature checks on the raw body, events applied once,
// in whatever order they come.

let context: TestContext;
beforeAll(async () => {
  context = await startTestContext();
});
afterEach(() => {
  context.standin.releaseWebhooks();
});
afterAll(async () => {
  await context?.close();
});

function endpointOf(gatewayId: string) {
  const endpoint = context.standin.webhookEndpoints().find((candidate) => candidate.url.endsWith(`/webhooks/stripe/${gatewayId}`));
  if (!endpoint) throw new Error(`no endpoint for ${gatewayId}`);
  return endpoint;
}

function post(gatewayId: string, payload: string, signature?: string) {
  const request = context.http.post(`/webhooks/stripe/${gatewayId}`).set('Content-Type', 'application/json');
  if (signature !== undefined) request.set('Stripe-Signature', signature);
  return request.send(payload);
}

function signed(gatewayId: string, payload: string, options: { secret?: string; timestamp?: number } = {}) {
  const secret = options.secret ?? endpointOf(gatewayId).secret;
  return post(gatewayId, payload, Stripe.webhooks.generateTestHeaderString({ payload, secret, ...(options.timestamp ? { timestamp: options.timestamp } : {}) }));
}

/** The events Stripe emitted about a PaymentIntent (and its charges), oldest first. */
function eventsAbout(paymentIntentId: string, type?: string) {
  return context.standin.events().filter((event) => {
    const object = event.data.object as { id?: string; payment_intent?: string };
    return (object.id === paymentIntentId || object.payment_intent === paymentIntentId) && (!type || event.type === type);
  });
}

async function storedEvents(paymentIntentId: string) {
  return context.db.stripeEvent.findMany({ where: { objectId: paymentIntentId }, orderBy: { receivedAt: 'asc' } });
}

async function paymentRow(paymentId: string) {
  return context.db.stripePayment.findUniqueOrThrow({ where: { id: paymentId } });
}

describe('the gateway webhook endpoint', () => {
  it('is registered at Stripe when the gateway is created; the secret is sealed and never shown', async () => {
    const checkout = await createCheckout(context);
    const response = await api(context).get(`/api/stripe_gateways/${checkout.gatewayId}`);
    const { attributes } = response.body.data;
    const { port } = context.app.server.address() as { port: number };
    expect(attributes.webhook_endpoint_url).toBe(`http://127.0.0.1:${port}/webhooks/stripe/${checkout.gatewayId}`);
    expect(attributes.webhook_endpoint_id).toMatch(/^we_/);
    expect(attributes).not.toHaveProperty('webhook_endpoint_secret');

    const endpoint = endpointOf(checkout.gatewayId);
    expect(endpoint.id).toBe(attributes.webhook_endpoint_id);
    expect(endpoint.enabled_events).toEqual(
      expect.arrayContaining([
        'payment_intent.succeeded',
        'payment_intent.amount_capturable_updated',
        'payment_intent.payment_failed',
        'payment_intent.canceled',
        'payment_intent.processing',
        'charge.refunded',
      ]),
    );
    const row = await context.db.stripeGateway.findUniqueOrThrow({ where: { id: checkout.gatewayId } });
    expect(row.webhookSecretEncrypted).toMatch(/^v1\./);
    expect(row.webhookSecretEncrypted).not.toContain(endpoint.secret);
    expect(context.logs.join('\n')).not.toContain(endpoint.secret);

    // Not readable through sparse fieldsets or filters either.
    expect((await api(context).get(`/api/stripe_gateways/${checkout.gatewayId}?fields[stripe_gateways]=webhook_endpoint_secret`)).status).toBe(400);
    expect((await api(context).get(`/api/stripe_gateways?filter[q][webhook_endpoint_secret_eq]=${endpoint.secret}`)).status).toBe(400);
  });

  it("takes a dashboard endpoint's secret (write-only) and then verifies with it", async () => {
    const checkout = await createCheckout(context);
    const secret = 'whsec_fromTheDashboard0123456789';
    const updated = await api(context).patch(`/api/stripe_gateways/${checkout.gatewayId}`, {
      data: { type: 'stripe_gateways', id: checkout.gatewayId, attributes: { webhook_endpoint_secret: secret } },
    });
    expect(updated.status, updated.text).toBe(200);
    expect(updated.body.data.attributes.webhook_endpoint_id).toBeNull();
    expect(updated.body.data.attributes).not.toHaveProperty('webhook_endpoint_secret');
    const payload = JSON.stringify({ id: 'evt_dashboard1', object: 'event', type: 'customer.created', created: Math.floor(Date.now() / 1000), livemode: false, data: { object: { id: 'cus_1', object: 'customer' } } });
    expect((await signed(checkout.gatewayId, payload, { secret })).status).toBe(200);
    expect((await signed(checkout.gatewayId, payload.replace('evt_dashboard1', 'evt_dashboard2'), { secret: 'whsec_somethingElse1234' })).status).toBe(400);
  });
});

describe('API versions', () => {
  it('registers the endpoint with the pinned API version, so events come rendered as the SDK types describe', async () => {
    const checkout = await createCheckout(context);
    expect(endpointOf(checkout.gatewayId).api_version).toBe(Stripe.API_VERSION);
    const order = await payableOrder(context);
    await confirm(order);
    expect(await paymentStatusAfterWebhooks(context, order.orderId)).toBe('authorized');
    // No delivery came in another version than the pinned one.
    expect(context.logs.filter((line) => line.includes(order.gatewayId) && line.includes('stripeEventApiVersion'))).toEqual([]);
  });

  it('replaces at start an endpoint made without the pinned version (its version cannot change)', async () => {
    const order = await payableOrder(context);
    const stripe = order.stripe;
    const port = (context.app.server.address() as { port: number }).port;
    // As registered before endpoints carried a version: rendered in the account's default.
    await stripe.webhookEndpoints.del(endpointOf(order.gatewayId).id);
    const old = await stripe.webhookEndpoints.create({ url: `http://127.0.0.1:${port}/webhooks/stripe/${order.gatewayId}`, enabled_events: ['*'] });
    expect(old.api_version).toBeNull();
    const services = domainServices(context);
    await context.db.stripeGateway.update({ where: { id: order.gatewayId }, data: { webhookEndpointId: old.id, webhookSecretEncrypted: services.secretBox.seal(old.secret!) } });
    configureWebhookEndpoints(services, { baseUrl: `http://127.0.0.1:${port}`, register: true });

    await ensureWebhookEndpoints(services);
    const gateway = await context.db.stripeGateway.findUniqueOrThrow({ where: { id: order.gatewayId } });
    expect(gateway.webhookEndpointId).not.toBe(old.id);
    expect(endpointOf(order.gatewayId)).toMatchObject({ id: gateway.webhookEndpointId, api_version: Stripe.API_VERSION });
    await expect(stripe.webhookEndpoints.retrieve(old.id)).rejects.toMatchObject({ statusCode: 404 });
    await confirm(order);
    expect(await paymentStatusAfterWebhooks(context, order.orderId)).toBe('authorized');
  });
});

describe('signature verification', () => {
  let order: PayableOrder;
  let payload: string;

  beforeEach(async () => {
    order = await payableOrder(context);
    context.standin.holdWebhooks();
    await confirm(order);
    const event = eventsAbout(order.paymentIntentId, 'payment_intent.amount_capturable_updated')[0]!;
    // Stripe's own layout, which a parse-and-reserialize would not reproduce byte for byte.
    payload = JSON.stringify(event, null, 4);
  });

  it('refuses missing, wrong, tampered and expired signatures with 400, changing nothing', async () => {
    const { gatewayId } = order;
    const before = await context.db.stripeEvent.count();
    const header = Stripe.webhooks.generateTestHeaderString({ payload, secret: endpointOf(gatewayId).secret });
    const refusals = [
      await post(gatewayId, payload),
      await post(gatewayId, payload, 'garbage'),
      await signed(gatewayId, payload, { secret: 'whsec_notTheGatewaySecret123' }),
      await post(gatewayId, payload.replace('"livemode": false', '"livemode": true'), header),
      await signed(gatewayId, payload, { timestamp: Math.floor(Date.now() / 1000) - 600 }),
    ];
    expect(refusals.map((response) => response.status)).toEqual([400, 400, 400, 400, 400]);
    expect(refusals.every((response) => typeof response.body.error.message === 'string')).toBe(true);
    expect(await context.db.stripeEvent.count()).toBe(before);
    expect((await getOrder(context, order.orderId)).data.attributes.payment_status).toBe('unpaid');
    expect((await paymentRow(order.paymentId)).status).toBe('requires_payment_method');
  });

  it('answers 404 for an unknown gateway and 400 for a gateway without a secret', async () => {
    expect((await post('NoSuchGateway', payload, 't=1,v1=00')).status).toBe(404);
    const bare = await createCheckout(context);
    await context.db.stripeGateway.update({ where: { id: bare.gatewayId }, data: { webhookSecretEncrypted: null } });
    expect((await post(bare.gatewayId, payload, 't=1,v1=00')).status).toBe(400);
  });

  it('accepts the raw body as Stripe signed it and applies the event', async () => {
    const response = await signed(order.gatewayId, payload);
    expect(response.status, response.text).toBe(200);
    expect(response.body).toMatchObject({ received: true, outcome: 'applied', type: 'payment_intent.amount_capturable_updated' });
    expect((await getOrder(context, order.orderId)).data.attributes.payment_status).toBe('authorized');
  });
});

describe('events applied once, in any order', () => {
  it('acknowledges a redelivered event without applying it again', async () => {
    const order = await payableOrder(context);
    await confirm(order);
    expect(await paymentStatusAfterWebhooks(context, order.orderId)).toBe('authorized');
    const [event] = eventsAbout(order.paymentIntentId, 'payment_intent.amount_capturable_updated');
    context.standin.redeliverEvent(event!.id);
    context.standin.redeliverEvent(event!.id);
    await context.standin.webhooksIdle();
    const deliveries = context.standin.webhookDeliveries().filter((delivery) => delivery.eventId === event!.id);
    expect(deliveries).toHaveLength(3);
    expect(deliveries.every((delivery) => delivery.responseStatus === 200)).toBe(true);
    const stored = (await storedEvents(order.paymentIntentId)).filter((row) => row.id === event!.id);
    expect(stored).toHaveLength(1);
    expect(stored[0]!.outcome).toBe('applied');
  });

  it('applies one of two concurrent deliveries of the same event', async () => {
    const order = await payableOrder(context);
    context.standin.holdWebhooks();
    await confirm(order);
    const payload = JSON.stringify(eventsAbout(order.paymentIntentId, 'payment_intent.amount_capturable_updated')[0]);
    const responses = await Promise.all([signed(order.gatewayId, payload), signed(order.gatewayId, payload), signed(order.gatewayId, payload)]);
    expect(responses.map((response) => response.status)).toEqual([200, 200, 200]);
    expect(responses.map((response) => response.body.outcome).sort()).toEqual(['applied', 'duplicate', 'duplicate']);
  });

  it('does not let a late authorization undo a cancellation', async () => {
    const order = await payableOrder(context);
    context.standin.holdWebhooks();
    await confirm(order);
    await order.stripe.paymentIntents.cancel(order.paymentIntentId);
    context.standin.releaseWebhooks({ reverse: true });
    await context.standin.webhooksIdle();

    expect((await paymentRow(order.paymentId)).status).toBe('canceled');
    // It was never authorized as far as the order knew, and a stale event does not make it so.
    expect((await getOrder(context, order.orderId)).data.attributes.payment_status).toBe('unpaid');
    const outcomes = Object.fromEntries((await storedEvents(order.paymentIntentId)).map((row) => [row.type, row.outcome]));
    expect(outcomes).toMatchObject({ 'payment_intent.canceled': 'applied', 'payment_intent.amount_capturable_updated': 'stale' });
  });

  it('does not let a late decline undo the authorization of the next card', async () => {
    const order = await payableOrder(context);
    context.standin.holdWebhooks();
    await confirm(order, 'pm_card_chargeDeclinedInsufficientFunds');
    await confirm(order, 'pm_card_visa');
    context.standin.releaseWebhooks({ reverse: true });
    await context.standin.webhooksIdle();
    expect((await getOrder(context, order.orderId)).data.attributes.payment_status).toBe('authorized');
    expect((await paymentRow(order.paymentId)).status).toBe('requires_capture');
    expect((await paymentRow(order.paymentId)).paymentInstrument).toMatchObject({ last4: '4242' });
  });

  it('ends a whole journey delivered backwards where the API left it', async () => {
    const order = await payableOrder(context);
    context.standin.holdWebhooks();
    await confirm(order);
    expect((await trigger(context, order.orderId, { _place: true })).status).toBe(200);
    expect((await trigger(context, order.orderId, { _capture: true })).status).toBe(200);
    expect((await trigger(context, order.orderId, { _refund: true, _refund_amount_cents: 500 })).status).toBe(200);
    expect((await trigger(context, order.orderId, { _refund: true })).status).toBe(200);
    const before = await context.db.transaction.count({ where: { orderId: order.orderId } });
    context.standin.releaseWebhooks({ reverse: true });
    await context.standin.webhooksIdle();
    expect((await getOrder(context, order.orderId)).data.attributes.payment_status).toBe('refunded');
    expect(await context.db.transaction.count({ where: { orderId: order.orderId } })).toBe(before);
    expect((await paymentRow(order.paymentId)).status).toBe('succeeded');
  });

  it('records what happened at Stripe alone: a capture and a refund from the dashboard', async () => {
    const order = await payableOrder(context);
    await confirm(order);
    await context.standin.webhooksIdle();
    expect((await trigger(context, order.orderId, { _place: true })).status).toBe(200);
    await order.stripe.paymentIntents.capture(order.paymentIntentId);
    expect(await paymentStatusAfterWebhooks(context, order.orderId)).toBe('paid');
    await order.stripe.refunds.create({ payment_intent: order.paymentIntentId, amount: 700 });
    expect(await paymentStatusAfterWebhooks(context, order.orderId)).toBe('partially_refunded');
    const body = await getOrder(context, order.orderId, '?include=captures,refunds');
    const included = body.included ?? [];
    expect(included.find((resource) => resource.type === 'captures')?.attributes).toMatchObject({ amount_cents: 2500, message: 'Captured at Stripe' });
    expect(included.find((resource) => resource.type === 'refunds')?.attributes).toMatchObject({ amount_cents: 700, message: 'Refunded at Stripe' });
    // Our own refund of the rest knows what is left.
    const rest = await trigger(context, order.orderId, { _refund: true });
    expect(rest.status, rest.text).toBe(200);
    expect(rest.body.data.attributes.payment_status).toBe('refunded');
    const refundCreates = context.standin.requestLog().filter((entry) => entry.method === 'POST' && entry.path === '/v1/refunds' && entry.body.payment_intent === order.paymentIntentId);
    expect(refundCreates.at(-1)?.body.amount).toBe('1800');
  });
});

describe('refunds made at Stripe', () => {
  it('records a dashboard refund from refund.created alone, reading the refunds Stripe lists', async () => {
    const order = await payableOrder(context);
    await confirm(order);
    await context.standin.webhooksIdle();
    expect((await trigger(context, order.orderId, { _place: true })).status).toBe(200);
    expect((await trigger(context, order.orderId, { _capture: true })).status).toBe(200);
    await context.standin.webhooksIdle();
    context.standin.holdWebhooks();
    const refund = await order.stripe.refunds.create({ payment_intent: order.paymentIntentId, amount: 900 });
    const event = context.standin.events().find((candidate) => candidate.type === 'refund.created' && (candidate.data.object as { id?: string }).id === refund.id)!;
    const response = await signed(order.gatewayId, JSON.stringify(event));
    expect(response.status, response.text).toBe(200);
    expect(response.body.outcome).toBe('applied');
    const refunds = await context.db.transaction.findMany({ where: { orderId: order.orderId, kind: 'refunds' } });
    expect(refunds).toMatchObject([{ amountCents: 900, gatewayTransactionId: refund.id, message: 'Refunded at Stripe' }]);
    expect((await getOrder(context, order.orderId)).data.attributes.payment_status).toBe('partially_refunded');
    // The charge.refunded that follows finds it recorded.
    context.standin.releaseWebhooks();
    await context.standin.webhooksIdle();
    expect(await context.db.transaction.count({ where: { orderId: order.orderId, kind: 'refunds' } })).toBe(1);
  });
});

describe('other events', () => {
  it('records a failure after processing as a real step back, from what Stripe says', async () => {
    const order = await payableOrder(context);
    const pi = context.standin.paymentIntents().find((candidate) => candidate.id === order.paymentIntentId)!;
    const toGateway = { apiKey: order.secretKey };
    // An event claiming processing that Stripe's PaymentIntent does not confirm changes nothing.
    context.standin.sendEvent('payment_intent.processing', { ...pi, status: 'processing', payment_method: null }, toGateway);
    await context.standin.webhooksIdle();
    expect((await paymentRow(order.paymentId)).status).toBe('requires_payment_method');

    // As if an earlier event had recorded processing, then the bank refused: Stripe's
    // PaymentIntent is back to requires_payment_method, a step back that is applied.
    await context.db.stripePayment.update({ where: { id: order.paymentId }, data: { status: 'processing' } });
    context.standin.sendEvent('payment_intent.payment_failed', { ...pi, status: 'requires_payment_method' }, toGateway);
    await context.standin.webhooksIdle();
    expect((await paymentRow(order.paymentId)).status).toBe('requires_payment_method');
    const outcomes = (await storedEvents(order.paymentIntentId)).map((row) => `${row.type}:${row.outcome}`);
    expect(outcomes).toEqual(['payment_intent.processing:stale', 'payment_intent.payment_failed:applied']);
  });

  it('acknowledges and logs an event for a PaymentIntent it does not know', async () => {
    const checkout = await createCheckout(context);
    const stripe = new Stripe(checkout.secretKey, { host: context.standin.host, port: context.standin.port, protocol: 'http', telemetry: false });
    const foreign = await stripe.paymentIntents.create({ amount: 1000, currency: 'eur', automatic_payment_methods: { enabled: true, allow_redirects: 'never' }, capture_method: 'manual' });
    await stripe.paymentIntents.confirm(foreign.id, { payment_method: 'pm_card_visa' });
    await context.standin.webhooksIdle();
    const [event] = eventsAbout(foreign.id, 'payment_intent.amount_capturable_updated');
    const delivery = context.standin.webhookDeliveries().find((candidate) => candidate.eventId === event!.id);
    expect(delivery).toMatchObject({ status: 'delivered', responseStatus: 200 });
    expect((await context.db.stripeEvent.findUniqueOrThrow({ where: { id: event!.id } })).outcome).toBe('unknown_payment_intent');
    expect(context.logs.some((line) => line.includes(event!.id) && line.includes('unknown PaymentIntent'))).toBe(true);
  });

  it('acknowledges events it does not handle', async () => {
    const order = await payableOrder(context);
    const response = await signed(
      order.gatewayId,
      JSON.stringify({ id: 'evt_unhandled1', object: 'event', type: 'customer.created', created: 1, livemode: false, data: { object: { id: 'cus_x', object: 'customer' } } }),
    );
    expect(response.status).toBe(200);
    expect(response.body.outcome).toBe('ignored');
  });
});

describe('rate limiting', () => {
  it('does not count Stripe deliveries against the API rate limit', async () => {
    const limited = await startTestContext({ rateLimit: { max: 3, windowSeconds: 60, redisUrl: undefined } });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 6; i += 1) {
        const response = await limited.http.post('/webhooks/stripe/NoSuchGateway').set('Content-Type', 'application/json').set('Stripe-Signature', 't=1,v1=00').send('{}');
        statuses.push(response.status);
      }
      expect(statuses).toEqual([404, 404, 404, 404, 404, 404]);
    } finally {
      await limited.close();
    }
  });
});

describe('signed events are a reason to look, not the truth', () => {
  /** An event signed with the gateway's own secret, as whoever holds it could send. */
  function forged(order: PayableOrder, type: string, object: Record<string, unknown>) {
    const payload = JSON.stringify({
      id: `evt_forged${Math.random().toString(36).slice(2, 12)}`,
      object: 'event',
      api_version: '2026-10-28.endive',
      created: Math.floor(Date.now() / 1000),
      livemode: false,
      pending_webhooks: 1,
      request: { id: null, idempotency_key: null },
      type,
      data: { object },
    });
    return signed(order.gatewayId, payload);
  }

  it('does not mark a 30.00 order paid on a succeeded event with amount_received 1', async () => {
    const order = await payableOrder(context, { lines: [{ quantity: 1, unit_amount_cents: 3000 }] });
    const pi = context.standin.paymentIntents().find((candidate) => candidate.id === order.paymentIntentId)!;
    const response = await forged(order, 'payment_intent.succeeded', { ...pi, status: 'succeeded', amount_received: 1, amount_capturable: 0 });
    expect(response.status, response.text).toBe(200);
    expect(response.body.outcome).toBe('stale');
    expect((await getOrder(context, order.orderId)).data.attributes.payment_status).toBe('unpaid');
    expect((await paymentRow(order.paymentId)).status).toBe('requires_payment_method');
    expect(await context.db.transaction.count({ where: { orderId: order.orderId } })).toBe(0);
    // Stripe was asked.
    expect(context.standin.requestLog().some((entry) => entry.method === 'GET' && entry.path === `/v1/payment_intents/${order.paymentIntentId}`)).toBe(true);
  });

  it('does not authorize an order for less than its total, even when Stripe did authorize that', async () => {
    const order = await payableOrder(context, { lines: [{ quantity: 1, unit_amount_cents: 2500 }] });
    // The order grows after its PaymentIntent was made, and the shopper pays the old amount.
    await api(context).post('/api/line_items', {
      data: { type: 'line_items', attributes: { sku_code: 'EXTRA', quantity: 1, unit_amount_cents: 500 }, relationships: { order: { data: { type: 'orders', id: order.orderId } } } },
    });
    await confirm(order);
    expect(await paymentStatusAfterWebhooks(context, order.orderId)).toBe('unpaid');
    expect((await paymentRow(order.paymentId)).status).toBe('requires_capture');
  });

  it('does not record a refund Stripe never made, and a real refund then refunds what was captured', async () => {
    const order = await payableOrder(context);
    await confirm(order);
    await context.standin.webhooksIdle();
    expect((await trigger(context, order.orderId, { _place: true })).status).toBe(200);
    expect((await trigger(context, order.orderId, { _capture: true })).status).toBe(200);
    await context.standin.webhooksIdle();
    const pi = context.standin.paymentIntents().find((candidate) => candidate.id === order.paymentIntentId)!;
    const chargeId = pi.latest_charge as string;
    const refund = { id: 're_forged1', object: 'refund', amount: 2499, currency: 'eur', charge: chargeId, payment_intent: order.paymentIntentId, status: 'succeeded', metadata: {}, created: 1 };
    const charge = {
      id: chargeId,
      object: 'charge',
      amount: 2500,
      amount_captured: 2500,
      amount_refunded: 2499,
      currency: 'eur',
      captured: true,
      refunded: false,
      payment_intent: order.paymentIntentId,
      refunds: { object: 'list', data: [refund], has_more: false, url: `/v1/charges/${chargeId}/refunds` },
    };
    const response = await forged(order, 'charge.refunded', charge);
    expect(response.status, response.text).toBe(200);
    expect(await context.db.transaction.count({ where: { orderId: order.orderId, kind: 'refunds' } })).toBe(0);
    expect((await getOrder(context, order.orderId)).data.attributes.payment_status).toBe('paid');
    expect((await forged(order, 'refund.created', refund)).status).toBe(200);
    expect(await context.db.transaction.count({ where: { orderId: order.orderId, kind: 'refunds' } })).toBe(0);

    const refunded = await trigger(context, order.orderId, { _refund: true });
    expect(refunded.status, refunded.text).toBe(200);
    expect(refunded.body.data.attributes.payment_status).toBe('refunded');
    const creates = context.standin.requestLog().filter((entry) => entry.method === 'POST' && entry.path === '/v1/refunds' && entry.body.payment_intent === order.paymentIntentId);
    expect(creates.map((entry) => entry.body.amount)).toEqual(['2500']);
  });
});
