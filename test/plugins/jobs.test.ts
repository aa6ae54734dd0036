import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, afterEach, describe, expect, it, onTestFinished } from 'vitest';
import { inject } from 'vitest';
import { createPrismaClient } from '../../src/db/client.ts';
import { newId } from '../../src/ids.ts';
import { createTestDatabase } from '../../src/db/test-database.ts';
import { cronOf, periodicJobs, queueOf, useJobs, type PeriodicJob } from '../../src/plugins/jobs.ts';
import type { Services } from '../../src/services.ts';
import { testDatabaseUrl } from '../support/test-database-url.ts';

const apps: FastifyInstance[] = [];
afterEach(async () => {
  for (const app of apps.splice(0)) await app.close();
});

/** A bare server running `jobs` on the job queue of `databaseUrl`, its log lines captured. */
function serverWith(jobs: PeriodicJob[], databaseUrl: string) {
  const logs: { msg: string; job?: string; err?: { message: string } }[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      logs.push(JSON.parse(String(chunk)));
      done();
    },
  });
  const app = Fastify({ logger: { level: 'info', stream } });
  useJobs(app, { databaseUrl, jobs, pollingIntervalSeconds: 0.5, cronMonitorIntervalSeconds: 1 });
  apps.push(app);
  return { app, logs };
}

const listen = (app: FastifyInstance) => app.listen({ port: 0, host: '127.0.0.1' });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('the periodic jobs', () => {
  it('turn intervals into cron schedules of whole minutes', () => {
    expect(cronOf(10)).toBe('* * * * *');
    expect(cronOf(60_000)).toBe('* * * * *');
    expect(cronOf(10 * 60_000)).toBe('*/10 * * * *');
    expect(cronOf(2 * 3_600_000)).toBe('0 */2 * * *');
    expect(queueOf({ name: 'idempotency key purge' })).toBe('idempotency-key-purge');
  });

  it('run once per scheduled minute with two instances on one database, each failure logged with its name', { timeout: 150_000 }, async () => {
    const name = `counting ${randomBytes(4).toString('hex')}`;
    const runs: { instance: number; minute: number }[] = [];
    const job = (instance: number): PeriodicJob => ({
      name,
      intervalMs: 60_000,
      run: async () => {
        runs.push({ instance, minute: Math.floor(Date.now() / 60_000) });
        if (runs.length === 1) throw new Error('database unreachable');
      },
    });
    // A queue of their own: the other test files' servers share the run's, and one of them
    // stopping while it held a minute's schedule check would lose that minute's job here.
    const scratch = await createTestDatabase(inject('databaseAdminUrl'));
    onTestFinished(async () => {
      for (const app of apps.splice(0)) await app.close();
      await scratch.drop();
    });
    const first = serverWith([job(1)], scratch.databaseUrl);
    const second = serverWith([job(2)], scratch.databaseUrl);
    await first.app.ready();
    await sleep(1_500);
    // Not listening: no queue, no run.
    expect(runs).toEqual([]);
    await Promise.all([listen(first.app), listen(second.app)]);
    await expect.poll(() => runs.length, { timeout: 140_000, interval: 500 }).toBeGreaterThanOrEqual(2);
    // Once per scheduled minute: the schedule made one job per minute between the two
    // instances, and each job ran once. (The minute a run starts in says nothing: under load
    // one minute's job may start in the next minute, beside that minute's own.)
    const db = createPrismaClient(scratch.databaseUrl, { poolMax: 1 });
    try {
      const perMinute = await db.$queryRawUnsafe<{ jobs: number }[]>(
        `SELECT count(*)::int AS jobs FROM (SELECT created_on FROM pgboss.job WHERE name = $1 UNION ALL SELECT created_on FROM pgboss.archive WHERE name = $1) j
         GROUP BY date_trunc('minute', created_on)`,
        queueOf({ name }),
      );
      expect(perMinute.length).toBeGreaterThanOrEqual(runs.length);
      expect(perMinute.every((minute) => minute.jobs === 1), JSON.stringify(perMinute)).toBe(true);
    } finally {
      await db.$disconnect();
    }
    const failures = [...first.logs, ...second.logs].filter((line) => line.msg === `${name} failed`);
    expect(failures).toEqual([expect.objectContaining({ job: name, err: expect.objectContaining({ message: 'database unreachable' }) })]);
  });
});

describe('the purge jobs', () => {
  const db = createPrismaClient(testDatabaseUrl(), { poolMax: 2 });
  afterAll(() => db.$disconnect());
  const services = { db } as unknown as Services;
  const job = (name: string) => periodicJobs(services, {}).find((entry) => entry.name === name)!;

  it('remove expired Idempotency-Keys and keep the others', async () => {
    const clientId = `jobs-${randomBytes(6).toString('hex')}`;
    const key = (expiresAt: Date) => ({
      id: newId(),
      clientId,
      key: newId(),
      method: 'POST',
      path: '/api/orders',
      requestHash: 'x',
      state: 'done',
      expiresAt,
    });
    await db.idempotencyKey.createMany({ data: [key(new Date(Date.now() - 1_000)), key(new Date(Date.now() + 60_000))] });
    await job('idempotency key purge').run();
    const left = await db.idempotencyKey.findMany({ where: { clientId } });
    expect(left.map((row) => row.expiresAt.getTime() > Date.now())).toEqual([true]);
  });

  it('remove expired token revocations and refresh tokens and keep the others', async () => {
    const customer = await db.customer.create({ data: { id: newId(), email: `jobs-${randomBytes(6).toString('hex')}@example.com` } });
    const expired = new Date(Date.now() - 1_000);
    const live = new Date(Date.now() + 60_000);
    const revocations = [newId(), newId()];
    await db.tokenRevocation.createMany({ data: [{ id: revocations[0]!, expiresAt: expired }, { id: revocations[1]!, expiresAt: live }] });
    const refresh = (expiresAt: Date) => ({
      id: newId(),
      tokenHash: newId(),
      sessionId: newId(),
      applicationId: 'none',
      customerId: customer.id,
      marketId: 'none',
      scope: 'market:id:none',
      expiresAt,
    });
    await db.refreshToken.createMany({ data: [refresh(expired), refresh(live)] });
    await job('token record purge').run();
    expect((await db.tokenRevocation.findMany({ where: { id: { in: revocations } } })).map((row) => row.id)).toEqual([revocations[1]]);
    expect((await db.refreshToken.findMany({ where: { customerId: customer.id } })).map((row) => row.expiresAt)).toEqual([live]);
    await db.customer.delete({ where: { id: customer.id } });
  });
});
