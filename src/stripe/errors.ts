import Stripe from 'stripe';
import { JsonApiError } from '../jsonapi/errors.ts';

/** True when Stripe definitely did not act on the request, so a reservation can be released. */
export function isDefinitiveStripeRejection(error: unknown): boolean {
  return (
    error instanceof Stripe.errors.StripeCardError ||
    error instanceof Stripe.errors.StripeInvalidRequestError ||
    error instanceof Stripe.errors.StripeAuthenticationError ||
    error instanceof Stripe.errors.StripePermissionError ||
    error instanceof Stripe.errors.StripeIdempotencyError
  );
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
  if (error instanceof Stripe.errors.StripeConnectionError) {
    return new JsonApiError(503, [
      { title: 'Stripe unavailable', detail: 'Stripe could not be reached. Please retry later.', code: 'STRIPE_UNAVAILABLE', meta },
    ], { 'retry-after': '5' });
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
