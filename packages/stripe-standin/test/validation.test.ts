import qs from 'qs';
import Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { FieldInfo, Spec } from '../src/params.ts';
import { routes } from '../src/router.ts';
import type { Route } from '../src/router.ts';
import { startStripeStandin } from '../src/server.ts';
import type { StripeStandin } from '../src/server.ts';
import { loadContract } from './support/contract.ts';
import type { Contract, ParamShape, ParamsName } from './support/contract.ts';

/**
 * Request validation held to the pinned SDK's `*Params` declarations: every parameter the
 * stand-in reads is one Stripe declares, with the same type, enum values and
 * required-ness; wrong values and missing ones answer Stripe's error objects. The
 * cross-field rules Stripe enforces on the calls the app makes follow.
 */

let contract: Contract;

// The compiler resolves the SDK's types lazily, on a test's first check of each: seconds when loaded.
vi.setConfig({ testTimeout: 60_000 });
let standin: StripeStandin;
let stripe: Stripe;

beforeAll(async () => {
  contract = loadContract();
  standin = await startStripeStandin({ port: 0 });
  stripe = new Stripe('sk_test_validation', { host: '127.0.0.1', port: standin.port, protocol: 'http', telemetry: false, maxNetworkRetries: 0 });
  // Reading the SDK's declarations is seconds of compiler work, more on a loaded machine.
}, 120_000);

afterAll(async () => {
  await standin?.close();
});

function infoOf(spec: Spec, key: string): FieldInfo {
  const info = spec[key]?.info;
  if (!info) throw new Error(`the stand-in's field ${key} says nothing of what it accepts`);
  return info;
}

/**
 * Where the stand-in knowingly reads a parameter differently from the declaration, and why.
 * Keyed by interface and parameter; each is listed in the README's differences.
 */
const KNOWN_DIFFERENCES: Record<string, string> = {
  'WebhookEndpointCreateParams.api_version': 'any version string is kept: the list of every Stripe API version is not copied',
};

/** Differences between what the stand-in reads and what the SDK declares, one line each. */
function compare(spec: Spec, declared: Record<string, ParamShape>, at: string): string[] {
  const out: string[] = [];
  for (const key of Object.keys(spec)) {
    const name = at ? `${at}[${key}]` : key;
    const shape = declared[key];
    const info = infoOf(spec, key);
    if (!shape) {
      out.push(`${name}: read by the stand-in, not a parameter Stripe has`);
      continue;
    }
    if ((info.required === true) !== shape.required) out.push(`${name}: required ${shape.required} at Stripe, ${info.required === true} here`);
    if (shape.kind === 'other') continue;
    if (info.kind !== shape.kind) {
      out.push(`${name}: a ${shape.kind} at Stripe, a ${info.kind} here`);
      continue;
    }
    if (info.kind === 'enum' && shape.kind === 'enum') {
      const here = [...info.values].sort();
      if (JSON.stringify(here) !== JSON.stringify(shape.values)) out.push(`${name}: one of ${shape.values.join(', ')} at Stripe, of ${here.join(', ')} here`);
    }
    if (info.kind === 'object' && shape.kind === 'object') out.push(...compare(info.spec, shape.params, name));
  }
  return out;
}

const served = routes();

describe('parameters, derived from the pinned SDK’s declarations', () => {
  it('every route names the SDK interface of its parameters', () => {
    expect(served.length).toBeGreaterThan(15);
    for (const route of served) expect(() => contract.params(route.params.sdk as ParamsName), route.pattern.source).not.toThrow();
  });

  it.each(served.map((route) => [`${route.method} ${route.pattern.source}`, route] as const))(
    '%s reads only parameters Stripe declares, with their types, enum values and required-ness',
    (_name, route: Route) => {
      const differences = compare(route.params.spec, contract.params(route.params.sdk as ParamsName), '').filter(
        (line) => !Object.hasOwn(KNOWN_DIFFERENCES, `${route.params.sdk}.${line.split(':')[0]}`),
      );
      expect(differences).toEqual([]);
    },
  );
});

/** The objects the routes' ids name, made once. */
let ids: Record<string, string>;

function pathOf(route: Route): string {
  const template = route.pattern.source.replace(/^\^/, '').replace(/\$$/, '').replaceAll('\\/', '/');
  if (!template.includes('([^/]+)')) return template;
  const collection = /^\/v1\/(\w+)\//.exec(template)?.[1] ?? '';
  const id = ids[collection];
  if (!id) throw new Error(`no object for ${template}`);
  return template.replace('([^/]+)', id);
}

/** Parameters that make each create valid, so that one wrong parameter is the only fault. */
const VALID_BASE: Partial<Record<string, Record<string, unknown>>> = {
  PaymentIntentCreateParams: { amount: 2000, currency: 'eur' },
  WebhookEndpointCreateParams: { url: 'https://shop.example/hooks', enabled_events: ['*'] },
};

