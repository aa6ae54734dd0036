import http from 'node:http';
import type { AddressInfo } from 'node:net';
import Stripe from 'stripe';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startStripeStandin, type StripeStandin } from '../src/server.ts';

// Webhook endpoints and signed event delivery, through the real SDK and a real HTTP receiver.

const KEY = 'sk_test_webhooks';

interface Received {
  body: string;
  signature: string;
}

let standin: StripeStandin;
let stripe: Stripe;
let receiver: http.Server;
let receiverUrl: string;
let received: Received[];
/** What the receiver answers, in turn; 200 once the list is used up. */
let answers: number[];

function client(key = KEY): Stripe {
  return new Stripe(key, { host: '127.0.0.1', port: standin.port, protocol: 'http', telemetry: false, maxNetworkRetries: 0 });
}

beforeEach(async () => {
  standin = await startStripeStandin({ port: 0, webhookRetryDelaysMs: [20, 40] });
  stripe = client();
  received = [];
  answers = [];
  receiver = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      received.push({ body: Buffer.concat(chunks).toString('utf8'), signature: String(req.headers['stripe-signature']) });
      res.writeHead(answers.shift() ?? 200).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
});

afterEach(async () => {
  await standin.close();
  await new Promise((resolve) => receiver.close(resolve));
});

const events = ['payment_intent.amount_capturable_updated', 'payment_intent.processing', 'payment_intent.succeeded', 'payment_intent.canceled', 'payment_intent.payment_failed', 'charge.refunded'] as const;

async function manualIntent(key = KEY) {
  return client(key).paymentIntents.create({ amount: 2000, currency: 'eur', capture_method: 'manual', automatic_payment_methods: { enabled: true, allow_redirects: 'never' } });
}

describe('webhook endpoints', () => {
  it('creates an endpoint with a whsec_ secret shown only at creation; retrieves, updates, lists, deletes', async () => {
    const endpoint = await stripe.webhookEndpoints.create({ url: receiverUrl, enabled_events: [...events], metadata: { gateway_id: 'g1' } });
    expect(endpoint).toMatchObject({ object: 'webhook_endpoint', url: receiverUrl, status: 'enabled', livemode: false, metadata: { gateway_id: 'g1' } });
    expect(endpoint.id).toMatch(/^we_/);
    expect(endpoint.secret).toMatch(/^whsec_[A-Za-z0-9]{32}$/);

    const fetched = await stripe.webhookEndpoints.retrieve(endpoint.id);
    expect(fetched.secret).toBeUndefined();
    const moved = await stripe.webhookEndpoints.update(endpoint.id, { url: `${receiverUrl}/v2` });
    expect(moved.url).toBe(`${receiverUrl}/v2`);
    expect((await stripe.webhookEndpoints.list()).data.map((item) => item.id)).toEqual([endpoint.id]);
    expect(await stripe.webhookEndpoints.del(endpoint.id)).toMatchObject({ id: endpoint.id, deleted: true });
    await expect(stripe.webhookEndpoints.retrieve(endpoint.id)).rejects.toMatchObject({ statusCode: 404 });
  });

  it('validates the url and enabled_events', async () => {
    await expect(stripe.webhookEndpoints.create({ url: 'not a url', enabled_events: ['*'] })).rejects.toMatchObject({ statusCode: 400, param: 'url' });
    await expect(stripe.webhookEndpoints.create({ url: receiverUrl } as never)).rejects.toMatchObject({ statusCode: 400, param: 'enabled_events' });
  });
});

