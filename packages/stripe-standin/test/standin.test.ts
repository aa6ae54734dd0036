import Stripe from 'stripe';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startStripeStandin } from '../src/server.ts';
import type { StripeStandin } from '../src/server.ts';

// Everything here goes through the real SDK over HTTP, as the app's own calls will.

const KEY = 'sk_test_123';

let standin: StripeStandin;
let stripe: Stripe;

function client(key = KEY, extra: Partial<ConstructorParameters<typeof Stripe>[1]> = {}): Stripe {
  return new Stripe(key, {
    host: '127.0.0.1',
    port: standin.port,
    protocol: 'http',
    maxNetworkRetries: 2,
    telemetry: false,
    ...extra,
  });
}

/** The StripeError a call rejects with; fails the test if it resolves or throws something else. */
async function failure(call: Promise<unknown>): Promise<Stripe.errors.StripeError> {
  try {
    await call;
  } catch (error) {
    if (error instanceof Stripe.errors.StripeError) return error;
    throw error;
  }
  throw new Error('expected the Stripe call to fail');
}

/** Card payments only: confirmations need no return_url (see the automatic_payment_methods test). */
const CARD_ONLY = { allowed_payment_method_types: ['card'] };

beforeEach(async () => {
  standin = await startStripeStandin({ port: 0 });
  stripe = client();
});

afterEach(async () => {
  await standin.close();
});

