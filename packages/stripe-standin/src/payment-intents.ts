import { assertConfirmable, assertPaymentMethodAllowed, confirmIntent } from './confirmation.ts';
import { ok } from './context.ts';
import type { Handler, RequestContext } from './context.ts';
import { ParameterError, invalidRequest, parameterMissing, resourceMissing, unexpectedState } from './errors.ts';
import { emitEvent } from './events.ts';
import { validateExpand } from './expand.ts';
import { newId, unixNow } from './ids.ts';
import { checkAmount } from './money.ts';
import { buildPaymentIntent } from './objects.ts';
import type { CaptureMethod, PaymentIntent } from './objects.ts';
import {
  boolean,
  currency,
  email,
  integer,
  mergeMetadata,
  metadata,
  object,
  oneOf,
  parseParams,
  string,
  stringList,
} from './params.ts';
import { resolvePaymentMethod } from './payment-methods.ts';

const CAPTURE_METHODS = ['automatic', 'automatic_async', 'manual'] as const;
const SETUP_FUTURE_USAGES = ['on_session', 'off_session'] as const;

export const CREATE = {
  amount: integer({ required: true, min: 1 }),
  currency: currency({ required: true }),
  metadata: metadata(),
  description: string({ maxLength: 1000 }),
  receipt_email: email(),
  customer: string(),
  payment_method: string(),
  setup_future_usage: oneOf(SETUP_FUTURE_USAGES),
  capture_method: oneOf(CAPTURE_METHODS),
  confirm: boolean(),
  return_url: string(),
  // The pinned API version names the request parameter allowed_payment_method_types; payment_method_types is the answer's.
  allowed_payment_method_types: stringList(),
  automatic_payment_methods: object({ enabled: boolean({ required: true }), allow_redirects: oneOf(['always', 'never']) }),
  statement_descriptor: string({ maxLength: 22 }),
  statement_descriptor_suffix: string({ maxLength: 22 }),
  on_behalf_of: string(),
  transfer_group: string(),
  expand: stringList(),
};

export const UPDATE = {
  amount: integer({ min: 1 }),
  currency: currency(),
  metadata: metadata(),
  description: string({ maxLength: 1000 }),
  receipt_email: email(),
  customer: string(),
  payment_method: string(),
  setup_future_usage: oneOf(SETUP_FUTURE_USAGES),
  transfer_group: string(),
  expand: stringList(),
};

export const CONFIRM = {
  payment_method: string(),
  return_url: string(),
  receipt_email: email(),
  setup_future_usage: oneOf(SETUP_FUTURE_USAGES),
  capture_method: oneOf(CAPTURE_METHODS),
  expand: stringList(),
};

export const CAPTURE = {
  amount_to_capture: integer({ min: 1 }),
  metadata: metadata(),
  expand: stringList(),
};

export const CANCEL = {
  cancellation_reason: oneOf(['duplicate', 'fraudulent', 'requested_by_customer', 'abandoned']),
  expand: stringList(),
};

// client_secret is accepted (Stripe.js sends it) but a secret key needs no proof.
export const RETRIEVE = { expand: stringList(), client_secret: string() };

/** Fields Stripe lets change only before the payment is made; the others change any time before cancellation. */
const UPDATABLE_BEFORE_PAYMENT = ['amount', 'currency', 'customer', 'payment_method', 'setup_future_usage'] as const;
const BEFORE_PAYMENT_STATUSES = ['requires_payment_method', 'requires_confirmation', 'requires_action'] as const;
const CANCELABLE = ['requires_payment_method', 'requires_capture', 'requires_confirmation', 'requires_action', 'processing'] as const;

/** API versions from 2024-06-20 default to automatic_async; the SDK always names its version. */
function defaultCaptureMethod(stripeVersion: string | undefined): CaptureMethod {
  return stripeVersion !== undefined && stripeVersion < '2024-06-20' ? 'automatic' : 'automatic_async';
}

function findIntent(ctx: RequestContext): PaymentIntent {
  const pi = ctx.store.paymentIntents.get(ctx.id, ctx.owner);
  if (!pi) {
    throw resourceMissing('payment_intent', ctx.id, 'intent', { otherMode: ctx.store.paymentIntents.otherModeOf(ctx.id, ctx.owner) });
  }
  // A publishable key proves nothing by itself: the client secret is what lets a browser in.
  if (ctx.clientSecret !== undefined && ctx.clientSecret !== pi.client_secret) {
    if (ctx.clientSecret === '') throw parameterMissing('client_secret');
    throw invalidRequest('The client_secret provided does not match the client_secret associated with the PaymentIntent.', { param: 'client_secret' });
  }
  return pi;
}

