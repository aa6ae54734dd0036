import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Redis } from 'ioredis';
import type { AppConfig } from '../config.ts';
import { JsonApiError } from '../jsonapi/errors.ts';

/**
 * Commerce Layer's rate limit, per client and IP, counted in memory or, for several
 * instances, in a shared Redis. Routes opt out with `config: { rateLimit: false }`.
 */
export async function useRateLimit(app: FastifyInstance, config: Pick<AppConfig, 'rateLimit'>): Promise<void> {
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
