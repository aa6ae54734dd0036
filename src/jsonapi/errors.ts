/** A JSON:API error object as Commerce Layer returns it. */
export interface ErrorObject {
  title: string;
  detail: string;
  code: string;
  status: string;
  source?: { pointer?: string; parameter?: string; header?: string };
  meta?: Record<string, unknown>;
}

/** Thrown anywhere below HTTP; the error handler turns it into an `errors` document. */
export class JsonApiError extends Error {
  readonly status: number;
  readonly errors: ErrorObject[];
  readonly headers: Record<string, string>;

  constructor(status: number, errors: Omit<ErrorObject, 'status'>[], headers: Record<string, string> = {}) {
    super(errors[0]?.detail ?? 'error');
    this.name = 'JsonApiError';
    this.status = status;
    this.errors = errors.map((error) => ({ ...error, status: String(status) }));
    this.headers = headers;
  }
}

type Source = ErrorObject['source'];

const simple =
  (status: number, code: string, title: string) =>
  (detail: string, source?: Source, meta?: Record<string, unknown>) =>
    new JsonApiError(status, [{ title, detail, code, ...(source ? { source } : {}), ...(meta ? { meta } : {}) }]);

// Codes follow Commerce Layer's (JSONAPI::Resources) vocabulary so clients can switch on them.
export const badRequest = simple(400, 'BAD_REQUEST', 'Bad request');
export const invalidResource = simple(400, 'INVALID_RESOURCE', 'Invalid resource');
export const paramNotAllowed = simple(400, 'PARAM_NOT_ALLOWED', 'Param not allowed');
export const paramMissing = simple(400, 'PARAM_MISSING', 'Missing parameter');
export const invalidFieldValue = simple(400, 'INVALID_FIELD_VALUE', 'Invalid field value');
export const invalidField = simple(400, 'INVALID_FIELD', 'Invalid field');
export const invalidInclude = simple(400, 'INVALID_INCLUDE', 'Invalid include');
export const invalidSort = simple(400, 'INVALID_SORT_CRITERIA', 'Invalid sort criteria');
export const invalidPageValue = simple(400, 'INVALID_PAGE_VALUE', 'Invalid page value');
export const keyNotIncludedInUrl = simple(400, 'KEY_NOT_INCLUDED_IN_URL', 'Key is not included in URL');
export const unauthorized = simple(401, 'UNAUTHORIZED', 'Access denied');
export const invalidToken = simple(401, 'INVALID_TOKEN', 'Invalid token');
export const forbidden = simple(403, 'FORBIDDEN', 'Operation not permitted');
export const methodNotAllowed = simple(405, 'METHOD_NOT_ALLOWED', 'Method not allowed');
export const notAcceptable = simple(406, 'NOT_ACCEPTABLE', 'Not acceptable');
export const conflict = simple(409, 'CONFLICT', 'Conflict');
export const payloadTooLarge = simple(413, 'PAYLOAD_TOO_LARGE', 'Payload too large');
export const unsupportedMediaType = simple(415, 'UNSUPPORTED_MEDIA_TYPE', 'Unsupported media type');
export const locked = simple(423, 'LOCKED', 'Locked');
export const badGateway = simple(502, 'BAD_GATEWAY', 'Bad gateway');
export const serviceUnavailable = simple(503, 'SERVICE_UNAVAILABLE', 'Service unavailable');
export const gatewayTimeout = simple(504, 'GATEWAY_TIMEOUT', 'Gateway timeout');

export function recordNotFound(): JsonApiError {
  return new JsonApiError(404, [
    {
      title: 'Record not found',
      detail: 'The requested resource was not found. Please double-check the resource id.',
      code: 'RECORD_NOT_FOUND',
    },
  ]);
}

export function routeNotFound(method: string, url: string): JsonApiError {
  return new JsonApiError(404, [
    { title: 'Not found', detail: `No route matches ${method} ${url.split('?')[0]}`, code: 'NOT_FOUND' },
  ]);
}

/** 422, one error per failed validation, each naming the attribute like Rails' "quantity - must be ...". */
export function validationErrors(
  failures: { pointer: string; message: string; meta?: Record<string, unknown> }[],
): JsonApiError {
  return new JsonApiError(
    422,
    failures.map(({ pointer, message, meta }) => ({
      title: message,
      detail: `${pointer.split('/').pop()} - ${message}`,
      code: 'VALIDATION_ERROR',
      source: { pointer },
      ...(meta ? { meta } : {}),
    })),
  );
}

export function validationError(pointer: string, message: string, meta?: Record<string, unknown>): JsonApiError {
  return validationErrors([{ pointer, message, ...(meta ? { meta } : {}) }]);
}

export function internalError(): JsonApiError {
  return new JsonApiError(500, [
    { title: 'Internal server error', detail: 'Something went wrong on our end.', code: 'INTERNAL_SERVER_ERROR' },
  ]);
}