describe('PaymentIntents', () => {
  it('creates and retrieves an intent shaped like Stripe’s, with metadata round-tripped', async () => {
    const created = await stripe.paymentIntents.create({
      amount: 1099,
      currency: 'EUR',
      metadata: { order_id: 'ord_1', 'line items': 'two & three' },
      description: 'Order #1',
      receipt_email: 'buyer@example.com',
    });

    expect(created.id).toMatch(/^pi_[A-Za-z0-9]{24}$/);
    expect(created.client_secret).toMatch(new RegExp(`^${created.id}_secret_[A-Za-z0-9]{25}$`));
    expect(created).toMatchObject({
      object: 'payment_intent',
      amount: 1099,
      amount_capturable: 0,
      amount_received: 0,
      currency: 'eur',
      status: 'requires_payment_method',
      capture_method: 'automatic_async',
      confirmation_method: 'automatic',
      livemode: false,
      payment_method: null,
      latest_charge: null,
      last_payment_error: null,
      next_action: null,
      canceled_at: null,
      description: 'Order #1',
      receipt_email: 'buyer@example.com',
      automatic_payment_methods: { enabled: true, allow_redirects: 'always' },
      payment_method_types: ['card'],
    });
    expect(created.created).toBeGreaterThan(1_600_000_000);

    const retrieved = await stripe.paymentIntents.retrieve(created.id);
    expect(retrieved).toEqual(created);
    expect(retrieved.metadata).toEqual({ order_id: 'ord_1', 'line items': 'two & three' });

    const [post] = standin.requestLog();
    expect(post).toMatchObject({
      method: 'POST',
      path: '/v1/payment_intents',
      apiKey: KEY,
      body: { amount: '1099', metadata: { order_id: 'ord_1' } },
    });
    expect(post?.idempotencyKey).toMatch(/^stripe-node-retry-/);
    expect(retrieved.lastResponse.requestId).toMatch(/^req_/);
    expect(retrieved.lastResponse.headers['stripe-version']).toBe(Stripe.API_VERSION);
  });

  it('updates an intent: amount, metadata merge and deletion by empty string', async () => {
    const pi = await stripe.paymentIntents.create({ amount: 1000, currency: 'usd', metadata: { keep: 'a', drop: 'b' } });
    const updated = await stripe.paymentIntents.update(pi.id, {
      amount: 1500,
      metadata: { drop: '', added: 'c' },
      description: 'changed',
    });
    expect(updated).toMatchObject({ amount: 1500, description: 'changed', metadata: { keep: 'a', added: 'c' } });
    expect(updated.metadata).not.toHaveProperty('drop');
    expect((await stripe.paymentIntents.retrieve(pi.id)).amount).toBe(1500);
  });

  it('confirms with manual capture, then captures part of the amount', async () => {
    const pi = await stripe.paymentIntents.create({ amount: 2000, currency: 'eur', capture_method: 'manual', ...CARD_ONLY });
    const confirmed = await stripe.paymentIntents.confirm(pi.id, { payment_method: 'pm_card_visa' });
    expect(confirmed).toMatchObject({ status: 'requires_capture', amount_capturable: 2000, amount_received: 0 });
    // Stripe turns a test token into a PaymentMethod of its own.
    expect(confirmed.payment_method).toMatch(/^pm_[A-Za-z0-9]{24}$/);
    expect(confirmed.latest_charge).toMatch(/^ch_[A-Za-z0-9]{24}$/);

    const captured = await stripe.paymentIntents.capture(pi.id, { amount_to_capture: 1500, expand: ['latest_charge'] });
    expect(captured).toMatchObject({ status: 'succeeded', amount_received: 1500, amount_capturable: 0 });
    const charge = captured.latest_charge as Stripe.Charge;
    expect(charge).toMatchObject({ object: 'charge', amount: 2000, amount_captured: 1500, captured: true, payment_intent: pi.id });

    const again = await failure(stripe.paymentIntents.capture(pi.id));
    expect(again).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
    expect(again.code).toBe('payment_intent_unexpected_state');
  });

  it('refuses to capture more than is capturable', async () => {
    const pi = await stripe.paymentIntents.create({
      amount: 1000,
      currency: 'eur',
      capture_method: 'manual',
      payment_method: 'pm_card_mastercard',
      confirm: true,
      ...CARD_ONLY,
    });
    expect(pi.status).toBe('requires_capture');
    const error = await failure(stripe.paymentIntents.capture(pi.id, { amount_to_capture: 1001 }));
    expect(error).toMatchObject({ statusCode: 400, code: 'amount_too_large', param: 'amount_to_capture' });
  });

  it('confirms with automatic capture: succeeded, with a charge and an expandable card', async () => {
    const pi = await stripe.paymentIntents.create({ amount: 1234, currency: 'usd', payment_method: 'pm_card_visa', ...CARD_ONLY });
    expect(pi.status).toBe('requires_confirmation');
    const confirmed = await stripe.paymentIntents.confirm(pi.id, { expand: ['payment_method', 'latest_charge'] });
    expect(confirmed).toMatchObject({ status: 'succeeded', amount_received: 1234, amount_capturable: 0 });
    const pm = confirmed.payment_method as Stripe.PaymentMethod;
    expect(pm).toMatchObject({ object: 'payment_method', type: 'card', card: { brand: 'visa', last4: '4242' } });
    expect(pm.card?.exp_year).toBeGreaterThan(new Date().getUTCFullYear());
    const charge = confirmed.latest_charge as Stripe.Charge;
    expect(charge).toMatchObject({ status: 'succeeded', paid: true, captured: true, amount_captured: 1234, payment_method: pm.id });
    expect(charge.payment_method_details?.card?.last4).toBe('4242');
  });

  it('answers a declined card with StripeCardError and sends the intent back to requires_payment_method', async () => {
    const pi = await stripe.paymentIntents.create({ amount: 1000, currency: 'eur', ...CARD_ONLY });
    const error = await failure(stripe.paymentIntents.confirm(pi.id, { payment_method: 'pm_card_chargeDeclined' }));
    expect(error).toBeInstanceOf(Stripe.errors.StripeCardError);
    expect(error).toMatchObject({ statusCode: 402, type: 'StripeCardError', code: 'card_declined', decline_code: 'generic_decline' });
    expect(error.payment_intent).toMatchObject({ id: pi.id, status: 'requires_payment_method' });

    const after = await stripe.paymentIntents.retrieve(pi.id);
    expect(after.status).toBe('requires_payment_method');
    expect(after.payment_method).toBeNull();
    expect(after.last_payment_error).toMatchObject({ type: 'card_error', code: 'card_declined', decline_code: 'generic_decline' });

    // The customer can retry with another card.
    const retried = await stripe.paymentIntents.confirm(pi.id, { payment_method: 'pm_card_visa' });
    expect(retried.status).toBe('succeeded');
    expect(retried.last_payment_error).toBeNull();
  });

  it('stops a 3D Secure card at requires_action; the next confirmation succeeds', async () => {
    for (const card of ['pm_card_authenticationRequired', 'pm_card_threeDSecure2Required']) {
      const pi = await stripe.paymentIntents.create({ amount: 1000, currency: 'eur', payment_method: card, confirm: true, ...CARD_ONLY });
      expect(pi.status).toBe('requires_action');
      expect(pi.next_action?.type).toBe('use_stripe_sdk');
      expect(pi.latest_charge).toBeNull();
      const done = await stripe.paymentIntents.confirm(pi.id);
      expect(done).toMatchObject({ status: 'succeeded', next_action: null, amount_received: 1000 });
    }
  });

  it('cancels an open intent, and refuses to cancel it twice', async () => {
    const pi = await stripe.paymentIntents.create({ amount: 1000, currency: 'eur' });
    const canceled = await stripe.paymentIntents.cancel(pi.id, { cancellation_reason: 'requested_by_customer' });
    expect(canceled).toMatchObject({ status: 'canceled', cancellation_reason: 'requested_by_customer' });
    expect(canceled.canceled_at).toBeGreaterThan(0);

    const error = await failure(stripe.paymentIntents.cancel(pi.id));
    expect(error).toMatchObject({ statusCode: 400, code: 'payment_intent_unexpected_state' });
    expect(error.message).toContain('status of canceled');
  });

  it('refuses to cancel a succeeded intent or change its amount, but still takes metadata', async () => {
    const pi = await stripe.paymentIntents.create({ amount: 1000, currency: 'eur', payment_method: 'pm_card_visa', confirm: true, ...CARD_ONLY });
    expect(pi.status).toBe('succeeded');
    expect(await failure(stripe.paymentIntents.cancel(pi.id))).toMatchObject({ code: 'payment_intent_unexpected_state' });
    const amountChange = await failure(stripe.paymentIntents.update(pi.id, { amount: 2000 }));
    expect(amountChange).toMatchObject({ statusCode: 400, code: 'payment_intent_unexpected_state' });
    const tagged = await stripe.paymentIntents.update(pi.id, { metadata: { note: 'shipped' } });
    expect(tagged.metadata).toEqual({ note: 'shipped' });
  });

  it('requires a return_url to confirm when automatic payment methods may redirect', async () => {
    const pi = await stripe.paymentIntents.create({ amount: 1000, currency: 'eur' });
    const error = await failure(stripe.paymentIntents.confirm(pi.id, { payment_method: 'pm_card_visa' }));
    expect(error).toMatchObject({ statusCode: 400, param: 'return_url' });

    const withUrl = await stripe.paymentIntents.confirm(pi.id, { payment_method: 'pm_card_visa', return_url: 'https://shop.test/back' });
    expect(withUrl.status).toBe('succeeded');
    const noRedirects = await stripe.paymentIntents.create({
      amount: 1000,
      currency: 'eur',
      automatic_payment_methods: { enabled: true, allow_redirects: 'never' },
      payment_method: 'pm_card_visa',
      confirm: true,
    });
    expect(noRedirects.status).toBe('succeeded');
  });
});

