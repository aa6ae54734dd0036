// Connections cut under a request in flight (what `npm run soak` does at random, here at
// chosen moments): the request answers 503, a committed write keeps its answer, and a
// retry with the same Idempotency-Key is neither refused for a minute nor run twice.
import { randomBytes } from 'node:crypto';
import Fastify from 'fastify';
import pg from 'pg';
import type PgBoss from 'pg-boss';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { isDatabaseUnavailable } from '../../src/plugins/database-errors.ts';
import { useJobs } from '../../src/plugins/jobs.ts';
import { connectDatabase, createPrismaClient } from '../../src/db/client.ts';
import { createTestDatabase } from '../../src/db/test-database.ts';
import { api, createCheckout, startTestContext, type TestContext } from '../support/context.ts';
import { startCuttingProxy } from '../support/cutting-proxy.ts';
import { startReceiver, type Receiver } from '../support/receiver.ts';
import { testDatabaseUrl } from '../support/test-database-url.ts';

let context: TestContext;
let receiver: Receiver | undefined;
// Other test files share the database: only this app's connections may be cut.
const applicationName = `db-cuts-${process.pid}-${Date.now()}`;
const admins: pg.Client[] = [];

beforeAll(async () => {
  const url = new URL(testDatabaseUrl());
  url.searchParams.set('application_name', applicationName);
  context = await startTestContext({ databaseUrl: url.toString() });
});
afterAll(async () => {
  for (const admin of admins) await admin.end().catch(() => {});
  await context?.close();
  await receiver?.down();
});

/** A connection of the test's own, to hold locks with and to cut the app's connections. */
async function adminClient(): Promise<pg.Client> {
  const admin = new pg.Client({ connectionString: testDatabaseUrl() });
  await admin.connect();
  admins.push(admin);
  return admin;
}

/** Where backends are looked up: outside any transaction, since inside one pg_stat_activity is a snapshot taken at its start. */
let observerConnection: Promise<pg.Client> | undefined;
const observer = () => (observerConnection ??= adminClient());

/** The app's backend that waits for a lock on a statement like `pattern`, once it waits. */
function lockWaiter(pattern: string): Promise<number> {
  return backendOf(applicationName, `wait_event_type = 'Lock' AND query ILIKE $2`, [pattern]);
}

/** The connection of application `name` whose activity matches `condition` (SQL over pg_stat_activity, parameters from $2), once it shows. */
async function backendOf(name: string, condition: string, parameters: unknown[] = []): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt += 1) {
    const { rows } = await (await observer()).query<{ pid: number }>(`SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND ${condition}`, [name, ...parameters]);
    if (rows[0]) return rows[0].pid;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`no connection of ${name} where ${condition} ${JSON.stringify(parameters)}`);
}

/**
 * A line item POST with `key` that waits for its order, held by the test, once the test
 * also holds the key's row: its connection (`waiter`) can then be cut at a chosen moment.
 */
async function lineItemWaitingForItsOrder(orderId: string, key: string) {
  const orderHolder = await adminClient();
  const keyHolder = await adminClient();
  await orderHolder.query('BEGIN');
  await orderHolder.query('SELECT id FROM orders WHERE id = $1 FOR UPDATE', [orderId]);
  const pending = postLineItem(orderId, key).then((response) => response);
  const waiter = await lockWaiter('%FROM orders%FOR %UPDATE%');
  await keyHolder.query('BEGIN');
  const { rowCount } = await keyHolder.query('SELECT id FROM idempotency_keys WHERE key = $1 FOR UPDATE', [key]);
  return { orderHolder, keyHolder, pending, waiter, keyRowLocked: rowCount === 1 };
}

async function terminate(pid: number): Promise<void> {
  await (await observer()).query('SELECT pg_terminate_backend($1)', [pid]);
}

function lineItem(orderId: string) {
  return {
    data: {
      type: 'line_items',
      attributes: { sku_code: 'CUT', name: 'Cut', quantity: 1, unit_amount_cents: 700 },
      relationships: { order: { data: { type: 'orders', id: orderId } } },
    },
  };
}

function postLineItem(orderId: string, key?: string) {
  const request = api(context).post('/api/line_items', lineItem(orderId));
  return key === undefined ? request : request.set('Idempotency-Key', key);
}

