import http from 'node:http';
import type { AddressInfo } from 'node:net';
import Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startStripeStandin } from '../src/server.ts';
import type { StripeStandin } from '../src/server.ts';
import { loadContract } from './support/contract.ts';
import type { Contract, ContractName } from './support/contract.ts';

/**
 * Every object the stand-in serves, as the real SDK receives it over HTTP, checked
 * against the pinned SDK's declarations of Stripe's objects (see support/contract.ts).
 * Nothing here lists Stripe's fields by hand: upgrading `stripe` re-runs the same
 * checks against the new version's contract.
 */

let standin: StripeStandin;
let stripe: Stripe;
let contract: Contract;

// The compiler resolves the SDK's types lazily, on a test's first check of each: seconds when loaded.
vi.setConfig({ testTimeout: 60_000 });

beforeAll(async () => {
  contract = loadContract();
  standin = await startStripeStandin({ port: 0 });
  stripe = new Stripe('sk_test_fidelity', { host: '127.0.0.1', port: standin.port, protocol: 'http', telemetry: false, maxNetworkRetries: 0 });
  // Reading the SDK's declarations is seconds of compiler work, more on a loaded machine.
}, 120_000);

afterAll(async () => {
  await standin?.close();
});

function expectFits(name: ContractName, value: unknown): void {
  expect(contract.problems(name, value), `${name} against stripe ${contract.sdkVersion}`).toEqual([]);
}

async function rawError(call: Promise<unknown>): Promise<Record<string, unknown>> {
  try {
    await call;
  } catch (error) {
    if (error instanceof Stripe.errors.StripeError) return error.raw as Record<string, unknown>;
    throw error;
  }
  throw new Error('expected the call to fail');
}

/** The error member as Stripe sends it, without what the SDK adds to `raw` on its side. */
function wireError(raw: Record<string, unknown>): Record<string, unknown> {
  const { headers: _headers, statusCode: _statusCode, requestId: _requestId, ...wire } = raw;
  return wire;
}

const CARD_ONLY = { allowed_payment_method_types: ['card'] };

describe('the contract itself', () => {
  it('rejects a missing field, a wrong type, an enum value Stripe does not have and a field Stripe does not send', () => {
    const list = { object: 'list', data: [], has_more: false, url: '/v1/refunds' };
    expect(contract.problems('RefundList', list)).toEqual([]);
    expect(contract.problems('RefundList', { ...list, total_count: 0 })).toEqual([
      expect.stringContaining('RefundList.total_count: not a field of'),
    ]);
    const { has_more: _hasMore, ...withoutHasMore } = list;
    expect(contract.problems('RefundList', withoutHasMore)).toEqual(['RefundList.has_more: missing (Stripe always sends it)']);
    expect(contract.problems('RefundList', { ...list, has_more: 'no' })).toEqual(['RefundList.has_more: "no" is not a boolean']);
    expect(contract.problems('Error', { type: 'card_failure', message: 'x' })).toEqual([expect.stringContaining('Error.type: "card_failure" is not one of')]);
  });
});