describe('Stripe.js', () => {
  /** The form POST Stripe.js makes from the browser: its publishable key and the client secret as parameters. */
  async function browserConfirm(id: string, fields: Record<string, string>) {
    const response = await fetch(`${standin.url}/v1/payment_intents/${id}/confirm`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(fields).toString(),
    });
    return { status: response.status, body: (await response.json()) as Record<string, any> };
  }

  it('confirms with the publishable key and the client secret, and refuses either alone', async () => {
    const pi = await stripe.paymentIntents.create({ amount: 1000, currency: 'eur', ...CARD_ONLY });
    const wrongSecret = await browserConfirm(pi.id, { key: 'pk_test_123', client_secret: `${pi.id}_secret_wrong`, payment_method: 'pm_card_visa' });
    expect(wrongSecret).toMatchObject({ status: 400, body: { error: { type: 'invalid_request_error', param: 'client_secret' } } });
    const noSecret = await browserConfirm(pi.id, { key: 'pk_test_123', payment_method: 'pm_card_visa' });
    expect(noSecret).toMatchObject({ status: 400, body: { error: { code: 'parameter_missing', param: 'client_secret' } } });
    // A secret-key call has no client_secret parameter to confirm with.
    const withSecretKey = await failure(stripe.paymentIntents.confirm(pi.id, { payment_method: 'pm_card_visa', client_secret: pi.client_secret } as Stripe.PaymentIntentConfirmParams));
    expect(withSecretKey).toMatchObject({ code: 'parameter_unknown', param: 'client_secret' });

    const confirmed = await browserConfirm(pi.id, { key: 'pk_test_123', client_secret: pi.client_secret!, payment_method: 'pm_card_visa' });
    expect(confirmed).toMatchObject({ status: 200, body: { id: pi.id, status: 'succeeded' } });
    const read = await fetch(`${standin.url}/v1/payment_intents/${pi.id}?client_secret=${pi.client_secret}`, { headers: { authorization: 'Bearer pk_test_123' } });
    expect(read.status).toBe(200);
  });

  it('confirms as the README shows: an intent made as the API makes it, authorized with a return_url', async () => {
    const pi = await stripe.paymentIntents.create({ amount: 2000, currency: 'eur', capture_method: 'manual' });
    const withoutReturnUrl = await browserConfirm(pi.id, { key: 'pk_test_123', client_secret: pi.client_secret!, payment_method: 'pm_card_visa' });
    expect(withoutReturnUrl).toMatchObject({ status: 400, body: { error: { param: 'return_url' } } });
    const confirmed = await browserConfirm(pi.id, {
      key: 'pk_test_123',
      client_secret: pi.client_secret!,
      payment_method: 'pm_card_visa',
      return_url: 'https://shop.example.com/return',
    });
    expect(confirmed).toMatchObject({ status: 200, body: { status: 'requires_capture', amount_capturable: 2000 } });
    expect(standin.events().map((event) => event.type)).toEqual(
      expect.arrayContaining(['charge.succeeded', 'payment_intent.amount_capturable_updated']),
    );
  });

  it('refuses a publishable key anywhere else', async () => {
    const browser = new Stripe('pk_test_123', { host: '127.0.0.1', port: standin.port, protocol: 'http', telemetry: false });
    const error = await failure(browser.paymentIntents.create({ amount: 1000, currency: 'eur' }));
    expect(error).toMatchObject({ statusCode: 401, type: 'StripeAuthenticationError' });
    expect(standin.paymentIntents()).toHaveLength(0);
  });
});

