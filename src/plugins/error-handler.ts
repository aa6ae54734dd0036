import type { FastifyError, FastifyInstance } from 'fastify';
import { internalError, JsonApiError, routeNotFound } from '../jsonapi/errors.ts';
import { mediaType } from '../jsonapi/media-type.ts';
import { databaseErrorToJsonApi } from './database-errors.ts';

/**
 * Every error becomes an `errors` document: ours (JsonApiError) as thrown, the database's
 * as database-errors.ts classifies them, Fastify's own client errors (a body too large, bad
 * JSON) as 4xx, and anything else as a 500 whose cause stays in the log, never in the
 * response. OAuth routes answer as OAuth clients expect, application/json.
 */

/** Fastify's own client errors, by code, as JSON:API codes. Anything else of status >= 500 is ours. */
const fastifyErrorCodes: Record<string, string> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'BAD_REQUEST',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'BAD_REQUEST',
  FST_ERR_CTP_INVALID_JSON_BODY: 'BAD_REQUEST',
};

function toJsonApiError(error: FastifyError & { code?: string }, method: string): JsonApiError {
  if (error instanceof JsonApiError) return error;
  const fromDatabase = databaseErrorToJsonApi(error, method);
  if (fromDatabase) return fromDatabase;
  const status = error.statusCode ?? 500;
  if (status >= 400 && status < 500) {
    const detail = error instanceof SyntaxError ? 'The request body is not valid JSON' : error.message;
    return new JsonApiError(status, [{ title: 'Bad request', detail, code: fastifyErrorCodes[error.code ?? ''] ?? 'BAD_REQUEST' }]);
  }
  return internalError();
}

/** The error handler and the not-found handler of the whole app; registered before any route. */
export function useErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError, request, reply) => {
    const jsonApiError = toJsonApiError(error, request.method);
    if (jsonApiError.status >= 500 && jsonApiError.errors[0]?.code === 'INTERNAL_SERVER_ERROR') {
      request.log.error({ err: error }, 'unhandled error');
    }
    const type = request.url.startsWith('/oauth') ? 'application/json' : mediaType;
    if (jsonApiError.errors[0]?.code) request.errorCode = jsonApiError.errors[0].code;
    return reply.code(jsonApiError.status).headers(jsonApiError.headers).type(type).send({ errors: jsonApiError.errors });
  });
  app.setNotFoundHandler((request, reply) => {
    const error = routeNotFound(request.method, request.url);
    if (error.errors[0]?.code) request.errorCode = error.errors[0].code;
    return reply.code(404).type(mediaType).send({ errors: error.errors });
  });
}