describe('objects the stand-in serves fit the pinned SDK’s declarations', () => {
  it('a PaymentIntent as created, with automatic payment methods', async () => {
    expectFits('PaymentIntent', await stripe.paymentIntents.create({ amount: 2000, currency: 'eur', metadata: { order: 'o1' } }));
  });

  it('a PaymentIntent through confirm, capture and refund, with its charge, payment method and refunds expanded', async () => {
    const created = await stripe.paymentIntents.create({ amount: 3000, currency: 'usd', capture_method: 'manual', ...CARD_ONLY });
    expectFits('PaymentIntent', created);
    const confirmed = await stripe.paymentIntents.confirm(created.id, { payment_method: 'pm_card_visa', expand: ['latest_charge', 'payment_method'] });
    expect(confirmed.status).toBe('requires_capture');
    expectFits('PaymentIntent', confirmed);
    const captured = await stripe.paymentIntents.capture(created.id, { amount_to_capture: 2500, expand: ['latest_charge.payment_intent'] });
    expectFits('PaymentIntent', captured);

    const chargeId = typeof captured.latest_charge === 'string' ? captured.latest_charge : captured.latest_charge!.id;
    const charge = await stripe.charges.retrieve(chargeId);
    expect(charge.payment_method_details?.card).toBeTruthy();
    expectFits('Charge', charge);

    const refund = await stripe.refunds.create({ payment_intent: created.id, amount: 1000, reason: 'requested_by_customer' });
    expectFits('Refund', refund);
    expectFits('Refund', await stripe.refunds.retrieve(refund.id, { expand: ['charge', 'payment_intent'] }));
    expectFits('RefundList', await stripe.refunds.list({ payment_intent: created.id }));
    expectFits('Charge', await stripe.charges.retrieve(chargeId));

    const paymentMethod = await stripe.paymentMethods.retrieve(typeof confirmed.payment_method === 'string' ? confirmed.payment_method : confirmed.payment_method!.id);
    expectFits('PaymentMethod', paymentMethod);
  });

  it('a PaymentIntent paid in one step, updated, and one canceled', async () => {
    const paid = await stripe.paymentIntents.create({ amount: 1500, currency: 'gbp', confirm: true, payment_method: 'pm_card_mastercard', ...CARD_ONLY });
    expect(paid.status).toBe('succeeded');
    expectFits('PaymentIntent', paid);

    const open = await stripe.paymentIntents.create({ amount: 1500, currency: 'eur', ...CARD_ONLY });
    expectFits('PaymentIntent', await stripe.paymentIntents.update(open.id, { description: 'Order 2', metadata: { a: 'b' } }));
    expectFits('PaymentIntent', await stripe.paymentIntents.retrieve(open.id));
    const canceled = await stripe.paymentIntents.cancel(open.id, { cancellation_reason: 'abandoned' });
    expect(canceled.status).toBe('canceled');
    expectFits('PaymentIntent', canceled);
  });

  it('a PaymentIntent awaiting 3D Secure, through the SDK and through a redirect', async () => {
    const viaSdk = await stripe.paymentIntents.create({ amount: 5000, currency: 'eur', confirm: true, payment_method: 'pm_card_authenticationRequired', ...CARD_ONLY });
    expect(viaSdk.status).toBe('requires_action');
    expectFits('PaymentIntent', viaSdk);
    const viaRedirect = await stripe.paymentIntents.create({
      amount: 5000,
      currency: 'eur',
      confirm: true,
      payment_method: 'pm_card_threeDSecure2Required',
      return_url: 'https://shop.example/return',
    });
    expect(viaRedirect.next_action?.type).toBe('redirect_to_url');
    expectFits('PaymentIntent', viaRedirect);
  });

  it('a declined confirmation: the card error, and the PaymentIntent and charge it leaves', async () => {
    const created = await stripe.paymentIntents.create({ amount: 2000, currency: 'eur', ...CARD_ONLY });
    const raw = await rawError(stripe.paymentIntents.confirm(created.id, { payment_method: 'pm_card_chargeDeclinedInsufficientFunds' }));
    expect(raw.type).toBe('card_error');
    expectFits('Error', wireError(raw));
    const after = await stripe.paymentIntents.retrieve(created.id, { expand: ['latest_charge'] });
    expect(after.last_payment_error).toBeTruthy();
    expectFits('PaymentIntent', after);
  });

  it('error objects: unknown and missing parameters, a missing object, a state conflict, an idempotency conflict', async () => {
    const errors = [
      await rawError(stripe.paymentIntents.create({ amount: 2000, currency: 'eur', colour: 'red' } as Stripe.PaymentIntentCreateParams)),
      await rawError(stripe.paymentIntents.create({ currency: 'eur' } as Stripe.PaymentIntentCreateParams)),
      await rawError(stripe.paymentIntents.retrieve('pi_doesnotexist')),
      await rawError(stripe.paymentIntents.capture((await stripe.paymentIntents.create({ amount: 2000, currency: 'eur' })).id)),
    ];
    await stripe.paymentIntents.create({ amount: 2000, currency: 'eur' }, { idempotencyKey: 'fidelity-key' });
    errors.push(await rawError(stripe.paymentIntents.create({ amount: 2100, currency: 'eur' }, { idempotencyKey: 'fidelity-key' })));
    for (const raw of errors) expectFits('Error', wireError(raw));
  });

  it('webhook endpoints through create, retrieve, update, list and delete', async () => {
    const created = await stripe.webhookEndpoints.create({ url: 'https://shop.example/hooks', enabled_events: ['payment_intent.succeeded'], description: 'shop' });
    expect(created.secret).toMatch(/^whsec_/);
    expectFits('WebhookEndpoint', created);
    expectFits('WebhookEndpoint', await stripe.webhookEndpoints.retrieve(created.id));
    expectFits('WebhookEndpoint', await stripe.webhookEndpoints.update(created.id, { disabled: true, metadata: { k: 'v' } }));
    expectFits('WebhookEndpointList', await stripe.webhookEndpoints.list());
    expectFits('DeletedWebhookEndpoint', await stripe.webhookEndpoints.del(created.id));
  });

  it('events as a webhook endpoint receives them, each against its own type’s declaration', async () => {
    const bodies: unknown[] = [];
    const receiver = http.createServer((req, res) => {
      let text = '';
      req.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
      req.on('end', () => {
        bodies.push(JSON.parse(text));
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = receiver.address() as AddressInfo;
      const endpoint = await stripe.webhookEndpoints.create({ url: `http://127.0.0.1:${port}/hooks`, enabled_events: ['*'] });
      const pi = await stripe.paymentIntents.create({ amount: 4000, currency: 'eur', capture_method: 'manual', confirm: true, payment_method: 'pm_card_visa', ...CARD_ONLY });
      await stripe.paymentIntents.capture(pi.id);
      await stripe.refunds.create({ payment_intent: pi.id, amount: 100 });
      await standin.webhooksIdle();
      await stripe.webhookEndpoints.del(endpoint.id);
    } finally {
      await new Promise<void>((resolve) => receiver.close(() => resolve()));
    }
    expect(bodies.length).toBeGreaterThanOrEqual(5);
    for (const body of bodies) expectFits('Event', body);
  });

  it('every event emitted so far, each against its own type’s declaration, and the list of them', async () => {
    const list = await stripe.events.list({ limit: 100 });
    expect(list.data.length).toBeGreaterThan(10);
    expectFits('EventList', list);
    const types = new Set(list.data.map((event) => event.type));
    for (const type of ['payment_intent.created', 'payment_intent.succeeded', 'payment_intent.canceled', 'payment_intent.payment_failed', 'charge.succeeded', 'charge.captured', 'charge.refunded', 'charge.failed']) {
      expect(types).toContain(type);
    }
    expectFits('Event', await stripe.events.retrieve(list.data[0]!.id));
  });
});