/** Metadata given at creation: empty values mean "no such key". */
function initialMetadata(given: Record<string, string> | null | undefined): Record<string, string> {
  return mergeMetadata({}, given ?? undefined);
}

export const createPaymentIntent: Handler = (ctx) => {
  const p = parseParams(CREATE, ctx.params);
  validateExpand('payment_intent', p.expand);
  checkAmount(p.amount, p.currency);
  if (p.return_url && !p.confirm) {
    throw new ParameterError({
      param: 'return_url',
      message: 'The parameter `return_url` cannot be passed when creating a PaymentIntent unless `confirm` is set to true.',
    });
  }
  const apm = p.automatic_payment_methods;
  const allowed = p.allowed_payment_method_types;
  if (apm?.enabled && allowed) {
    throw new ParameterError({
      code: 'parameters_exclusive',
      param: 'automatic_payment_methods',
      message: 'You may only specify one of these parameters: automatic_payment_methods, allowed_payment_method_types.',
    });
  }
  // Without a list of payment method types, current API versions turn automatic payment methods on.
  const automaticPaymentMethods = allowed
    ? null
    : apm && apm.enabled !== undefined
      ? { enabled: apm.enabled, ...(apm.enabled ? { allow_redirects: apm.allow_redirects ?? 'always' } : {}) }
      : { enabled: true, allow_redirects: 'always' as const };

  const pi = buildPaymentIntent({
    amount: p.amount,
    currency: p.currency,
    livemode: ctx.owner.livemode,
    captureMethod: p.capture_method ?? defaultCaptureMethod(ctx.stripeVersion),
    paymentMethodTypes: allowed ?? ['card'],
    allowedPaymentMethodTypes: allowed ?? null,
    automaticPaymentMethods,
  });
  pi.metadata = initialMetadata(p.metadata);
  pi.description = p.description ?? null;
  pi.receipt_email = p.receipt_email ?? null;
  pi.customer = p.customer ?? null;
  pi.setup_future_usage = p.setup_future_usage ?? null;
  pi.statement_descriptor = p.statement_descriptor ?? null;
  pi.statement_descriptor_suffix = p.statement_descriptor_suffix ?? null;
  pi.on_behalf_of = p.on_behalf_of ?? null;
  pi.transfer_group = p.transfer_group ?? null;

  const pm = p.payment_method ? resolvePaymentMethod(ctx, p.payment_method) : undefined;
  if (pm) assertPaymentMethodAllowed(pi, pm);
  const returnUrl = p.return_url ?? undefined;
  // A create-and-confirm that cannot confirm creates nothing.
  if (p.confirm) assertConfirmable(ctx, pi, pm, returnUrl);
  if (pm) {
    pi.payment_method = pm.id;
    pi.status = 'requires_confirmation';
  }
  ctx.store.paymentIntents.insert(pi, ctx.owner);
  emitEvent(ctx, 'payment_intent.created', pi);
  if (p.confirm) confirmIntent(ctx, pi, undefined, returnUrl);
  return ok(ctx, pi, p.expand);
};

export const retrievePaymentIntent: Handler = (ctx) => {
  const p = parseParams(RETRIEVE, ctx.params);
  validateExpand('payment_intent', p.expand);
  return ok(ctx, findIntent(ctx), p.expand);
};