describe('Refunds', () => {
  it('refunds part, then the rest, then refuses more', async () => {
    const pi = await stripe.paymentIntents.create({ amount: 5000, currency: 'eur', payment_method: 'pm_card_visa', confirm: true, ...CARD_ONLY });

    const partial = await stripe.refunds.create({ payment_intent: pi.id, amount: 2000, reason: 'requested_by_customer', metadata: { rma: '7' } });
    expect(partial.id).toMatch(/^re_[A-Za-z0-9]{24}$/);
    expect(partial).toMatchObject({
      object: 'refund',
      status: 'succeeded',
      amount: 2000,
      currency: 'eur',
      payment_intent: pi.id,
      charge: pi.latest_charge,
      reason: 'requested_by_customer',
      metadata: { rma: '7' },
    });

    const tooLarge = await failure(stripe.refunds.create({ payment_intent: pi.id, amount: 3001 }));
    expect(tooLarge).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
    expect(tooLarge).toMatchObject({ code: 'amount_too_large', param: 'amount' });

    const rest = await stripe.refunds.create({ payment_intent: pi.id, expand: ['charge'] });
    expect(rest.amount).toBe(3000);
    expect(rest.charge).toMatchObject({ amount_refunded: 5000, refunded: true });

    const more = await failure(stripe.refunds.create({ charge: pi.latest_charge as string, amount: 1 }));
    expect(more).toMatchObject({ statusCode: 400, code: 'charge_already_refunded' });

    expect(await stripe.refunds.retrieve(partial.id)).toMatchObject({ id: partial.id, amount: 2000 });
    expect(await failure(stripe.refunds.retrieve('re_missing'))).toMatchObject({ statusCode: 404, code: 'resource_missing' });
  });

  it('refuses to refund an intent that has not been paid', async () => {
    const pi = await stripe.paymentIntents.create({ amount: 1000, currency: 'eur' });
    const error = await failure(stripe.refunds.create({ payment_intent: pi.id }));
    expect(error).toMatchObject({ statusCode: 400, param: 'payment_intent' });
  });
});

