import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { api, jsonApi, startTestContext, type TestContext } from '../support/context.ts';
import { noRedisMessage, redisServerInstalled, startRedisServer, testRedisUrl, type RedisServer } from '../support/redis.ts';

const contexts: TestContext[] = [];
async function start(...args: Parameters<typeof startTestContext>) {
  const context = await startTestContext(...args);
  contexts.push(context);
  return context;
}
afterAll(async () => {
  for (const context of contexts) await context.close();
});

describe('security headers', () => {
  it('sends the standard hardening headers and no server fingerprint', async () => {
    const context = await start();
    const response = await api(context).get('/api/orders');
    expect(response.headers['x-content-type-options']).toBe('nosniff');
    expect(response.headers['strict-transport-security']).toMatch(/max-age=/);
    expect(response.headers['x-frame-options']).toBe('SAMEORIGIN');
    expect(response.headers['referrer-policy']).toBe('no-referrer');
    expect(response.headers['x-powered-by']).toBeUndefined();
    // Headers about HTML documents are not sent with JSON.
    expect(response.headers['origin-agent-cluster']).toBeUndefined();
    expect(response.headers['x-dns-prefetch-control']).toBeUndefined();
  });

  it('sends the same headers with every answer: a document, an unknown path, a refused body', async () => {
    const context = await start();
    const answers = [
      await api(context).get('/health/live'),
      await api(context).get('/api/no_such_resources'),
      await context.http.post('/oauth/token').set('Content-Type', 'application/json').send('{"grant_type":'),
    ];
    expect(answers.map((answer) => answer.status)).toEqual([200, 404, 400]);
    for (const answer of answers) {
      expect(answer.headers['x-content-type-options']).toBe('nosniff');
      expect(answer.headers['cross-origin-resource-policy']).toBe('cross-origin');
      expect(answer.headers['x-frame-options']).toBe('SAMEORIGIN');
      expect(answer.headers['referrer-policy']).toBe('no-referrer');
    }
  });
});

describe('CORS', () => {
  it('answers the preflight of a storefront POST with a JSON:API body and a bearer token', async () => {
    const context = await start();
    const response = await context.http
      .options('/api/stripe_payments')
      .set('Origin', 'https://shop.example.com')
      .set('Access-Control-Request-Method', 'POST')
      .set('Access-Control-Request-Headers', 'authorization,content-type,accept');
    expect(response.status).toBe(204);
    expect(response.headers['access-control-allow-origin']).toBe('*');
    expect(response.headers['access-control-allow-methods']).toContain('POST');
    expect(response.headers['access-control-allow-headers']?.toLowerCase()).toContain('authorization');

    const actual = await api(context).get('/api/orders').set('Origin', 'https://shop.example.com');
    expect(actual.headers['access-control-allow-origin']).toBe('*');
    expect(actual.headers['access-control-expose-headers']).toContain('Location');
  });

  it('allows only the configured origins when a list is set', async () => {
    const context = await start({ corsOrigins: ['https://shop.example.com'] });
    const allowed = await api(context).get('/api/orders').set('Origin', 'https://shop.example.com');
    expect(allowed.headers['access-control-allow-origin']).toBe('https://shop.example.com');
    const other = await api(context).get('/api/orders').set('Origin', 'https://evil.example.net');
    expect(other.headers['access-control-allow-origin']).toBeUndefined();
  });
});

describe('rate limiting', () => {
  it('answers 429 with a JSON:API error and rate-limit headers past the budget', async () => {
    const context = await start({ rateLimit: { max: 3, windowSeconds: 60, redisUrl: undefined } });
    const statuses: number[] = [];
    let last;
    for (let i = 0; i < 4; i += 1) {
      last = await api(context).get('/api/orders');
      statuses.push(last.status);
    }
    expect(statuses).toEqual([200, 200, 200, 429]);
    expect(last!.headers['content-type']).toMatch(/^application\/vnd\.api\+json/);
    expect(last!.body.errors[0]).toMatchObject({ status: '429', code: 'TOO_MANY_REQUESTS' });
    expect(last!.headers['x-ratelimit-limit']).toBe('3');
    expect(Number(last!.headers['retry-after'])).toBeGreaterThan(0);
  });

  if (!redisServerInstalled && !testRedisUrl) console.warn(noRedisMessage);
  let redis: RedisServer | undefined;
  afterAll(async () => {
    await redis?.kill();
  });

  it.skipIf(!redisServerInstalled && !testRedisUrl)('shares the budget between instances through Redis', async () => {
    // A redis-server of its own unless one is given: the test needs no Redis running on the machine.
    if (!testRedisUrl) redis = await startRedisServer();
    const shared = { rateLimit: {
        max: 3,
        windowSeconds: 60,
        redisUrl: testRedisUrl ?? redis!.url,
        // A fresh namespace: the token requests of earlier runs must not count here.
        redisPrefix: `rate-limit-test-${randomBytes(4).toString('hex')}:`,
      },
    };
    const first = await start(shared);
    const second = await start(shared);
    const asFirst = (context: TestContext) =>
      context.http.get('/api/orders').set('Accept', jsonApi).set('Authorization', `Bearer ${first.token}`);
    const statuses = [
      (await asFirst(first)).status,
      (await asFirst(second)).status,
      (await asFirst(first)).status,
      (await asFirst(second)).status,
    ];
    expect(statuses).toEqual([200, 200, 200, 429]);
    // Two apps (each with its stand-in, migrations check and token) and a redis-server start
    // here: about 2 s alone, past vitest's 5 s while the rest of the suite loads both cores.
  }, 30_000);
});
