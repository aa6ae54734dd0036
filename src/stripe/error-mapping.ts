import Stripe from 'stripe';
import { JsonApiError } from '../jsonapi/errors.ts';

/**
 * True when Stripe definitely did not act on the request, so a reservation can be released.
 * A 409 means another request with the same key is still in flight: its outcome is unknown.
 */
export function isDefinitiveStripeRejection(error: unknown): boolean {
  if (isKeyInFlight(error)) return false;
  return (
    error instanceof Stripe.errors.StripeCardError ||
    error instanceof Stripe.errors.StripeInvalidRequestError ||
    error instanceof Stripe.errors.StripeAuthenticationError ||
    error instanceof Stripe.errors.StripePermissionError ||
    error instanceof Stripe.errors.StripeIdempotencyError
  );
}

/** The PaymentIntent's status when Stripe refused because of it ('unknown' when Stripe did not say). */
export function unexpectedStateStatus(error: unknown): string | undefined {
  if (!(error instanceof Stripe.errors.StripeError) || error.code !== 'payment_intent_unexpected_state') return undefined;
  return error.payment_intent?.status ?? 'unknown';
}

function isKeyInFlight(error: unknown): boolean {
  return error instanceof Stripe.errors.StripeError && error.statusCode === 409;
}

/**
 * Translates a Stripe SDK error into the JSON:API error a client should see. Stripe's
 * own code travels in meta; nothing of ours (keys, stack) does.
 */
export function stripeErrorToJsonApi(error: unknown, pointer = '/data'): JsonApiError | undefined {
  if (!(error instanceof Stripe.errors.StripeError)) return undefined;
  const meta = {
    stripe_type: error.type,
    ...(error.code ? { stripe_code: error.code } : {}),
    ...(error.decline_code ? { decline_code: error.decline_code } : {}),
    ...(error.param ? { stripe_param: error.param } : {}),
    ...(error.requestId ? { stripe_request_id: error.requestId } : {}),
  };
  if (error instanceof Stripe.errors.StripeConnectionError && /due to timeout/.test(error.message)) {
    return new JsonApiError(504, [
      { title: 'Stripe timeout', detail: 'Stripe did not answer in time. Please retry: the retry cannot charge twice.', code: 'STRIPE_TIMEOUT', meta },
    ], { 'retry-after': '5' });
  }
  if (error instanceof Stripe.errors.StripeConnectionError) {
    return new JsonApiError(503, [
      { title: 'Stripe unavailable', detail: 'Stripe could not be reached. Please retry later.', code: 'STRIPE_UNAVAILABLE', meta },
    ], { 'retry-after': '5' });
  }
  if (isKeyInFlight(error)) {
    return new JsonApiError(409, [
      { title: 'Request in progress', detail: 'Stripe is still processing an earlier attempt of this request. Please retry shortly.', code: 'CONFLICT', meta },
    ], { 'retry-after': '2' });
  }
  if (error instanceof Stripe.errors.StripeRateLimitError) {
    return new JsonApiError(503, [
      { title: 'Stripe rate limited', detail: 'Stripe is rate limiting this account. Please retry later.', code: 'STRIPE_RATE_LIMITED', meta },
    ], { 'retry-after': '5' });
  }
  if (error instanceof Stripe.errors.StripeAPIError || (error.statusCode ?? 0) >= 500) {
    return new JsonApiError(502, [
      { title: 'Stripe error', detail: 'Stripe failed to process the request. Please retry later.', code: 'STRIPE_ERROR', meta },
    ]);
  }
  if (error instanceof Stripe.errors.StripeAuthenticationError || error instanceof Stripe.errors.StripePermissionError) {
    return new JsonApiError(422, [
      {
        title: 'Stripe rejected the gateway credentials',
        detail: 'The Stripe gateway of this payment method has an invalid or unauthorised secret key.',
        code: 'STRIPE_GATEWAY_CREDENTIALS',
        source: { pointer },
        meta,
      },
    ]);
  }
  return new JsonApiError(422, [
    {
      title: 'Stripe rejected the request',
      detail: error.message,
      code: 'STRIPE_ERROR',
      source: { pointer },
      meta,
    },
  ]);
}