/** Retries while the key is reported in progress, as a client does, for at most `ms`. */
async function retryWhileInProgress(send: () => ReturnType<typeof postLineItem>, ms: number) {
  const deadline = Date.now() + ms;
  for (;;) {
    const response = await send();
    if (response.status !== 409 || Date.now() > deadline) return response;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

describe('connections cut under a request', { timeout: 30_000 }, () => {
  it('answers 503 when the connection of a waiting request is terminated, and the retry succeeds', async () => {
    const { orderId } = await createCheckout(context);
    const holder = await adminClient();
    await holder.query('BEGIN');
    await holder.query('SELECT id FROM orders WHERE id = $1 FOR UPDATE', [orderId]);
    try {
      const pending = postLineItem(orderId).then((response) => response);
      await terminate(await lockWaiter('%FROM orders%FOR %UPDATE%'));
      const response = await pending;
      expect(response.status).toBe(503);
      expect(response.headers['retry-after']).toBeDefined();
      expect(response.body.errors[0].code).toBe('SERVICE_UNAVAILABLE');
    } finally {
      await holder.query('ROLLBACK');
    }
    expect((await postLineItem(orderId)).status).toBe(201);
  });

  it("keeps a committed write's answer when its Idempotency-Key could not be finished, and replays it", async () => {
    // The key is recorded in the write's own transaction: storing the answer after the
    // COMMIT is what fails here, its connection cut (through a proxy) as it is sent.
    const proxy = await startCuttingProxy(testDatabaseUrl());
    const proxied = await startTestContext({ databaseUrl: proxy.urlOf(testDatabaseUrl()) });
    try {
      const { orderId } = await createCheckout(proxied);
      const before = await proxied.db.lineItem.count({ where: { orderId } });
      const key = `cut-${randomBytes(6).toString('hex')}`;
      const post = () => api(proxied).post('/api/line_items', lineItem(orderId)).set('Idempotency-Key', key);
      const cut = proxy.cutRequest(/UPDATE "public"\."idempotency_keys" SET[\s\S]*"response_status"/);
      const response = await post();
      await cut;

      expect(response.status).toBe(201);
      const created = response.body.data.id as string;
      // Once the database answers again, the same key replays that answer: one line item, not two.
      const retried = await retryWhileInProgress(post, 10_000);
      expect(retried.status).toBe(201);
      expect(retried.headers['idempotent-replayed']).toBe('true');
      expect(retried.body.data.id).toBe(created);
      expect(await proxied.db.lineItem.count({ where: { orderId } })).toBe(before + 1);
    } finally {
      await proxied.close();
      await proxy.close();
    }
  });

  it('lets a retry with the same Idempotency-Key run when the failed request could not release it', async () => {
    const { orderId } = await createCheckout(context);
    const key = `cut-${randomBytes(6).toString('hex')}`;
    const { orderHolder, keyHolder, pending, waiter } = await lineItemWaitingForItsOrder(orderId, key);
    // The request fails (503), and releasing its key fails too.
    await terminate(waiter);
    await terminate(await lockWaiter('%DELETE%idempotency_keys%'));
    const failed = await pending;
    await keyHolder.query('ROLLBACK');
    await orderHolder.query('ROLLBACK');
    expect(failed.status).toBe(503);

    // Not "still in progress" for the minute after which a key is deemed abandoned.
    const retried = await retryWhileInProgress(() => postLineItem(orderId, key), 10_000);
    expect(retried.status).toBe(201);
    expect(await context.db.lineItem.count({ where: { orderId, skuCode: 'CUT' } })).toBe(1);
  });

  it("counts node-postgres's errors for a connection that died as the database being unavailable", async () => {
    const admin = await adminClient();
    const name = `${applicationName}-probe`;
    const client = new pg.Client({ connectionString: testDatabaseUrl(), application_name: name });
    const errors: Error[] = [];
    client.on('error', (error) => errors.push(error));
    await client.connect();
    await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1', [name]);
    await expect.poll(() => errors.length).toBeGreaterThan(0);
    const failure = await client.query('SELECT 1').then(
      () => undefined,
      (error: Error) => error,
    );
    await client.end().catch(() => {});
    expect(failure?.message).toMatch(/not queryable|terminat/i);
    expect(isDatabaseUnavailable(failure as Error & { code?: string })).toBe(true);
  });

  it('counts the errors of reads sent past Prisma (refused, terminated by the server) as the database being unavailable', async () => {
    // Nothing listens on port 1: the pool's connection is refused.
    const refused = connectDatabase('postgresql://postgres@127.0.0.1:1/postgres');
    const refusal = await refused.query({ text: 'SELECT 1' }, []).then(
      () => undefined,
      (error: Error) => error,
    );
    await refused.prisma.$disconnect();
    expect(refusal).toBeInstanceOf(Error);
    expect(isDatabaseUnavailable(refusal as Error & { code?: string })).toBe(true);

    // A read whose connection an administrator terminates while it runs: SQLSTATE 57P01.
    const url = new URL(testDatabaseUrl());
    const name = `${applicationName}-read`;
    url.searchParams.set('application_name', name);
    const database = connectDatabase(url.toString(), { poolMax: 1 });
    try {
      const reading = database.query({ name: 'slow_read', text: 'SELECT pg_sleep(10)' }, []).then(
        () => undefined,
        (error: Error) => error,
      );
      await terminate(await backendOf(name, `query ILIKE '%pg_sleep%'`));
      const failure = await reading;
      expect(failure).toBeInstanceOf(Error);
      expect(isDatabaseUnavailable(failure as Error & { code?: string })).toBe(true);
    } finally {
      await database.prisma.$disconnect();
    }
  });

  it('survives an idle connection of the shared pool dying before Prisma ever connected, and reads again', async () => {
    const url = new URL(testDatabaseUrl());
    const name = `${applicationName}-idle`;
    url.searchParams.set('application_name', name);
    const database = connectDatabase(url.toString(), { poolMax: 1 });
    try {
      await database.query({ text: 'SELECT 1' }, []);
      // Unhandled, the pool's 'error' event for this idle connection would end the process.
      await terminate(await backendOf(name, `state = 'idle'`));
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(await database.query({ text: 'SELECT 2' }, [])).toEqual([[2]]);
    } finally {
      await database.prisma.$disconnect();
    }
  });

  it('survives a checked-out connection of the shared pool dying between two of its queries, and reads again', async () => {
    const url = new URL(testDatabaseUrl());
    const name = `${applicationName}-held`;
    url.searchParams.set('application_name', name);
    const database = connectDatabase(url.toString(), { poolMax: 1 });
    try {
      const client = await database.pool.connect();
      await client.query('SELECT 1');
      // Unhandled, the client's 'error' event (no query running, not idle in the pool) would end the process.
      await terminate(await backendOf(name, `state = 'idle'`));
      await expect.poll(() => (client as unknown as { _queryable: boolean })._queryable).toBe(false);
      const failure = await client.query('SELECT 2').then(
        () => undefined,
        (error: Error) => error,
      );
      expect(isDatabaseUnavailable(failure as Error & { code?: string })).toBe(true);
      client.release();
      expect(await database.query({ text: 'SELECT 3' }, [])).toEqual([[3]]);
    } finally {
      await database.prisma.$disconnect();
    }
  });

  it("counts Prisma's error for a COMMIT whose connection is cut as the database being unavailable", async () => {
    // A database of its own: a deferred unique constraint makes the COMMIT wait for another
    // transaction, and the connection is cut while it waits (what the soak met by chance).
    const scratch = await createTestDatabase(inject('databaseAdminUrl'));
    const holder = new pg.Client({ connectionString: scratch.databaseUrl });
    const url = new URL(scratch.databaseUrl);
    const name = `${applicationName}-commit`;
    url.searchParams.set('application_name', name);
    const db = createPrismaClient(url.toString(), { poolMax: 1 });
    try {
      await holder.connect();
      await holder.query('CREATE TABLE probe (id int UNIQUE DEFERRABLE INITIALLY DEFERRED)');
      await holder.query('BEGIN');
      await holder.query('INSERT INTO probe VALUES (1)');
      const committing = db
        .$transaction(async (tx) => {
          await tx.$executeRaw`INSERT INTO probe VALUES (1)`;
        })
        .then(
          () => undefined,
          (error: Error) => error,
        );
      await terminate(await backendOf(name, `wait_event_type = 'Lock' AND query ILIKE 'COMMIT%'`));
      const failure = await committing;
      expect(failure).toBeInstanceOf(Error);
      expect(isDatabaseUnavailable(failure as Error & { code?: string })).toBe(true);
    } finally {
      await db.$disconnect();
      await holder.end().catch(() => {});
      await scratch.drop();
    }
  });
});

describe('the outgoing webhooks\' LISTEN connection cut', { timeout: 60_000 }, () => {
  it('listens again on a new connection and delivers the next event through its notification', async () => {
    receiver = await startReceiver();
    const created = await api(context).post('/api/webhooks', {
      data: { type: 'webhooks', attributes: { topic: 'customers.create', callback_url: receiver.url('/listen-cut') } },
    });
    expect(created.status, created.text).toBe(201);
    receiver.register('/listen-cut', 'customers.create', created.body.data.attributes.shared_secret);
    const listening = `query ILIKE 'LISTEN%'`;
    try {
      const first = await backendOf(applicationName, listening);
      await terminate(first);
      const second = await backendOf(applicationName, `${listening} AND pid <> $2`, [first]);
      expect(second).not.toBe(first);

      const customer = await api(context).post('/api/customers', { data: { type: 'customers', attributes: { email: `listen-${randomBytes(4).toString('hex')}@example.com` } } });
      expect(customer.status, customer.text).toBe(201);
      // Well before the minute's sweep: the notification on the new connection queued it.
      await expect.poll(() => receiver?.received.filter((event) => event.body.data.id === customer.body.data.id).length, { timeout: 20_000 }).toBe(1);
      expect(context.logs.some((line) => line.includes('webhook listener reconnected'))).toBe(true);
    } finally {
      await api(context).delete(`/api/webhooks/${created.body.data.id}`);
    }
  });

  it('closes the listener with the server when the first sweep at start fails', async () => {
    const name = `${applicationName}-start`;
    const url = new URL(testDatabaseUrl());
    url.searchParams.set('application_name', name);
    // The sweep at start waits for the table the test holds, and its connection is cut while it waits.
    const holder = await adminClient();
    await holder.query('BEGIN');
    await holder.query('LOCK TABLE webhook_events IN ACCESS EXCLUSIVE MODE');
    const starting = startTestContext({ databaseUrl: url.toString() });
    try {
      await terminate(await backendOf(name, `wait_event_type = 'Lock' AND query ILIKE '%FROM webhook_events e JOIN webhooks%'`));
    } finally {
      await holder.query('ROLLBACK');
    }
    const started = await starting;
    await backendOf(name, `query ILIKE 'LISTEN%'`);
    await started.close();
    // Its backend leaves pg_stat_activity once the connection is ended; before, the listener outlived the server.
    const listening = async () => (await (await observer()).query(`SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND query ILIKE 'LISTEN%'`, [name])).rows;
    await expect.poll(listening, { timeout: 10_000 }).toEqual([]);
  });
});

describe('the job queue under a cut', { timeout: 60_000 }, () => {
  it("keeps the process up when the connection recording a job's completion is cut", async () => {
    // pg-boss records a handled job's outcome without awaiting it: a rejection there was
    // unhandled, and the server shut down after it (what the soak with three instances met).
    const name = `${applicationName}-jobs`;
    const url = new URL(testDatabaseUrl());
    url.searchParams.set('application_name', name);
    const rejections: unknown[] = [];
    const onRejection = (reason: unknown) => rejections.push(reason);
    process.on('unhandledRejection', onRejection);
    const logs: string[] = [];
    const app = Fastify({ logger: { level: 'warn', stream: { write: (line: string) => logs.push(line) } } });
    const queue = `cut-${randomBytes(4).toString('hex')}`;
    let queueStarted!: (boss: PgBoss) => void;
    const ready = new Promise<PgBoss>((resolve) => (queueStarted = resolve));
    let startHandling!: () => void;
    const handling = new Promise<void>((resolve) => (startHandling = resolve));
    let finishHandling!: () => void;
    const handled = new Promise<void>((resolve) => (finishHandling = resolve));
    useJobs(app, {
      databaseUrl: url.toString(),
      jobs: [],
      workers: [
        {
          queue,
          handle: async () => {
            startHandling();
            await handled;
          },
          started: async (started) => {
            queueStarted(started.boss);
            return async () => {};
          },
        },
      ],
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    try {
      // The queue starts once the server listens, not before `listen` returns.
      const boss = await ready;
      const id = await boss.send(queue, {});
      await handling;
      // The job's row held: its completion waits for the lock, and its connection is cut while it waits.
      const holder = await adminClient();
      await holder.query('BEGIN');
      await holder.query('SELECT id FROM pgboss.job WHERE id = $1 FOR UPDATE', [id]);
      finishHandling();
      await terminate(await backendOf(name, `wait_event_type = 'Lock' AND query ILIKE '%completed_on = now()%'`));
      await holder.query('ROLLBACK');
      await expect.poll(() => logs.some((line) => line.includes('job outcome not recorded')), { timeout: 20_000 }).toBe(true);
      expect(rejections).toEqual([]);
      // The queue still works: the job, left active, is sent again once it expires; a new one runs now.
      const next = await boss.send(queue, {});
      await expect.poll(async () => (await boss.getJobById(queue, next!))?.state, { timeout: 20_000 }).toBe('completed');
    } finally {
      process.off('unhandledRejection', onRejection);
      await app.close();
    }
  });
});