describe('Errors', () => {
  it('rejects a bad API key with StripeAuthenticationError', async () => {
    const error = await failure(client('sk_wrong').paymentIntents.create({ amount: 1000, currency: 'eur' }));
    expect(error).toBeInstanceOf(Stripe.errors.StripeAuthenticationError);
    expect(error.statusCode).toBe(401);
    expect(error.message).toContain('Invalid API Key provided');
    expect(standin.paymentIntents()).toHaveLength(0);
  });

  it('answers an unknown id with 404 resource_missing', async () => {
    const error = await failure(stripe.paymentIntents.retrieve('pi_doesnotexist'));
    expect(error).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
    expect(error).toMatchObject({ statusCode: 404, code: 'resource_missing', param: 'intent' });
    expect(error.message).toBe("No such payment_intent: 'pi_doesnotexist'");
  });

  it('answers an unknown payment method with 400 resource_missing', async () => {
    const error = await failure(stripe.paymentIntents.create({ amount: 1000, currency: 'eur', payment_method: 'pm_nope' }));
    expect(error).toMatchObject({ statusCode: 400, code: 'resource_missing', param: 'payment_method' });
    expect(standin.paymentIntents()).toHaveLength(0);
  });

  it('validates parameters as Stripe does', async () => {
    const missing = await failure(stripe.paymentIntents.create({ currency: 'eur' } as Stripe.PaymentIntentCreateParams));
    expect(missing).toMatchObject({ statusCode: 400, code: 'parameter_missing', param: 'amount' });

    const notInteger = await failure(stripe.paymentIntents.create({ amount: 10.5, currency: 'eur' }));
    expect(notInteger).toMatchObject({ code: 'parameter_invalid_integer', param: 'amount' });

    const unknown = await failure(stripe.paymentIntents.create({ amount: 1000, currency: 'eur', colour: 'blue' } as Stripe.PaymentIntentCreateParams));
    expect(unknown).toMatchObject({ code: 'parameter_unknown', param: 'colour' });

    const tooSmall = await failure(stripe.paymentIntents.create({ amount: 10, currency: 'usd' }));
    expect(tooSmall).toMatchObject({ code: 'amount_too_small', param: 'amount' });

    const returnUrlAlone = await failure(stripe.paymentIntents.create({ amount: 1000, currency: 'eur', return_url: 'https://x.test' }));
    expect(returnUrlAlone).toMatchObject({ statusCode: 400, param: 'return_url' });

    expect(standin.paymentIntents()).toHaveLength(0);
  });
});