describe('event delivery', () => {
  it('signs events the way the SDK verifies them, after the request that caused them', async () => {
    const { secret } = await stripe.webhookEndpoints.create({ url: receiverUrl, enabled_events: [...events] });
    const pi = await manualIntent();
    await stripe.paymentIntents.confirm(pi.id, { payment_method: 'pm_card_visa' }, { idempotencyKey: 'confirm-1' });
    await standin.webhooksIdle();

    expect(received).toHaveLength(1);
    const [delivery] = received;
    const event = Stripe.webhooks.constructEvent(delivery!.body, delivery!.signature, secret!);
    expect(event).toMatchObject({
      object: 'event',
      type: 'payment_intent.amount_capturable_updated',
      livemode: false,
      request: { id: expect.stringMatching(/^req_/), idempotency_key: 'confirm-1' },
      data: { object: { id: pi.id, object: 'payment_intent', status: 'requires_capture', amount_capturable: 2000 } },
    });
    expect(event.id).toMatch(/^evt_/);
    expect(() => Stripe.webhooks.constructEvent(delivery!.body, delivery!.signature, 'whsec_wrong')).toThrow(Stripe.errors.StripeSignatureVerificationError);
    // Retrievable like any Stripe object.
    expect((await stripe.events.retrieve(event.id)).type).toBe('payment_intent.amount_capturable_updated');
  });

  it('emits the events of a whole payment: authorization, capture, refund, and a decline', async () => {
    await stripe.webhookEndpoints.create({ url: receiverUrl, enabled_events: ['*'] });
    const pi = await manualIntent();
    await expect(stripe.paymentIntents.confirm(pi.id, { payment_method: 'pm_card_chargeDeclined' })).rejects.toThrow(Stripe.errors.StripeCardError);
    await stripe.paymentIntents.confirm(pi.id, { payment_method: 'pm_card_visa' });
    await stripe.paymentIntents.capture(pi.id, { metadata: { capture_transaction_id: 'T1' } });
    await stripe.refunds.create({ payment_intent: pi.id, amount: 500, metadata: { transaction_id: 'R1' } });
    await standin.webhooksIdle();
    const types = received.map((delivery) => (JSON.parse(delivery.body) as Stripe.Event).type);
    expect(types).toEqual([
      'payment_intent.created',
      'charge.failed',
      'payment_intent.payment_failed',
      'charge.succeeded',
      'payment_intent.amount_capturable_updated',
      'charge.captured',
      'payment_intent.succeeded',
      'refund.created',
      'charge.refunded',
    ]);
    const refunded = JSON.parse(received.at(-1)!.body) as Stripe.Event;
    expect(refunded.data.object).toMatchObject({ object: 'charge', amount_refunded: 500, payment_intent: pi.id, refunds: { data: [{ amount: 500, metadata: { transaction_id: 'R1' } }] } });
    const succeeded = JSON.parse(received.at(-3)!.body) as Stripe.Event;
    expect(succeeded.data.object).toMatchObject({ metadata: { capture_transaction_id: 'T1' } });
    // Refunds of a PaymentIntent can be listed, as the reconciliation job does.
    expect((await stripe.refunds.list({ payment_intent: pi.id })).data).toHaveLength(1);
  });

  it('retries a delivery the endpoint refused, and gives up after the last retry', async () => {
    await stripe.webhookEndpoints.create({ url: receiverUrl, enabled_events: [...events] });
    answers = [500, 503];
    const pi = await manualIntent();
    await stripe.paymentIntents.confirm(pi.id, { payment_method: 'pm_card_visa' });
    await standin.webhooksIdle();
    expect(received).toHaveLength(3);
    expect(standin.webhookDeliveries()).toEqual([expect.objectContaining({ status: 'delivered', attempts: 3, responseStatus: 200 })]);

    answers = [500, 500, 500];
    await stripe.paymentIntents.cancel((await manualIntent()).id);
    await standin.webhooksIdle();
    expect(standin.webhookDeliveries().at(-1)).toMatchObject({ type: 'payment_intent.canceled', status: 'failed', attempts: 3, responseStatus: 500 });
  });

  it('holds deliveries and releases them in reverse, and redelivers an event', async () => {
    await stripe.webhookEndpoints.create({ url: receiverUrl, enabled_events: [...events] });
    standin.holdWebhooks();
    const pi = await manualIntent();
    await stripe.paymentIntents.confirm(pi.id, { payment_method: 'pm_card_visa' });
    await stripe.paymentIntents.capture(pi.id);
    await standin.webhooksIdle();
    expect(received).toHaveLength(0);
    standin.releaseWebhooks({ reverse: true });
    await standin.webhooksIdle();
    const types = received.map((delivery) => (JSON.parse(delivery.body) as Stripe.Event).type);
    expect(types).toEqual(['payment_intent.succeeded', 'payment_intent.amount_capturable_updated']);

    const first = JSON.parse(received[0]!.body) as Stripe.Event;
    standin.redeliverEvent(first.id);
    await standin.webhooksIdle();
    expect((JSON.parse(received.at(-1)!.body) as Stripe.Event).id).toBe(first.id);
  });

  it("delivers a key's events only to endpoints made with that key", async () => {
    const other = client('sk_test_someoneElse');
    await other.webhookEndpoints.create({ url: `${receiverUrl}/other`, enabled_events: [...events] });
    await stripe.webhookEndpoints.create({ url: receiverUrl, enabled_events: [...events] });
    const pi = await manualIntent();
    await stripe.paymentIntents.confirm(pi.id, { payment_method: 'pm_card_visa' });
    await standin.webhooksIdle();
    expect(received).toHaveLength(1);
    expect(standin.webhookDeliveries().map((delivery) => delivery.url)).toEqual([receiverUrl]);

    // An event sent by the test itself goes to every endpoint of the account.
    standin.sendEvent('payment_intent.processing', { ...pi, status: 'processing' });
    await standin.webhooksIdle();
    expect(received).toHaveLength(3);
  });

  it('does not deliver to disabled or deleted endpoints, nor events they did not subscribe to', async () => {
    const endpoint = await stripe.webhookEndpoints.create({ url: receiverUrl, enabled_events: ['payment_intent.canceled'] });
    await stripe.paymentIntents.confirm((await manualIntent()).id, { payment_method: 'pm_card_visa' });
    await stripe.webhookEndpoints.update(endpoint.id, { disabled: true });
    await stripe.paymentIntents.cancel((await manualIntent()).id);
    await stripe.webhookEndpoints.del(endpoint.id);
    await stripe.paymentIntents.cancel((await manualIntent()).id);
    await standin.webhooksIdle();
    expect(received).toHaveLength(0);
  });
});