export const updatePaymentIntent: Handler = (ctx) => {
  const p = parseParams(UPDATE, ctx.params);
  validateExpand('payment_intent', p.expand);
  const pi = findIntent(ctx);
  if (pi.status === 'canceled') {
    throw unexpectedState('You cannot update this PaymentIntent because it has a status of canceled.', structuredClone(pi));
  }
  if (!(BEFORE_PAYMENT_STATUSES as readonly string[]).includes(pi.status)) {
    const blocked = UPDATABLE_BEFORE_PAYMENT.find((field) => p[field] !== undefined);
    if (blocked) {
      throw unexpectedState(
        `This PaymentIntent's ${blocked} could not be updated because it has a status of ${pi.status}. ` +
          `You may only update the ${blocked} of a PaymentIntent with one of the following statuses: ${BEFORE_PAYMENT_STATUSES.join(', ')}.`,
        structuredClone(pi),
      );
    }
  }
  // Stripe: "You can only provide transfer_group if it hasn't been set."
  if (p.transfer_group !== undefined && pi.transfer_group !== null && p.transfer_group !== pi.transfer_group) {
    throw invalidRequest('You can only provide transfer_group if it has not been set.', { param: 'transfer_group' });
  }
  const amount = p.amount ?? pi.amount;
  const newCurrency = p.currency ?? pi.currency;
  if (p.amount !== undefined || p.currency !== undefined) checkAmount(amount, newCurrency);
  const pm = p.payment_method ? resolvePaymentMethod(ctx, p.payment_method) : undefined;
  if (pm) assertPaymentMethodAllowed(pi, pm);

  pi.amount = amount;
  pi.currency = newCurrency;
  pi.metadata = mergeMetadata(pi.metadata, p.metadata);
  if (p.description !== undefined) pi.description = p.description;
  if (p.receipt_email !== undefined) pi.receipt_email = p.receipt_email;
  if (p.customer !== undefined) pi.customer = p.customer;
  if (p.setup_future_usage !== undefined) pi.setup_future_usage = p.setup_future_usage;
  if (p.transfer_group !== undefined) pi.transfer_group = p.transfer_group;
  if (pm) {
    // A new method needs a new confirmation, even mid-authentication.
    pi.payment_method = pm.id;
    pi.status = 'requires_confirmation';
    pi.next_action = null;
  } else if (p.payment_method === null) {
    pi.payment_method = null;
    pi.status = 'requires_payment_method';
    pi.next_action = null;
  }
  return ok(ctx, pi, p.expand);
};

export const confirmPaymentIntent: Handler = (ctx) => {
  const p = parseParams(CONFIRM, ctx.params);
  validateExpand('payment_intent', p.expand);
  const pi = findIntent(ctx);
  const pm = p.payment_method ? resolvePaymentMethod(ctx, p.payment_method) : undefined;
  const returnUrl = p.return_url ?? undefined;
  assertConfirmable(ctx, pi, pm, returnUrl);
  if (p.receipt_email !== undefined) pi.receipt_email = p.receipt_email;
  if (p.setup_future_usage !== undefined) pi.setup_future_usage = p.setup_future_usage;
  if (p.capture_method) pi.capture_method = p.capture_method;
  confirmIntent(ctx, pi, pm, returnUrl);
  return ok(ctx, pi, p.expand);
};

export const capturePaymentIntent: Handler = (ctx) => {
  const p = parseParams(CAPTURE, ctx.params);
  validateExpand('payment_intent', p.expand);
  const pi = findIntent(ctx);
  if (pi.status !== 'requires_capture') {
    throw unexpectedState(
      `This PaymentIntent could not be captured because it has a status of ${pi.status}. ` +
        'Only a PaymentIntent with one of the following statuses may be captured: requires_capture.',
      structuredClone(pi),
    );
  }
  const amount = p.amount_to_capture ?? pi.amount_capturable;
  if (amount > pi.amount_capturable) {
    throw invalidRequest(
      `The amount_to_capture (${amount}) cannot be greater than the amount_capturable (${pi.amount_capturable}) of this PaymentIntent.`,
      { param: 'amount_to_capture', code: 'amount_too_large' },
    );
  }
  const charge = pi.latest_charge ? ctx.store.charges.get(pi.latest_charge, ctx.owner) : undefined;
  if (!charge) throw new Error(`PaymentIntent ${pi.id} awaits capture without a charge`);
  // A partial capture releases the rest of the authorization.
  charge.captured = true;
  charge.amount_captured = amount;
  charge.balance_transaction = newId('txn');
  pi.amount_received = amount;
  pi.amount_capturable = 0;
  pi.status = 'succeeded';
  pi.metadata = mergeMetadata(pi.metadata, p.metadata);
  emitEvent(ctx, 'charge.captured', charge);
  emitEvent(ctx, 'payment_intent.succeeded', pi);
  return ok(ctx, pi, p.expand);
};

export const cancelPaymentIntent: Handler = (ctx) => {
  const p = parseParams(CANCEL, ctx.params);
  validateExpand('payment_intent', p.expand);
  const pi = findIntent(ctx);
  if (!(CANCELABLE as readonly string[]).includes(pi.status)) {
    throw unexpectedState(
      `You cannot cancel this PaymentIntent because it has a status of ${pi.status}. ` +
        `Only a PaymentIntent with one of the following statuses may be canceled: ${CANCELABLE.join(', ')}.`,
      structuredClone(pi),
    );
  }
  pi.status = 'canceled';
  pi.canceled_at = unixNow();
  pi.cancellation_reason = p.cancellation_reason ?? null;
  pi.amount_capturable = 0;
  pi.next_action = null;
  emitEvent(ctx, 'payment_intent.canceled', pi);
  return ok(ctx, pi, p.expand);
};