describe('Idempotency', () => {
  it('replays the first response for the same key and parameters', async () => {
    const params = { amount: 1000, currency: 'eur', metadata: { order_id: 'o1' } };
    const first = await stripe.paymentIntents.create(params, { idempotencyKey: 'order-o1' });
    const second = await stripe.paymentIntents.create(params, { idempotencyKey: 'order-o1' });
    expect(second.id).toBe(first.id);
    expect(second.lastResponse.headers['idempotent-replayed']).toBe('true');
    expect(first.lastResponse.headers['idempotent-replayed']).toBeUndefined();
    expect(standin.paymentIntents()).toHaveLength(1);

    // The key belongs to the API key that used it.
    const other = await client('sk_test_other').paymentIntents.create(params, { idempotencyKey: 'order-o1' });
    expect(other.id).not.toBe(first.id);
    expect(standin.paymentIntents()).toHaveLength(2);
  });

  it('rejects the same key with other parameters with StripeIdempotencyError', async () => {
    await stripe.paymentIntents.create({ amount: 1000, currency: 'eur' }, { idempotencyKey: 'k-1' });
    const error = await failure(stripe.paymentIntents.create({ amount: 2000, currency: 'eur' }, { idempotencyKey: 'k-1' }));
    expect(error).toBeInstanceOf(Stripe.errors.StripeIdempotencyError);
    expect(error.statusCode).toBe(400);
    expect(error.message).toContain('Keys for idempotent requests can only be used with the same parameters they were first used with');
    expect(standin.paymentIntents()).toHaveLength(1);
  });

  it('replays a decline too', async () => {
    const pi = await stripe.paymentIntents.create({ amount: 1000, currency: 'eur', ...CARD_ONLY });
    const options = { idempotencyKey: 'confirm-1' };
    const first = await failure(stripe.paymentIntents.confirm(pi.id, { payment_method: 'pm_card_chargeDeclined' }, options));
    const second = await failure(stripe.paymentIntents.confirm(pi.id, { payment_method: 'pm_card_chargeDeclined' }, options));
    expect(second).toBeInstanceOf(Stripe.errors.StripeCardError);
    expect(second.charge).toBe(first.charge);
    expect(second.headers?.['idempotent-replayed']).toBe('true');
  });

  it('answers 409 while the first request with a key is still in progress', async () => {
    standin.injectFaults({ kind: 'delay', ms: 400, times: 1, match: { method: 'POST', pathPrefix: '/v1/payment_intents' } });
    const params = { amount: 1000, currency: 'eur' };
    const slow = stripe.paymentIntents.create(params, { idempotencyKey: 'busy' });
    await new Promise((resolve) => setTimeout(resolve, 100));
    const conflict = await failure(stripe.paymentIntents.create(params, { idempotencyKey: 'busy', maxNetworkRetries: 0 }));
    expect(conflict.statusCode).toBe(409);
    expect(conflict.raw).toMatchObject({ type: 'idempotency_error' });

    // With retries, the SDK waits the conflict out and gets the first request's intent.
    const patient = await stripe.paymentIntents.create(params, { idempotencyKey: 'busy' });
    expect(patient.id).toBe((await slow).id);
    expect(standin.paymentIntents()).toHaveLength(1);
  });
});

