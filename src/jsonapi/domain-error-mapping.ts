import { DomainError, StripeCallFailed, type ErrorField } from '../domain-error.ts';
import { stripeErrorToJsonApi } from '../stripe/error-mapping.ts';
import { conflict, recordNotFound, validationError, type JsonApiError } from './errors.ts';

/** Where a domain error's field is in a write document. */
export function pointerOf(field: ErrorField): string {
  if ('attribute' in field) return `/data/attributes/${field.attribute}`;
  if ('relationship' in field) return `/data/relationships/${field.relationship}`;
  if ('trigger' in field) return `/data/attributes/${field.trigger}`;
  if ('base' in field) return '/data/attributes/base';
  if ('attributes' in field) return '/data/attributes';
  return '/data';
}

/**
 * The JSON:API error a domain error answers with: `invalid` 422 VALIDATION_ERROR,
 * `conflict` 409 CONFLICT, `not_found` 404 RECORD_NOT_FOUND, a failed Stripe call as
 * src/stripe/error-mapping.ts says; anything else is returned as it is.
 */
export function toJsonApiError(error: unknown): JsonApiError | unknown {
  if (error instanceof DomainError) {
    if (error.kind === 'not_found') return recordNotFound();
    const pointer = pointerOf(error.field ?? { document: true });
    if (error.kind === 'conflict') return conflict(error.detail, { pointer });
    return validationError(pointer, error.detail, error.meta);
  }
  if (error instanceof StripeCallFailed) return stripeErrorToJsonApi(error.cause, pointerOf(error.field)) ?? error.cause;
  return error;
}

/** Runs a domain step, answering its errors in JSON:API's terms. */
export async function answering<T>(step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (error) {
    throw toJsonApiError(error);
  }
}
