import type { FastifyInstance } from 'fastify';
import { badRequest, notAcceptable, unsupportedMediaType } from '../jsonapi/errors.ts';
import { acceptsJsonApi, isJsonApiContentType, mediaType } from '../jsonapi/media-type.ts';

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