describe('API versions', () => {
  /** A captured and partly refunded PaymentIntent; resolves once its events are delivered. */
  async function refundedIntent() {
    const pi = await manualIntent();
    await stripe.paymentIntents.confirm(pi.id, { payment_method: 'pm_card_visa' });
    await stripe.paymentIntents.capture(pi.id);
    await stripe.refunds.create({ payment_intent: pi.id, amount: 500 });
    await standin.webhooksIdle();
    return pi;
  }

  const delivered = (type: string) => received.map((entry) => JSON.parse(entry.body) as Stripe.Event).filter((event) => event.type === type);

  it('stores and returns the api_version an endpoint is made with, null without one', async () => {
    const pinned = await stripe.webhookEndpoints.create({ url: receiverUrl, enabled_events: ['*'], api_version: Stripe.API_VERSION as Stripe.WebhookEndpointCreateParams.ApiVersion });
    const unversioned = await stripe.webhookEndpoints.create({ url: receiverUrl, enabled_events: ['*'] });
    expect(pinned.api_version).toBe(Stripe.API_VERSION);
    expect(unversioned.api_version).toBeNull();
    expect((await stripe.webhookEndpoints.retrieve(pinned.id)).api_version).toBe(Stripe.API_VERSION);
  });

  it("renders events in the endpoint's version: since 2022-11-15 a charge has no refunds", async () => {
    await stripe.webhookEndpoints.create({ url: receiverUrl, enabled_events: ['charge.refunded', 'refund.created'], api_version: Stripe.API_VERSION as Stripe.WebhookEndpointCreateParams.ApiVersion });
    await refundedIntent();
    const [event] = delivered('charge.refunded');
    expect(event!.api_version).toBe(Stripe.API_VERSION);
    expect(event!.data.object).not.toHaveProperty('refunds');
    expect(event!.data.object).toMatchObject({ object: 'charge', amount_refunded: 500 });
    expect(delivered('refund.created')[0]!.data.object).toMatchObject({ object: 'refund', amount: 500 });
  });

  it("renders events for an endpoint without a version in the account's default, configurable", async () => {
    await stripe.webhookEndpoints.create({ url: receiverUrl, enabled_events: ['charge.refunded'] });
    await refundedIntent();
    const [event] = delivered('charge.refunded');
    expect(event!.api_version).toBe('2022-08-01');
    expect((event!.data.object as Stripe.Charge).refunds?.data.map((refund) => refund.amount)).toEqual([500]);

    await standin.close();
    standin = await startStripeStandin({ port: 0, accountApiVersion: '2024-06-20' });
    stripe = client();
    received = [];
    await stripe.webhookEndpoints.create({ url: receiverUrl, enabled_events: ['charge.refunded'] });
    await refundedIntent();
    const [later] = delivered('charge.refunded');
    expect(later!.api_version).toBe('2024-06-20');
    expect(later!.data.object).not.toHaveProperty('refunds');
  });

  it('omits charge.refunds from API reads unless expanded, as the pinned version does', async () => {
    const pi = await refundedIntent();
    const { latest_charge: chargeId } = await stripe.paymentIntents.retrieve(pi.id);
    const charge = await stripe.charges.retrieve(chargeId as string);
    expect(charge).not.toHaveProperty('refunds');
    expect(charge.amount_refunded).toBe(500);
    const expanded = await stripe.charges.retrieve(chargeId as string, { expand: ['refunds'] });
    expect(expanded.refunds?.data.map((refund) => refund.amount)).toEqual([500]);
    const nested = await stripe.paymentIntents.retrieve(pi.id, { expand: ['latest_charge'] });
    expect(nested.latest_charge).not.toHaveProperty('refunds');
    const nestedExpanded = await stripe.paymentIntents.retrieve(pi.id, { expand: ['latest_charge.refunds'] });
    expect((nestedExpanded.latest_charge as Stripe.Charge).refunds?.data).toHaveLength(1);
    const { data: listed } = await stripe.refunds.list({ payment_intent: pi.id });
    expect(listed.map((refund) => refund.amount)).toEqual([500]);
  });
});
