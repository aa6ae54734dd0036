import { createRequire } from 'node:module';
import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Redis } from 'ioredis';
import { ConfigError, type AppConfig } from '../config.ts';
import { JsonApiError } from '../jsonapi/errors.ts';

type Counted = { current: number; ttl: number };
type Incr = (key: string, done: (error: Error | null, result: Counted | null) => void, timeWindow: number, max: number) => void;
interface Store {
  incr: Incr;
  child(routeOptions: unknown): Store;
}
type StoreConstructor<A extends unknown[]> = new (...args: A) => Store;

// The plugin's own stores (it exports neither): the shared one and the in-memory one.
const require = createRequire(import.meta.url);
const RedisStore = require('@fastify/rate-limit/store/RedisStore.js') as StoreConstructor<[boolean, boolean, Redis, string]>;
const LocalStore = require('@fastify/rate-limit/store/LocalStore.js') as StoreConstructor<[boolean, boolean, number?]>;

/** What /health/ready reports about the shared rate-limit store. */
export interface RateLimitStatus {
  /** undefined: no REDIS_URL, every instance counts alone by design. */
  redis(): 'ok' | 'unreachable' | undefined;
}

/** How long start-up waits for Redis to answer before refusing to start. */
const redisConnectTimeoutMs = 5_000;

function describeRedisUrl(redisUrl: string): string {
  const url = new URL(redisUrl);
  return `${url.hostname}:${url.port || 6379}`;
}

/**
 * While Redis answers, the shared count; while it does not, each instance's own count
 * (a budget per instance, so several instances allow more, but never unlimited), with a
 * warning when the fallback starts and a line when Redis is back.
 */
function fallbackStore(shared: Store, local: Store, redis: Redis, onSwitch: (toLocal: boolean, error?: Error) => void): Store {
  let usingLocal = false;
  const incr: Incr = (key, done, timeWindow, max) => {
    const fallBack = (error?: Error) => {
      if (!usingLocal) onSwitch(true, error);
      usingLocal = true;
      local.incr(key, done, timeWindow, max);
    };
    if (redis.status !== 'ready') return fallBack();
    shared.incr(
      key,
      (error, result) => {
        if (error) return fallBack(error);
        if (usingLocal) onSwitch(false);
        usingLocal = false;
        done(null, result);
      },
      timeWindow,
      max,
    );
  };
  return { incr, child: (routeOptions) => fallbackStore(shared.child(routeOptions), local.child(routeOptions), redis, onSwitch) };
}

/**
 * Commerce Layer's rate limit, per client and IP, counted in memory or, for several
 * instances, in a shared Redis. Routes opt out with `config: { rateLimit: false }`.
 * A REDIS_URL that does not answer at start stops the start (a ConfigError).
 */
export async function useRateLimit(app: FastifyInstance, config: Pick<AppConfig, 'rateLimit'>): Promise<RateLimitStatus> {
  const redisUrl = config.rateLimit.redisUrl;
  let redis: Redis | undefined;
  if (redisUrl) {
    redis = new Redis(redisUrl, {
      lazyConnect: true,
      maxRetriesPerRequest: 1,
      enableOfflineQueue: false,
      connectTimeout: redisConnectTimeoutMs,
      // Reconnects forever once started, at most every 5 s: Redis may come back.
      retryStrategy: (attempt) => Math.min(attempt * 200, 5_000),
    });
    let lastError = '';
    let firstFailure: NodeJS.ErrnoException | undefined;
    redis.on('error', (err: NodeJS.ErrnoException) => {
      firstFailure ??= err;
      // Once per kind of failure, not once per reconnection attempt.
      if (err.message !== lastError) app.log.warn({ err: { message: err.message } }, 'rate-limit store (Redis) unavailable');
      lastError = err.message;
    });
    redis.on('ready', () => (lastError = ''));
    try {
      await Promise.race([
        redis.connect(),
        new Promise((_, reject) => setTimeout(() => reject(new Error(`no answer in ${redisConnectTimeoutMs} ms`)), redisConnectTimeoutMs).unref()),
      ]);
    } catch (error) {
      redis.disconnect();
      // connect() rejects with "Connection is closed."; the cause came as an 'error' event.
      const cause = firstFailure ?? (error as NodeJS.ErrnoException);
      const reason = cause.code ?? cause.message;
      throw new ConfigError(
        `Cannot reach Redis at ${describeRedisUrl(redisUrl)} (REDIS_URL; ${reason}): start Redis, or unset REDIS_URL to count rate limits per instance`,
      );
    }
    const connection = redis;
    app.addHook('onClose', async () => {
      // quit() on a connection already lost rejects ("Connection is closed"): just drop it.
      if (connection.status === 'ready') await connection.quit().catch(() => connection.disconnect());
      else connection.disconnect();
    });
  }

  const nameSpace = config.rateLimit.redisPrefix ?? 'payments-api-rate-limit:';
  const connection = redis;
  const onSwitch = (toLocal: boolean, error?: Error) =>
    toLocal
      ? app.log.warn({ err: error ? { message: error.message } : undefined }, 'Redis is unreachable: rate limits are counted per instance until it is back')
      : app.log.info('Redis is back: rate limits are shared again');
  // The plugin instantiates `store` with its settings.
  const sharedStore = (shared: Redis) =>
    class SharedWithFallback implements Store {
      private readonly store: Store;
      constructor(params: { continueExceeding: boolean; exponentialBackoff: boolean }) {
        this.store = fallbackStore(
          new RedisStore(params.continueExceeding, params.exponentialBackoff, shared, nameSpace),
          new LocalStore(params.continueExceeding, params.exponentialBackoff),
          shared,
          onSwitch,
        );
      }
      incr: Incr = (...args) => this.store.incr(...args);
      child(routeOptions: unknown): Store {
        return this.store.child(routeOptions);
      }
    };
  await app.register(rateLimit, {
    max: config.rateLimit.max,
    timeWindow: config.rateLimit.windowSeconds * 1000,
    // After authentication, so a verified client id (not one a caller claims) picks the bucket.
    hook: 'preHandler',
    keyGenerator: (request: FastifyRequest) => {
      return `${request.access?.clientId ?? 'anonymous'}|${request.ip}`;
    },
    ...(connection
      ? {
          store: sharedStore(connection) as never,
        }
      : {}),
    errorResponseBuilder: (_request, context) =>
      new JsonApiError(429, [
        {
          title: 'Too many requests',
          detail: `Rate limit of ${context.max} requests per ${config.rateLimit.windowSeconds} seconds exceeded; retry in ${Math.ceil(context.ttl / 1000)} seconds.`,
          code: 'TOO_MANY_REQUESTS',
        },
      ]),
  });
  return { redis: () => (connection ? (connection.status === 'ready' ? 'ok' : 'unreachable') : undefined) };
}
