import cors from '@fastify/cors';
import helmet from '@fastify/helmet';
import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Redis } from 'ioredis';
import type { AppConfig } from './config.ts';
import { JsonApiError } from './jsonapi/errors.ts';

/**
 * What every response is subject to: security headers, CORS for storefronts (browsers
 * send JSON:API bodies and a bearer token, so every call is preflighted) and Commerce
 * Layer's rate limit per client and IP.
 */
export async function registerHttpPolicies(app: FastifyInstance, config: Pick<AppConfig, 'corsOrigins' | 'rateLimit'>): Promise<void> {
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

  await app.register(cors, {
    origin: config.corsOrigins === '*' ? '*' : config.corsOrigins,
    methods: ['GET', 'POST', 'PATCH', 'DELETE', 'OPTIONS'],
    allowedHeaders: ['Accept', 'Authorization', 'Content-Type', 'Idempotency-Key', 'X-Request-Id'],
    exposedHeaders: ['Location', 'X-Request-Id', 'Retry-After', 'X-RateLimit-Limit', 'X-RateLimit-Remaining', 'X-RateLimit-Reset'],
    maxAge: 600,
  });

  const redis = config.rateLimit.redisUrl
    ? new Redis(config.rateLimit.redisUrl, { lazyConnect: false, maxRetriesPerRequest: 1, enableOfflineQueue: false })
    : undefined;
  if (redis) {
    redis.on('error', (err: Error) => app.log.warn({ err: { message: err.message } }, 'rate-limit store unavailable'));
    app.addHook('onClose', async () => void (await redis.quit()));
  }

  await app.register(rateLimit, {
    max: config.rateLimit.max,
    timeWindow: config.rateLimit.windowSeconds * 1000,
    // After authentication, so a verified client id (not one a caller claims) picks the bucket.
    hook: 'preHandler',
    keyGenerator: (request: FastifyRequest) => {
      return `${request.access?.clientId ?? 'anonymous'}|${request.ip}`;
    },
    ...(redis ? { redis, nameSpace: config.rateLimit.redisPrefix ?? 'payments-api-rate-limit:' } : {}),
    // A Redis outage must not take the API down: count nothing rather than refuse everything.
    skipOnError: true,
    errorResponseBuilder: (_request, context) =>
      new JsonApiError(429, [
        {
          title: 'Too many requests',
          detail: `Rate limit of ${context.max} requests per ${config.rateLimit.windowSeconds} seconds exceeded; retry in ${Math.ceil(context.ttl / 1000)} seconds.`,
          code: 'TOO_MANY_REQUESTS',
        },
      ]),
  });
}
