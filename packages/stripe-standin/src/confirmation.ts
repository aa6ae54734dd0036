import type { RequestContext } from './context.ts';
import { StripeApiError, invalidRequest, unexpectedState } from './errors.ts';
import { emitEvent } from './events.ts';
import { buildCharge } from './objects.ts';
import type { NextAction, PaymentIntent, PaymentMethod } from './objects.ts';
import { randomAlphanumeric } from './ids.ts';

/**
 * Confirming a PaymentIntent: the part of Stripe's state machine that charges the card.
 *
 *   requires_payment_method --(payment method)--> requires_confirmation
 *   requires_confirmation --confirm--> requires_action       (3D Secure card, first confirm)
 *                                  --> requires_capture      (capture_method manual)
 *                                  --> succeeded             (automatic, automatic_async)
 *                                  --> requires_payment_method + 402 card_error (decline)
 *   requires_action --confirm--> as above, authentication counted as done
 */

const CONFIRMABLE = ['requires_payment_method', 'requires_confirmation', 'requires_action'] as const;

/** Everything that can make a confirmation fail before it acts; changes nothing. */
export function assertConfirmable(
  ctx: RequestContext,
  pi: PaymentIntent,
  paymentMethod: PaymentMethod | undefined,
  returnUrl: string | undefined,
): void {
  if (!(CONFIRMABLE as readonly string[]).includes(pi.status)) {
    const message =
      pi.status === 'succeeded'
        ? 'You cannot confirm this PaymentIntent because it has already succeeded after being previously confirmed.'
        : `You cannot confirm this PaymentIntent because it has a status of ${pi.status}. ` +
          `Only a PaymentIntent with one of the following statuses may be confirmed: ${CONFIRMABLE.join(', ')}.`;
    throw unexpectedState(message, structuredClone(pi));
  }
  if (!paymentMethod && !pi.payment_method) {
    throw invalidRequest(
      "You cannot confirm this PaymentIntent because it's missing a payment method. You can either update the " +
        'PaymentIntent with a payment method and then confirm it again, or confirm it again directly with a payment method.',
      { param: 'payment_method', code: 'parameter_missing' },
    );
  }
  if (paymentMethod) assertPaymentMethodAllowed(pi, paymentMethod);
  // Stripe refuses a server-side confirmation that could need a redirect but has nowhere to return to.
  const apm = pi.automatic_payment_methods;
  if (apm?.enabled && apm.allow_redirects !== 'never' && !returnUrl && !ctx.store.returnUrls.has(pi.id)) {
    throw invalidRequest(
      'This PaymentIntent is configured to accept payment methods enabled in your Dashboard. Because some of these ' +
        'payment methods might redirect your customer off of your page, you must provide a `return_url`. If you ' +
        "don't want to accept redirect-based payment methods, set `automatic_payment_methods[enabled]` to `true` and " +
        '`automatic_payment_methods[allow_redirects]` to `never` when creating Setup Intents and Payment Intents.',
      { param: 'return_url' },
    );
  }
}

export function assertPaymentMethodAllowed(pi: PaymentIntent, pm: PaymentMethod): void {
  if (pi.payment_method_types.includes(pm.type)) return;
  throw invalidRequest(
    `The PaymentMethod provided (${pm.type}) is not allowed for this PaymentIntent. Please attach a PaymentMethod of ` +
      `one of the following types: ${pi.payment_method_types.join(', ')}. Alternatively, update the allowed ` +
      `payment_method_types for this PaymentIntent to include "${pm.type}".`,
    { param: 'payment_method', code: 'payment_intent_incompatible_payment_method' },
  );
}

/**
 * Runs the confirmation. A decline leaves the intent changed (back to
 * requires_payment_method, with last_payment_error and a failed charge) and then throws
 * Stripe's 402 card_error, which carries the intent.
 */
export function confirmIntent(
  ctx: RequestContext,
  pi: PaymentIntent,
  paymentMethod: PaymentMethod | undefined,
  returnUrl: string | undefined,
): void {
  assertConfirmable(ctx, pi, paymentMethod, returnUrl);
  const { store, owner } = ctx;
  if (returnUrl) store.returnUrls.set(pi.id, returnUrl);

  const sameMethodAwaitingAction = pi.status === 'requires_action' && (!paymentMethod || paymentMethod.id === pi.payment_method);
  if (paymentMethod) pi.payment_method = paymentMethod.id;
  const pm = pi.payment_method ? store.paymentMethods.get(pi.payment_method, owner) : undefined;
  if (!pm) throw new Error(`PaymentIntent ${pi.id} refers to a PaymentMethod the store does not hold`);
  const outcome = store.cardOutcomes.get(pm.id) ?? { kind: 'succeed' };

  if (outcome.kind === 'authenticate' && !sameMethodAwaitingAction) {
    pi.status = 'requires_action';
    pi.next_action = authenticationAction(pi, store.returnUrls.get(pi.id));
    emitEvent(ctx, 'payment_intent.requires_action', pi);
    return;
  }
  pi.next_action = null;

  if (outcome.kind === 'decline') {
    const charge = store.charges.insert(buildCharge({ paymentIntent: pi, paymentMethod: pm, captured: false, decline: outcome }), owner);
    const error = new StripeApiError(402, {
      type: 'card_error',
      code: outcome.code,
      decline_code: outcome.declineCode,
      message: outcome.message,
      charge: charge.id,
    });
    pi.status = 'requires_payment_method';
    pi.latest_charge = charge.id;
    // Stripe detaches a declined method from the intent; the error keeps a copy of it.
    pi.payment_method = null;
    pi.last_payment_error = {
      type: 'card_error',
      code: outcome.code,
      decline_code: outcome.declineCode,
      message: outcome.message,
      ...(error.error.doc_url ? { doc_url: error.error.doc_url } : {}),
      charge: charge.id,
      payment_method: structuredClone(pm),
    };
    error.error.payment_intent = structuredClone(pi);
    error.error.payment_method = structuredClone(pm);
    emitEvent(ctx, 'charge.failed', charge);
    emitEvent(ctx, 'payment_intent.payment_failed', pi);
    throw error;
  }

  const manual = pi.capture_method === 'manual';
  const charge = store.charges.insert(buildCharge({ paymentIntent: pi, paymentMethod: pm, captured: !manual }), owner);
  pi.latest_charge = charge.id;
  pi.last_payment_error = null;
  if (manual) {
    pi.status = 'requires_capture';
    pi.amount_capturable = pi.amount;
  } else {
    pi.status = 'succeeded';
    pi.amount_received = pi.amount;
  }
  emitEvent(ctx, 'charge.succeeded', charge);
  emitEvent(ctx, manual ? 'payment_intent.amount_capturable_updated' : 'payment_intent.succeeded', pi);
}

/** With a return_url Stripe sends the customer to a hosted page; without, Stripe.js handles it. */
function authenticationAction(pi: PaymentIntent, returnUrl: string | undefined): NextAction {
  const source = `src_${randomAlphanumeric(24)}`;
  if (returnUrl) {
    return {
      type: 'redirect_to_url',
      redirect_to_url: {
        return_url: returnUrl,
        url: `https://hooks.stripe.com/3d_secure_2/hosted?payment_intent=${pi.id}&payment_intent_client_secret=${pi.client_secret}&source=${source}`,
      },
    };
  }
  return {
    type: 'use_stripe_sdk',
    use_stripe_sdk: { type: 'three_d_secure_redirect', stripe_js: `https://hooks.stripe.com/redirect/authenticate/${source}`, source },
  };
}