/** A value of the wrong type for a field, as the SDK would encode it. */
function wrongValue(info: FieldInfo): unknown {
  switch (info.kind) {
    case 'integer':
      return 'twelve';
    case 'boolean':
      return 'maybe';
    case 'enum':
      return 'not_a_stripe_value';
    case 'string':
      return { nested: 'x' };
    case 'list':
    case 'metadata':
    case 'object':
      return 'x';
  }
}

/** Every error code the stand-in answered in this file, checked against Stripe's list at the end. */
const codesSeen = new Set<string>();

async function errorOf(route: Route, params: Record<string, unknown>): Promise<Stripe.errors.StripeError> {
  try {
    // The SDK's raw requests carry parameters in the body only: GET and DELETE get a query string, encoded as the SDK does.
    if (route.method === 'POST') await stripe.rawRequest(route.method, pathOf(route), params);
    else await stripe.rawRequest(route.method, `${pathOf(route)}?${qs.stringify(params, { arrayFormat: 'indices' })}`, null as never);
  } catch (error) {
    if (error instanceof Stripe.errors.StripeError) {
      if (error.code) codesSeen.add(error.code);
      return error;
    }
    throw error;
  }
  throw new Error(`${route.method} ${pathOf(route)} ${JSON.stringify(params)} was accepted`);
}

describe('wrong, missing and unknown parameters answer Stripe’s error objects', () => {
  beforeAll(async () => {
    const pi = await stripe.paymentIntents.create({ amount: 2000, currency: 'eur', allowed_payment_method_types: ['card'], confirm: true, payment_method: 'pm_card_visa' });
    const refund = await stripe.refunds.create({ payment_intent: pi.id, amount: 100 });
    const endpoint = await stripe.webhookEndpoints.create({ url: 'https://shop.example/hooks', enabled_events: ['*'] });
    const [event] = (await stripe.events.list({ limit: 1 })).data;
    ids = {
      payment_intents: pi.id,
      charges: pi.latest_charge as string,
      refunds: refund.id,
      payment_methods: pi.payment_method as string,
      webhook_endpoints: endpoint.id,
      events: event!.id,
    };
  });

  it.each(served.map((route) => [`${route.method} ${route.pattern.source}`, route] as const))('%s', async (_name, route: Route) => {
    const base = VALID_BASE[route.params.sdk] ?? {};
    const unknown = await errorOf(route, { ...base, not_a_stripe_param: 'x' });
    expect(unknown).toMatchObject({ statusCode: 400, type: 'StripeInvalidRequestError', code: 'parameter_unknown', param: 'not_a_stripe_param' });
    expect(unknown.doc_url).toBe('https://stripe.com/docs/error-codes/parameter-unknown');

    for (const [key, field] of Object.entries(route.params.spec)) {
      const info = field.info!;
      const wrong = await errorOf(route, { ...base, [key]: wrongValue(info) });
      expect(wrong, `${key} = ${JSON.stringify(wrongValue(info))}`).toMatchObject({ statusCode: 400, type: 'StripeInvalidRequestError', param: key });
      if (info.kind === 'integer') expect(wrong.code).toBe('parameter_invalid_integer');
      if (info.required) {
        const { [key]: _omitted, ...rest } = base;
        expect(await errorOf(route, rest), `without ${key}`).toMatchObject({ statusCode: 400, code: 'parameter_missing', param: key });
        expect(await errorOf(route, { ...base, [key]: '' }), `${key} empty`).toMatchObject({ statusCode: 400, code: 'parameter_invalid_empty', param: key });
      }
    }
  });
});

async function stripeError(call: Promise<unknown>): Promise<Stripe.errors.StripeError> {
  try {
    await call;
  } catch (error) {
    if (error instanceof Stripe.errors.StripeError) {
      if (error.code) codesSeen.add(error.code);
      return error;
    }
    throw error;
  }
  throw new Error('expected the Stripe call to fail');
}

