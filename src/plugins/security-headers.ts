import helmet from '@fastify/helmet';
import type { FastifyInstance } from 'fastify';

/** The hardening headers of every response, for JSON read by scripts on other origins. */
export async function useSecurityHeaders(app: FastifyInstance): Promise<void> {
  await app.register(helmet, {
    // Responses are JSON read by scripts on other origins. The headers that govern HTML
    // documents (a CSP, window and agent-cluster isolation, DNS prefetching of a page's
    // links, IE8 downloads, Flash and PDF cross-domain policies, the retired XSS auditor)
    // protect nothing here, and each one is bytes and work on every response. What stays:
    // nosniff, HSTS, X-Frame-Options, Referrer-Policy and a cross-origin resource policy.
    contentSecurityPolicy: false,
    crossOriginOpenerPolicy: false,
    originAgentCluster: false,
    xDnsPrefetchControl: false,
    xDownloadOptions: false,
    xPermittedCrossDomainPolicies: false,
    xXssProtection: false,
    crossOriginResourcePolicy: { policy: 'cross-origin' },
  });
}