describe('Faults', () => {
  it('drop_after_processing: the SDK retries with the same key and gets the one intent', async () => {
    standin.injectFaults({ kind: 'drop_after_processing', times: 1, match: { method: 'POST', pathPrefix: '/v1/payment_intents' } });
    const pi = await stripe.paymentIntents.create({ amount: 1000, currency: 'eur' });
    expect(pi.id).toMatch(/^pi_/);
    expect(pi.lastResponse.headers['idempotent-replayed']).toBe('true');
    expect(standin.paymentIntents()).toHaveLength(1);

    const attempts = standin.requestLog().filter((r) => r.method === 'POST');
    expect(attempts).toHaveLength(2);
    expect(attempts[1]?.idempotencyKey).toBe(attempts[0]?.idempotencyKey);
  });

  it('status 500 once: the SDK retries and succeeds', async () => {
    standin.injectFaults({ kind: 'status', status: 500, times: 1 });
    const pi = await stripe.paymentIntents.create({ amount: 1000, currency: 'eur' });
    expect(pi.status).toBe('requires_payment_method');
    expect(standin.paymentIntents()).toHaveLength(1);
    expect(standin.requestLog()).toHaveLength(2);
  });

  it('status faults outlasting the retries surface as Stripe errors', async () => {
    standin.injectFaults({ kind: 'status', status: 503, times: 3 });
    const unavailable = await failure(stripe.paymentIntents.create({ amount: 1000, currency: 'eur' }));
    expect(unavailable).toBeInstanceOf(Stripe.errors.StripeAPIError);
    expect(unavailable.statusCode).toBe(503);
    expect(standin.requestLog()).toHaveLength(3);

    standin.injectFaults({ kind: 'status', status: 429, times: 1 });
    const limited = await failure(stripe.paymentIntents.create({ amount: 1000, currency: 'eur' }));
    expect(limited).toBeInstanceOf(Stripe.errors.StripeRateLimitError);
    expect(standin.paymentIntents()).toHaveLength(0);
  });

  it('faults only hit matching requests, and clearFaults disarms them', async () => {
    standin.injectFaults({ kind: 'status', status: 500, times: 5, match: { method: 'GET' } });
    const pi = await stripe.paymentIntents.create({ amount: 1000, currency: 'eur' });
    expect(standin.requestLog()).toHaveLength(1);
    standin.clearFaults();
    await expect(stripe.paymentIntents.retrieve(pi.id)).resolves.toMatchObject({ id: pi.id });
  });
});

describe('Accounts and timing', () => {
  it('records Stripe-Account and keeps connected-account objects apart', async () => {
    const pi = await stripe.paymentIntents.create({ amount: 1000, currency: 'eur' }, { stripeAccount: 'acct_123' });
    expect(standin.requestLog()[0]).toMatchObject({ stripeAccount: 'acct_123', apiKey: KEY });
    expect(standin.paymentIntents()[0]).toMatchObject({ id: pi.id, stripe_account: 'acct_123' });
    expect(pi).not.toHaveProperty('stripe_account');

    await expect(stripe.paymentIntents.retrieve(pi.id, {}, { stripeAccount: 'acct_123' })).resolves.toMatchObject({ id: pi.id });
    expect(await failure(stripe.paymentIntents.retrieve(pi.id))).toMatchObject({ statusCode: 404, code: 'resource_missing' });
  });

  it('marks live-key objects livemode and hides them from test keys', async () => {
    const live = client('sk_live_abc');
    const pi = await live.paymentIntents.create({ amount: 1000, currency: 'eur' });
    expect(pi.livemode).toBe(true);
    const error = await failure(stripe.paymentIntents.retrieve(pi.id));
    expect(error.message).toContain('a similar object exists in live mode');
    // Test tokens do not exist in live mode.
    expect(await failure(live.paymentIntents.confirm(pi.id, { payment_method: 'pm_card_visa' }))).toMatchObject({ code: 'resource_missing' });
  });

  it('latencyMs delays answers: a short SDK timeout fails, though Stripe acted', async () => {
    const slow = await startStripeStandin({ port: 0, latencyMs: 300 });
    try {
      const impatient = new Stripe(KEY, { host: '127.0.0.1', port: slow.port, protocol: 'http', maxNetworkRetries: 0, timeout: 100 });
      const error = await failure(impatient.paymentIntents.create({ amount: 1000, currency: 'eur' }));
      expect(error).toBeInstanceOf(Stripe.errors.StripeConnectionError);
      expect(slow.paymentIntents()).toHaveLength(1);
    } finally {
      await slow.close();
    }
  });
});
