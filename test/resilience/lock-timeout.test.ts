// A record locked by a session that does not let go (an operator's psql, a stuck process):
// writes that need it answer 503 with Retry-After once the lock timeout has passed, instead
// of waiting with their connection for as long as the holder; nothing is half written, and
// the same request succeeds once the lock is released.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, createCheckout, startTestContext, type TestContext } from '../support/context.ts';
import { pgbouncerBinary, startPgBouncer, type PgBouncer } from '../support/pgbouncer.ts';
import { testDatabaseUrl } from '../support/test-database-url.ts';

const lockTimeoutMs = 300;
let holder: pg.Client;

beforeAll(async () => {
  holder = new pg.Client({ connectionString: testDatabaseUrl() });
  await holder.connect();
});
afterAll(async () => {
  await holder?.end();
});

/** Runs `during` while the test's own session holds the order's row locked. */
async function withOrderLocked<T>(orderId: string, during: () => Promise<T>): Promise<T> {
  await holder.query('BEGIN');
  try {
    await holder.query('SELECT 1 FROM orders WHERE id = $1 FOR UPDATE', [orderId]);
    return await during();
  } finally {
    await holder.query('ROLLBACK');
  }
}

const createBody = (orderId: string) => ({ data: { type: 'stripe_payments', relationships: { order: { data: { type: 'orders', id: orderId } } } } });

function expectLockTimeout(response: { status: number; headers: Record<string, string>; body: { errors?: { code: string; detail: string }[] } }) {
  expect(response.status, JSON.stringify(response.body)).toBe(503);
  expect(response.headers['retry-after']).toBe('1');
  expect(response.body.errors?.[0]).toMatchObject({ code: 'SERVICE_UNAVAILABLE', detail: expect.stringContaining('retry') });
}

function startedContext(start: () => Promise<TestContext>): () => TestContext {
  let context: TestContext | undefined;
  beforeAll(async () => {
    context = await start();
  });
  afterAll(async () => {
    await context?.close();
  });
  return () => context!;
}

/** A create whose order is locked: 503 after the lock timeout, nothing written; then created once the lock is gone. */
async function createsOnceUnlocked(context: TestContext) {
  const { orderId } = await createCheckout(context);
  const startedAt = Date.now();
  const refused = await withOrderLocked(orderId, () => api(context).post('/api/stripe_payments', createBody(orderId)));
  expectLockTimeout(refused);
  expect(Date.now() - startedAt).toBeGreaterThanOrEqual(lockTimeoutMs);
  // Not even a reservation: the lock comes first.
  const { rows } = await holder.query('SELECT id FROM stripe_payments WHERE order_id = $1', [orderId]);
  expect(rows).toEqual([]);

  const created = await api(context).post('/api/stripe_payments', createBody(orderId));
  expect(created.status, created.text).toBe(201);
}

describe('a lock held by another session, on a direct connection', () => {
  const context = startedContext(() => startTestContext({ databaseLockTimeoutMs: lockTimeoutMs }));

  it('answers a create 503 after the lock timeout, writes nothing, and creates once the lock is gone', () => createsOnceUnlocked(context()));

  it('answers a write in a Prisma transaction the same way (an order attribute)', async () => {
    const { orderId } = await createCheckout(context());
    const refused = await withOrderLocked(orderId, () =>
      api(context()).patch(`/api/orders/${orderId}`, { data: { type: 'orders', id: orderId, attributes: { customer_email: 'other@example.com' } } }),
    );
    expectLockTimeout(refused);
    const order = await api(context()).get(`/api/orders/${orderId}`);
    expect(order.body.data.attributes.customer_email).toBe('shopper@example.com');
  });
});

const binary = pgbouncerBinary();
if (!binary) console.warn('lock-timeout.test.ts: the pooler case skipped: no pgbouncer binary (apt-get install pgbouncer)');

// The pooler refuses the setting at connection start: each SQL transaction sets it for itself.
describe.skipIf(!binary)('a lock held by another session, behind PgBouncer in transaction mode', () => {
  let bouncer: PgBouncer | undefined;
  afterAll(async () => {
    await bouncer?.stop();
  });
  const context = startedContext(async () => {
    bouncer = await startPgBouncer(binary!, testDatabaseUrl());
    return startTestContext({ databaseUrl: bouncer.urlOf(testDatabaseUrl()), databasePooler: 'transaction', databaseLockTimeoutMs: lockTimeoutMs });
  });

  it('answers a create 503 after the lock timeout, writes nothing, and creates once the lock is gone', () => createsOnceUnlocked(context()));
});
