import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { createPrismaClient } from '../../src/db/client.ts';
import { newId } from '../../src/ids.ts';
import { claimJobRun, periodicJobs, useJobs, type JobClaim, type PeriodicJob } from '../../src/plugins/jobs.ts';
import type { Services } from '../../src/services.ts';

const apps: FastifyInstance[] = [];
afterEach(async () => {
  for (const app of apps.splice(0)) await app.close();
});

/** A bare server running `jobs`, its log lines captured. */
function serverWith(jobs: PeriodicJob[], claim?: JobClaim) {
  const logs: { msg: string; job?: string; err?: { message: string } }[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      logs.push(JSON.parse(String(chunk)));
      done();
    },
  });
  const app = Fastify({ logger: { level: 'info', stream } });
  useJobs(app, jobs, claim);
  apps.push(app);
  return { app, logs };
}

const listen = (app: FastifyInstance) => app.listen({ port: 0, host: '127.0.0.1' });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('the periodic jobs', () => {
  it('run only once the server listens', async () => {
    let runs = 0;
    const { app } = serverWith([{ name: 'counting', intervalMs: 10, run: async () => void (runs += 1) }]);
    await app.ready();
    await sleep(100);
    expect(runs).toBe(0);
    await listen(app);
    await expect.poll(() => runs, { timeout: 5_000 }).toBeGreaterThanOrEqual(2);
  });

  it('log each failure with the job name and run again at the next tick', async () => {
    let runs = 0;
    const { app, logs } = serverWith([
      {
        name: 'flaky purge',
        intervalMs: 10,
        run: async () => {
          runs += 1;
          if (runs === 1) throw new Error('database unreachable');
        },
      },
    ]);
    await listen(app);
    await expect.poll(() => runs, { timeout: 5_000 }).toBeGreaterThanOrEqual(2);
    const failures = logs.filter((line) => line.msg === 'flaky purge failed');
    expect(failures).toEqual([expect.objectContaining({ job: 'flaky purge', err: expect.objectContaining({ message: 'database unreachable' }) })]);
  });

  it('never run one job twice at once, and close waits for the run in progress', async () => {
    let active = 0;
    let mostActive = 0;
    let started = 0;
    let finished = 0;
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const { app } = serverWith([
      {
        name: 'slow',
        intervalMs: 10,
        run: async () => {
          started += 1;
          active += 1;
          mostActive = Math.max(mostActive, active);
          await released;
          active -= 1;
          finished += 1;
        },
      },
    ]);
    await listen(app);
    await expect.poll(() => started, { timeout: 5_000 }).toBe(1);
    // Many ticks pass while the first run is still going.
    await sleep(100);
    expect(started).toBe(1);

    apps.splice(apps.indexOf(app), 1);
    let closed = false;
    const closing = app.close().then(() => (closed = true));
    await sleep(50);
    expect(closed).toBe(false);
    release();
    await closing;
    expect(finished).toBe(1);
    expect(mostActive).toBe(1);
    // Stopped: no run starts after close.
    await sleep(50);
    expect(started).toBe(1);
  });
});

describe('the periodic jobs of several instances', () => {
  const db = createPrismaClient(inject('databaseUrl'), { poolMax: 4 });
  afterAll(() => db.$disconnect());

  it('run once per interval between them, by whichever instance claims it first', async () => {
    const name = `shared-${randomBytes(4).toString('hex')}`;
    const intervalMs = 100;
    const runs: { instance: string }[] = [];
    const job = (instance: string): PeriodicJob => ({ name, intervalMs, run: async () => void runs.push({ instance }) });
    // Started together, their timers tick in the same intervals.
    const first = serverWith([job('first')], claimJobRun(db, 'first'));
    const second = serverWith([job('second')], claimJobRun(db, 'second'));
    await Promise.all([listen(first.app), listen(second.app)]);
    await expect.poll(async () => db.jobRun.count({ where: { job: name } }), { timeout: 10_000 }).toBeGreaterThanOrEqual(5);
    await first.app.close();
    await second.app.close();

    const claimed = await db.jobRun.findMany({ where: { job: name }, orderBy: { slotStart: 'asc' } });
    // One run per claimed interval (the key of job_runs), not one per instance and tick.
    expect(runs).toHaveLength(claimed.length);
    expect(runs.map((run) => run.instance).sort()).toEqual(claimed.map((row) => row.instance).sort());
  });

  it('purge the records of runs older than a day', async () => {
    const old = { job: `old-${randomBytes(4).toString('hex')}`, slotStart: new Date(Date.now() - 2 * 86_400_000), instance: 'gone', startedAt: new Date(Date.now() - 2 * 86_400_000) };
    const recent = { ...old, slotStart: new Date(), startedAt: new Date() };
    await db.jobRun.createMany({ data: [old, recent] });
    await periodicJobs({ db } as unknown as Services, {}).find((entry) => entry.name === 'job run purge')!.run();
    expect(await db.jobRun.count({ where: { job: old.job } })).toBe(1);
  });
});

describe('the purge jobs', () => {
  const db = createPrismaClient(inject('databaseUrl'), { poolMax: 2 });
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
