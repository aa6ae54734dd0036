import type { FastifyInstance } from 'fastify';
import { purgeExpiredTokenRecords } from '../auth/tokens.ts';
import type { PrismaClient } from '../db/client.ts';
import { newId } from '../ids.ts';
import { reconcilePayments, type ReconcileOptions } from '../payments/reconcile.ts';
import type { Services } from '../services.ts';
import { purgeExpiredIdempotencyKeys } from './idempotency.ts';

/**
 * Every periodic job of a server, in one table, and the one place that runs them. A job is
 * a plain function run every `intervalMs`: started when the server listens (an app built
 * for injected requests runs none), never two runs of one job at once in this instance,
 * each failure logged and retried at the next tick, and stopped before the database closes,
 * a run in progress allowed to finish. Timers never keep the process alive.
 *
 * Several instances share the work: each tick first claims the job's current interval in
 * `job_runs` (`claimJobRun`), and only the instance that claimed it runs the job, so a job
 * runs once per interval whatever the number of instances, and still runs when one dies.
 */
export interface PeriodicJob {
  /** Names the job in log lines: "<name> failed". */
  name: string;
  intervalMs: number;
  run: () => Promise<unknown>;
}

/** Re-read PaymentIntents left pending (missed webhooks) every `intervalMs`. */
export type ReconcileJobOptions = Partial<ReconcileOptions> & { intervalMs: number };

/** Expired rows are removed this often; each purge is one indexed DELETE. */
const purgeIntervalMs = 10 * 60_000;

/** How long the record of a job's run is kept. */
const jobRunRetentionMs = 86_400_000;

/** The server's jobs: the purges always, the reconciliation when asked for. */
export function periodicJobs(services: Services, options: { reconcile?: ReconcileJobOptions | undefined }): PeriodicJob[] {
  const jobs: PeriodicJob[] = [
    { name: 'idempotency key purge', intervalMs: purgeIntervalMs, run: () => purgeExpiredIdempotencyKeys(services.db) },
    { name: 'token record purge', intervalMs: purgeIntervalMs, run: () => purgeExpiredTokenRecords(services.db) },
    {
      name: 'job run purge',
      intervalMs: purgeIntervalMs,
      run: () => services.db.jobRun.deleteMany({ where: { startedAt: { lt: new Date(Date.now() - jobRunRetentionMs) } } }),
    },
  ];
  if (options.reconcile) {
    const { intervalMs, ...reconcile } = options.reconcile;
    jobs.push({
      name: 'reconciliation run',
      intervalMs,
      run: async () => {
        const report = await reconcilePayments(services, reconcile);
        if (report.claimed > 0) services.logger.info({ reconcile: report }, 'reconciled pending payments');
      },
    });
  }
  return jobs;
}

/**
 * Whether this instance runs `job` in the interval of `now`: true for the one whose row for
 * that interval was inserted first.
 */
export type JobClaim = (job: PeriodicJob, now: Date) => Promise<boolean>;

/** Claims through `job_runs`, one row per job and interval (its primary key). */
export function claimJobRun(db: PrismaClient, instance = newId()): JobClaim {
  return async (job, now) => {
    const slotStart = new Date(Math.floor(now.getTime() / job.intervalMs) * job.intervalMs);
    const { count } = await db.jobRun.createMany({ data: [{ job: job.name, slotStart, instance }], skipDuplicates: true });
    return count === 1;
  };
}

/** Runs the jobs while the app listens; with `claim`, only in the intervals this instance claims. */
export function useJobs(app: FastifyInstance, jobs: readonly PeriodicJob[], claim?: JobClaim): void {
  const timers: NodeJS.Timeout[] = [];
  const running = new Map<string, Promise<void>>();

  const tick = (job: PeriodicJob) => {
    if (running.has(job.name)) return;
    const claimed = claim ? claim(job, new Date()) : Promise.resolve(true);
    const run = claimed
      .then((mine) => (mine ? job.run() : undefined))
      .then(
        () => undefined,
        // The message only: a driver's or Stripe's error object can carry more than a log line should.
        (error: unknown) => app.log.warn({ job: job.name, err: { message: (error as Error).message } }, `${job.name} failed`),
      )
      .finally(() => running.delete(job.name));
    running.set(job.name, run);
  };

  app.addHook('onListen', async () => {
    if (timers.length > 0) return;
    for (const job of jobs) timers.push(setInterval(() => tick(job), job.intervalMs).unref());
  });
  // Before the database closes: no new run starts, and a run in progress finishes.
  app.addHook('preClose', async () => {
    for (const timer of timers.splice(0)) clearInterval(timer);
    await Promise.all(running.values());
  });
}
