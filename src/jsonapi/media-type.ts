import type { FastifyInstance } from 'fastify';
import { badRequest, notAcceptable, unsupportedMediaType } from './errors.ts';

export const mediaType = 'application/vnd.api+json';

interface MediaRange {
  type: string;
  parameters: string[];
}

function parseMediaRanges(header: string): MediaRange[] {
  return header.split(',').map((range) => {
    const [type = '', ...parameters] = range.split(';').map((part) => part.trim().toLowerCase());
    return { type, parameters: parameters.filter((parameter) => !parameter.startsWith('q=')) };
  });
}

/**
 * JSON:API negotiation: the client must accept application/vnd.api+json without media
 * type parameters (or a wildcard covering it). No Accept header means "anything" (RFC 9110).
 */
export function acceptsJsonApi(accept: string | undefined): boolean {
  if (accept === undefined || accept.trim() === '') return true;
  return parseMediaRanges(accept).some(
    ({ type, parameters }) =>
      (type === mediaType && parameters.length === 0) || type === '*/*' || type === 'application/*',
  );
}

/** A request body must be exactly our media type; `charset=utf-8` is tolerated because many clients add it. */
export function isJsonApiContentType(contentType: string | undefined): boolean {
  if (contentType === undefined) return false;
  const [range] = parseMediaRanges(contentType);
  return range?.type === mediaType && range.parameters.every((parameter) => parameter === 'charset=utf-8');
}

/** Content negotiation and the body parser for every route of the scope it is registered in. */
export function useJsonApiMediaType(scope: FastifyInstance): void {
  const parseJson = scope.getDefaultJsonParser('error', 'error');
  scope.removeAllContentTypeParsers();
  scope.addContentTypeParser(mediaType, { parseAs: 'string' }, (request, body, done) => {
    if (body === '') {
      // Clients (the official SDK among them) send the media type on DELETE with no body.
      if (request.method === 'DELETE' || request.method === 'GET') return done(null, undefined);
      return done(badRequest('The request body is empty', { pointer: '' }), undefined);
    }
    parseJson(request, String(body), (error, value) => {
      done(error ? badRequest('The request body is not valid JSON', { pointer: '' }) : null, value);
    });
  });
  // A callback hook: it never waits, and an async one costs every request a promise.
  scope.addHook('onRequest', (request, _reply, done) => {
    if (!acceptsJsonApi(request.headers.accept)) {
      throw notAcceptable(`The Accept header must allow ${mediaType}`, { header: 'Accept' });
    }
    const hasBody = request.method === 'POST' || request.method === 'PATCH' || request.method === 'PUT';
    if (hasBody && !isJsonApiContentType(request.headers['content-type'])) {
      throw unsupportedMediaType(`The Content-Type header must be ${mediaType}`, { header: 'Content-Type' });
    }
    done();
  });
}
