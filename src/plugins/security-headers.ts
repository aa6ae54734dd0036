import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FastifyInstance } from 'fastify';
import helmet from 'helmet';

/**
 * The hardening headers of every response. Responses are JSON read by scripts on other
 * origins: the headers that govern HTML documents (a CSP, window and agent-cluster
 * isolation, DNS prefetching of a page's links, IE8 downloads, Flash and PDF cross-domain
 * policies, the retired XSS auditor) protect nothing here, and each one is bytes and work
 * on every response. What stays: nosniff, HSTS, X-Frame-Options, Referrer-Policy and a
 * cross-origin resource policy.
 */
const policies = {
  contentSecurityPolicy: false,
  crossOriginOpenerPolicy: false,
  originAgentCluster: false,
  xDnsPrefetchControl: false,
  xDownloadOptions: false,
  xPermittedCrossDomainPolicies: false,
  xXssProtection: false,
  crossOriginResourcePolicy: { policy: 'cross-origin' },
} as const;

/**
 * Helmet's headers for these policies, worked out once: they are the same for every
 * request (no route has its own policy, nothing depends on the request), so running
 * helmet's middleware per request would only repeat the same work.
 */
export function securityHeaders(): Record<string, string> {
  const headers: Record<string, string> = {};
  const recorder = {
    setHeader(name: string, value: string | number | readonly string[]) {
      headers[name.toLowerCase()] = String(value);
    },
    removeHeader(name: string) {
      delete headers[name.toLowerCase()];
    },
  };
  helmet(policies)({} as IncomingMessage, recorder as unknown as ServerResponse, (error?: unknown) => {
    if (error) throw error;
  });
  return headers;
}

/** Sets them first thing, so that every answer has them, errors included. */
export function useSecurityHeaders(app: FastifyInstance): void {
  const headers = securityHeaders();
  // A callback hook: it never waits, and an async one costs every request a promise.
  app.addHook('onRequest', (_request, reply, done) => {
    reply.headers(headers);
    done();
  });
}
