/**
 * Stripe's error envelope (`{ error: { type, message, code?, param?, ... } }`) and the
 * few constructors the endpoints need. The SDK picks its error class from the HTTP status
 * (and `type` for idempotency errors), so status and type must travel together.
 */

export type StripeErrorType = 'invalid_request_error' | 'api_error' | 'card_error' | 'idempotency_error';

export interface StripeErrorObject {
  type: StripeErrorType;
  message: string;
  code?: string;
  param?: string;
  decline_code?: string;
  doc_url?: string;
  charge?: string;
  payment_intent?: unknown;
  payment_method?: unknown;
}

export class StripeApiError extends Error {
  readonly status: number;
  readonly error: StripeErrorObject;

  constructor(status: number, error: StripeErrorObject) {
    super(error.message);
    this.name = 'StripeApiError';
    this.status = status;
    this.error = withDocUrl(error);
  }

  body(): { error: StripeErrorObject } {
    return { error: this.error };
  }
}

/**
 * A request whose parameters failed validation. Stripe saves no idempotent result for
 * these ("results are only saved if an API endpoint started executing"), so the
 * idempotency layer tells them apart by class.
 */
export class ParameterError extends StripeApiError {
  constructor(error: Omit<StripeErrorObject, 'type'>) {
    super(400, { type: 'invalid_request_error', ...error });
    this.name = 'ParameterError';
  }
}

function withDocUrl(error: StripeErrorObject): StripeErrorObject {
  if (!error.code || error.doc_url) return error;
  return { ...error, doc_url: `https://stripe.com/docs/error-codes/${error.code.replaceAll('_', '-')}` };
}

export function invalidRequest(message: string, extra: { param?: string; code?: string; status?: number } = {}): StripeApiError {
  const { status = 400, ...rest } = extra;
  return new StripeApiError(status, { type: 'invalid_request_error', message, ...rest });
}

export function parameterMissing(param: string): ParameterError {
  return new ParameterError({ code: 'parameter_missing', param, message: `Missing required param: ${param}.` });
}

export function parameterUnknown(param: string): ParameterError {
  return new ParameterError({ code: 'parameter_unknown', param, message: `Received unknown parameter: ${param}` });
}

export function parameterInvalid(param: string, message: string, code?: string): ParameterError {
  return new ParameterError(code ? { code, param, message } : { param, message });
}

export function parameterInvalidEmpty(param: string): ParameterError {
  return new ParameterError({
    code: 'parameter_invalid_empty',
    param,
    message:
      `You passed an empty string for '${param}'. We assume empty values are an attempt to unset a parameter; ` +
      `however '${param}' cannot be unset. You should remove '${param}' from your request or supply a non-empty value.`,
  });
}

/**
 * `kind` is the object name Stripe puts in the message (`payment_intent`, `PaymentMethod`).
 * A missing object named in the URL is a 404; one named in the body is a 400.
 */
export function resourceMissing(
  kind: string,
  id: string,
  param: string,
  options: { status?: 400 | 404; otherMode?: 'test' | 'live' | undefined } = {},
): StripeApiError {
  const { status = 404, otherMode } = options;
  const hint = otherMode
    ? `; a similar object exists in ${otherMode} mode, but a ${otherMode === 'test' ? 'live' : 'test'} mode key was used to make this request.`
    : '';
  return invalidRequest(`No such ${kind}: '${id}'${hint}`, { status, code: 'resource_missing', param });
}

export function unexpectedState(message: string, paymentIntent: unknown): StripeApiError {
  return new StripeApiError(400, {
    type: 'invalid_request_error',
    code: 'payment_intent_unexpected_state',
    message,
    payment_intent: paymentIntent,
  });
}

export function apiError(message = 'An unknown error occurred'): StripeApiError {
  return new StripeApiError(500, { type: 'api_error', message });
}
