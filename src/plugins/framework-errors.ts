import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { internalError, JsonApiError } from '../jsonapi/errors.ts';
import { mediaType } from '../jsonapi/media-type.ts';

/**
 * What Fastify and Node's HTTP parser answer before any route or hook runs, as JSON:API
 * error documents like every other answer: a URL that does not decode (`/api/orders/%FF`),
 * a path parameter over the router's limit (414), and what the parser itself refuses
 * (431 for a request line or headers over Node's limit, 408, and 400 for raw non-ASCII or
 * control bytes in the path and other malformed requests). The defaults answer plain JSON.
 */

const routingErrors: Record<string, { status: number; code: string; title: string; detail: string }> = {
  FST_ERR_BAD_URL: { status: 400, code: 'BAD_REQUEST', title: 'Bad request', detail: 'The URL is not valid: a percent-encoded sequence does not decode.' },
  FST_ERR_MAX_PARAM_LENGTH: { status: 414, code: 'URI_TOO_LONG', title: 'URI too long', detail: 'A path segment is longer than this API accepts.' },
};

/** Fastify's `frameworkErrors` option. */
export function frameworkErrors(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const known = routingErrors[error.code];
  const jsonApiError = known
    ? new JsonApiError(known.status, [{ title: known.title, detail: known.detail, code: known.code }])
    : internalError();
  if (!known) request.log.error({ err: error }, 'unhandled framework error');
  const type = request.url.startsWith('/oauth') ? 'application/json' : mediaType;
  void reply.code(jsonApiError.status).type(type).send({ errors: jsonApiError.errors });
}

function clientErrorOf(error: NodeJS.ErrnoException): { status: number; code: string; title: string; detail: string } {
  if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    return { status: 408, code: 'REQUEST_TIMEOUT', title: 'Request timeout', detail: 'The request was not received in time.' };
  }
  if (error.code === 'HPE_HEADER_OVERFLOW') {
    return {
      status: 431,
      code: 'REQUEST_HEADER_FIELDS_TOO_LARGE',
      title: 'Request header fields too large',
      detail: 'The request line and headers together exceed the size this server accepts.',
    };
  }
  return { status: 400, code: 'BAD_REQUEST', title: 'Bad request', detail: 'The request is not valid HTTP: its request line (raw non-ASCII or control bytes in the path), a header or its framing.' };
}

/** Fastify's `clientErrorHandler` option: the request could not be parsed, so the answer is written to the socket. */
export function clientErrorHandler(error: NodeJS.ErrnoException, socket: Socket): void {
  // A reset connection has nobody to answer.
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  if (socket.writable) {
    const { status, code, title, detail } = clientErrorOf(error);
    const body = JSON.stringify({ errors: [{ title, detail, code, status: String(status) }] });
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: ${mediaType}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy(error);
}
