import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import Fastify from 'fastify';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config.ts';
import { useRateLimit } from '../../src/plugins/rate-limit.ts';
import { api, startTestContext, type TestContext } from '../support/context.ts';
import { noRedisMessage, redisServerInstalled, startRedisServer, type RedisServer } from '../support/redis.ts';

// The shared rate limit when Redis is not there: at start the server refuses to run (it
// would otherwise count nothing across instances without saying so); later, each
// instance counts alone, says so, and closes without an error.

describe('a REDIS_URL that does not answer at start', () => {
  it('stops the start with one line naming REDIS_URL', async () => {
    const closed = createServer();
    const port = await new Promise<number>((done) => closed.listen(0, '127.0.0.1', () => done((closed.address() as { port: number }).port)));
    await new Promise((done) => closed.close(done));
    const app = Fastify();
    try {
      await expect(useRateLimit(app, { rateLimit: { max: 3, windowSeconds: 60, redisUrl: `redis://127.0.0.1:${port}` } })).rejects.toThrowError(
        new ConfigError(`Cannot reach Redis at 127.0.0.1:${port} (REDIS_URL; ECONNREFUSED): start Redis, or unset REDIS_URL to count rate limits per instance`),
      );
    } finally {
      await app.close();
    }
  });
});

if (!redisServerInstalled) console.warn(noRedisMessage);

describe.skipIf(!redisServerInstalled)('Redis lost while serving', () => {
  let redis: RedisServer;
  let context: TestContext;
  afterAll(async () => {
    await redis?.kill();
  });

  it('falls back to per-instance limits with a warning, says so in /health/ready, and closes quietly', async () => {
    redis = await startRedisServer();
    context = await startTestContext({
      rateLimit: { max: 3, windowSeconds: 60, redisUrl: redis.url, redisPrefix: `rate-limit-test-${randomBytes(4).toString('hex')}:` },
    });
    expect((await context.http.get('/health/ready')).body).toMatchObject({ status: 'ok', redis: 'ok' });
    expect((await api(context).get('/api/orders')).status).toBe(200);

    await redis.kill();
    await expect.poll(async () => (await context.http.get('/health/ready')).body.redis, { timeout: 20_000 }).toBe('unreachable');
    const ready = await context.http.get('/health/ready');
    expect(ready.status).toBe(200);

    // A budget of 3 still holds, now counted by this instance alone.
    const statuses: number[] = [];
    for (let i = 0; i < 4; i += 1) statuses.push((await api(context).get('/api/orders')).status);
    expect(statuses).toEqual([200, 200, 200, 429]);
    expect(context.logs.join('')).toContain('Redis is unreachable: rate limits are counted per instance until it is back');

    // Closing with Redis gone: no "Connection is closed" error.
    await expect(context.close()).resolves.toBeUndefined();
  });
});
