/**
 * Errors of the domain (payments, orders, line items), in its own words: what went wrong
 * and which field of the request it is about. They know nothing of HTTP or JSON:API;
 * src/jsonapi/domain-error-mapping.ts turns the field into a `source.pointer` and the kind into a
 * status and code, so the same step can run behind the API, a job or a test.
 */

/** The part of a write an error is about. */
export type ErrorField =
  /** An attribute: /data/attributes/<name>. */
  | { attribute: string }
  /** A relationship: /data/relationships/<name>. */
  | { relationship: string }
  /** A trigger (`_capture`): an attribute in JSON:API's terms. */
  | { trigger: string }
  /** The record as a whole, Rails' `base`: /data/attributes/base. */
  | { base: true }
  /** The attributes taken together (an order total they would push too far): /data/attributes. */
  | { attributes: true }
  /** The write as a whole: /data. */
  | { document: true };

export type DomainErrorKind =
  /** The request cannot be done as asked (422). */
  | 'invalid'
  /** Something else is doing the same thing right now: retry when it has finished (409). */
  | 'conflict'
  /** The record is not there (404). */
  | 'not_found';

export class DomainError extends Error {
  constructor(
    readonly kind: DomainErrorKind,
    readonly field: ErrorField | undefined,
    readonly detail: string,
    readonly meta?: Record<string, unknown>,
  ) {
    super(detail);
    this.name = 'DomainError';
  }
}

export const invalid = (field: ErrorField, detail: string, meta?: Record<string, unknown>) => new DomainError('invalid', field, detail, meta);
export const conflict = (field: ErrorField, detail: string) => new DomainError('conflict', field, detail);
export const notFound = () => new DomainError('not_found', undefined, 'The requested record was not found.');

/**
 * A Stripe call that failed, and the field of the request that asked for it: the API
 * answers with Stripe's error (502, 503, 504, 409, or 422 with Stripe's code in meta).
 * `cause` is the Stripe SDK's error.
 */
export class StripeCallFailed extends Error {
  constructor(
    override readonly cause: unknown,
    readonly field: ErrorField,
  ) {
    super((cause as Error).message);
    this.name = 'StripeCallFailed';
  }
}