describe('cross-field rules Stripe enforces on the calls the app makes', () => {
  const CARD = { allowed_payment_method_types: ['card'] };

  it('return_url only with confirm; a list of payment method types or automatic payment methods, not both', async () => {
    expect(await stripeError(stripe.paymentIntents.create({ amount: 2000, currency: 'eur', return_url: 'https://shop.example/back' }))).toMatchObject({
      statusCode: 400,
      param: 'return_url',
    });
    expect(
      await stripeError(stripe.paymentIntents.create({ amount: 2000, currency: 'eur', ...CARD, automatic_payment_methods: { enabled: true } })),
    ).toMatchObject({ statusCode: 400, code: 'parameters_exclusive', param: 'automatic_payment_methods' });
    expect(
      await stripeError(stripe.paymentIntents.create({ amount: 2000, currency: 'eur', automatic_payment_methods: { allow_redirects: 'never' } as Stripe.PaymentIntentCreateParams.AutomaticPaymentMethods })),
    ).toMatchObject({ code: 'parameter_missing', param: 'automatic_payment_methods[enabled]' });
    // The name older API versions used is not a parameter of the pinned one.
    expect(
      await stripeError(stripe.paymentIntents.create({ amount: 2000, currency: 'eur', payment_method_types: ['card'] } as Stripe.PaymentIntentCreateParams)),
    ).toMatchObject({ code: 'parameter_unknown', param: 'payment_method_types' });
  });

  it('strings up to their length: a statement descriptor suffix of 23 characters is refused', async () => {
    const error = await stripeError(stripe.paymentIntents.create({ amount: 2000, currency: 'eur', statement_descriptor_suffix: 'x'.repeat(23) }));
    expect(error).toMatchObject({ statusCode: 400, param: 'statement_descriptor_suffix' });
  });

  it('minimum and maximum amounts per currency, in minor units, zero-decimal currencies in whole units', async () => {
    for (const [currency, minimum] of [['usd', 50], ['eur', 50], ['gbp', 30], ['jpy', 50], ['huf', 17500]] as const) {
      expect(await stripeError(stripe.paymentIntents.create({ amount: minimum - 1, currency })), currency).toMatchObject({
        statusCode: 400,
        code: 'amount_too_small',
        param: 'amount',
      });
      expect((await stripe.paymentIntents.create({ amount: minimum, currency })).amount).toBe(minimum);
    }
    const yen = await stripeError(stripe.paymentIntents.create({ amount: 49, currency: 'jpy' }));
    expect(yen.message).toBe('Amount must be at least 50 jpy');
    expect(await stripeError(stripe.paymentIntents.create({ amount: 100_000_000, currency: 'eur' }))).toMatchObject({ code: 'amount_too_large', param: 'amount' });
    const open = await stripe.paymentIntents.create({ amount: 2000, currency: 'eur' });
    expect(await stripeError(stripe.paymentIntents.update(open.id, { amount: 10 }))).toMatchObject({ code: 'amount_too_small', param: 'amount' });
  });

  it('captures only what awaits capture, up to the amount capturable', async () => {
    const open = await stripe.paymentIntents.create({ amount: 2000, currency: 'eur', ...CARD });
    expect(await stripeError(stripe.paymentIntents.capture(open.id))).toMatchObject({ statusCode: 400, code: 'payment_intent_unexpected_state' });
    const authorized = await stripe.paymentIntents.create({ amount: 2000, currency: 'eur', ...CARD, capture_method: 'manual', confirm: true, payment_method: 'pm_card_visa' });
    expect(await stripeError(stripe.paymentIntents.capture(authorized.id, { amount_to_capture: 2001 }))).toMatchObject({
      code: 'amount_too_large',
      param: 'amount_to_capture',
    });
    await stripe.paymentIntents.capture(authorized.id, { amount_to_capture: 1500 });
    expect(await stripeError(stripe.paymentIntents.capture(authorized.id))).toMatchObject({ code: 'payment_intent_unexpected_state' });
  });

  it('cancels only what has not succeeded or been canceled', async () => {
    const paid = await stripe.paymentIntents.create({ amount: 2000, currency: 'eur', ...CARD, confirm: true, payment_method: 'pm_card_visa' });
    expect(await stripeError(stripe.paymentIntents.cancel(paid.id))).toMatchObject({ statusCode: 400, code: 'payment_intent_unexpected_state' });
    const authorized = await stripe.paymentIntents.create({ amount: 2000, currency: 'eur', ...CARD, capture_method: 'manual', confirm: true, payment_method: 'pm_card_visa' });
    expect((await stripe.paymentIntents.cancel(authorized.id)).status).toBe('canceled');
    expect(await stripeError(stripe.paymentIntents.cancel(authorized.id))).toMatchObject({ code: 'payment_intent_unexpected_state' });
    expect(await stripeError(stripe.paymentIntents.confirm(authorized.id, { payment_method: 'pm_card_visa' }))).toMatchObject({ code: 'payment_intent_unexpected_state' });
  });

  it('refunds only captured money, never beyond what was captured', async () => {
    const authorized = await stripe.paymentIntents.create({ amount: 3000, currency: 'eur', ...CARD, capture_method: 'manual', confirm: true, payment_method: 'pm_card_visa' });
    expect(await stripeError(stripe.refunds.create({ payment_intent: authorized.id }))).toMatchObject({ statusCode: 400, param: 'payment_intent' });
    await stripe.paymentIntents.capture(authorized.id, { amount_to_capture: 2000 });
    expect(await stripeError(stripe.refunds.create({ payment_intent: authorized.id, amount: 2001 }))).toMatchObject({ code: 'amount_too_large', param: 'amount' });
    expect((await stripe.refunds.create({ payment_intent: authorized.id })).amount).toBe(2000);
    expect(await stripeError(stripe.refunds.create({ payment_intent: authorized.id, amount: 1 }))).toMatchObject({ code: 'charge_already_refunded' });
    expect(await stripeError(stripe.refunds.create({}))).toMatchObject({ code: 'parameter_missing' });
  });
});

describe('error codes', () => {
  it('every code the stand-in answered above is one Stripe documents', () => {
    expect(codesSeen.size).toBeGreaterThan(8);
    const documented = new Set(contract.literals('ErrorCode'));
    expect([...codesSeen].filter((code) => !documented.has(code))).toEqual([]);
  });
});
