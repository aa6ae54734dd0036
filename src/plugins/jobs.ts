import type { FastifyInstance } from 'fastify';
import pg from 'pg';
import PgBoss from 'pg-boss';
import { purgeExpiredTokenRecords } from '../auth/tokens.ts';
import { reconcilePayments, type ReconcileOptions } from '../payments/reconcile.ts';
import type { Services } from '../services.ts';
import { purgeExpiredIdempotencyKeys } from './idempotency.ts';

/**
 * Every periodic job of a server, in one table, run on pg-boss (a job queue kept in
 * PostgreSQL, in its own schema `pgboss`), so that however many instances share the
 * database each scheduled run happens once: pg-boss's cron monitor lets one instance per
 * minute turn schedules into jobs (a singleton per job name and minute), and each job is
 * fetched by one worker (`FOR UPDATE SKIP LOCKED`). Started when the server listens (an app
 * built for injected requests runs none), each failure logged with the job's name, stopped
 * before the database closes, a run in progress allowed to finish.
 *
 * Job names (the pg-boss queue of each): `idempotency-key-purge`, `token-record-purge`,
 * `reconciliation-run`, `webhook-sweep` (src/webhooks/worker.ts), and the queue
 * `webhook-lane` of outgoing webhook deliveries. Runs can be inspected in SQL:
 *   SELECT name, state, started_on, completed_on, output FROM pgboss.job
 *     WHERE name = 'reconciliation-run' ORDER BY created_on DESC;
 * (finished jobs move to `pgboss.archive` after a day); `pgboss.schedule` lists the schedules.
 * Schedules are shared by the instances: give them all the same configuration. One an
 * instance no longer declares (the reconciliation turned off) stays until deleted from
 * `pgboss.schedule`; its jobs are then worked only by instances that still declare it.
 */
export interface PeriodicJob {
  /** Names the job in log lines: "<name> failed"; its queue is the name with dashes. */
  name: string;
  /** Rounded to whole minutes (pg-boss schedules are cron expressions), at least one. */
  intervalMs: number;
  run: () => Promise<unknown>;
}

/** A queue the server works besides its schedules (webhook deliveries). */
export interface QueueWorker {
  queue: string;
  policy?: 'standard' | 'short';
  /** A job still active after this long is taken as lost (its instance died) and retried. */
  expireInSeconds?: number;
  /** Jobs fetched and handled at once by this instance (each on its own); 1 when absent. */
  batchSize?: number;
  handle: (data: Record<string, unknown>) => Promise<void>;
  /** Called once the worker runs, with what lets others send it jobs and wake it; what it returns runs at close. */
  started?: (queue: StartedQueue) => Promise<(() => Promise<void>) | void>;
}

export interface StartedQueue {
  boss: PgBoss;
  /** Wakes this instance's worker at once instead of at its next poll. */
  wake(): void;
}

/** Re-read PaymentIntents left pending (missed webhooks) every `intervalMs`. */
export type ReconcileJobOptions = Partial<ReconcileOptions> & { intervalMs: number };

/** Expired rows are removed this often; each purge is one indexed DELETE. */
const purgeIntervalMs = 10 * 60_000;

/** The server's jobs: the purges always, the reconciliation when asked for. */
export function periodicJobs(services: Services, options: { reconcile?: ReconcileJobOptions | undefined }): PeriodicJob[] {
  const jobs: PeriodicJob[] = [
    { name: 'idempotency key purge', intervalMs: purgeIntervalMs, run: () => purgeExpiredIdempotencyKeys(services.db) },
    { name: 'token record purge', intervalMs: purgeIntervalMs, run: () => purgeExpiredTokenRecords(services.db) },
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

/** The pg-boss queue of a job: its name with dashes. */
export function queueOf(job: Pick<PeriodicJob, 'name'>): string {
  return job.name.replace(/\s+/g, '-');
}

/** A cron expression running every `intervalMs`, in whole minutes (at least one). */
export function cronOf(intervalMs: number): string {
  const minutes = Math.max(1, Math.round(intervalMs / 60_000));
  if (minutes < 60) return minutes === 1 ? '* * * * *' : `*/${minutes} * * * *`;
  const hours = Math.min(24, Math.round(minutes / 60));
  return hours >= 24 ? '0 0 * * *' : `0 */${hours} * * *`;
}

export interface JobQueueOptions {
  databaseUrl: string;
  jobs: readonly PeriodicJob[];
  workers?: readonly QueueWorker[];
  /** How often an idle worker looks for jobs; pg-boss's minimum is 0.5 s. */
  pollingIntervalSeconds?: number;
  /** How often an instance checks the schedules (1 to 45 s; pg-boss's default 30). */
  cronMonitorIntervalSeconds?: number;
}

/**
 * The statements pg-boss sends without awaiting them: a handled batch's completion or
 * failure (Manager.watch's onFetch in pg-boss 10). Their rejection would be unhandled and
 * end the process; a job whose outcome was not recorded stays active and is sent again when
 * it expires (deliveries are at-least-once; a periodic run is failed by the timeout).
 */
const unawaitedStatement = /UPDATE \S+\.job\s+SET completed_on = now\(\)|WITH deleted_jobs AS \(\s*DELETE FROM \S+\.job\s+WHERE name = \$1 AND id IN/;

/** pg-boss's database: a pool of its own, every connection's errors handled, and no unhandled rejection. */
function jobQueueDatabase(databaseUrl: string, onLost: (error: Error) => void): { db: PgBoss.Db; close: () => Promise<void> } {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 4, application_name: 'pgboss' });
  // An idle or checked-out connection that dies: the pool drops it, the statement on it fails.
  pool.on('error', () => {});
  pool.on('connect', (client) => client.on('error', () => {}));
  return {
    db: {
      executeSql: (text: string, values: unknown[]) => {
        const result = pool.query(text, values);
        if (!unawaitedStatement.test(text)) return result;
        return result.catch((error: Error) => {
          onLost(error);
          // What pg-boss reads of the result: no job affected.
          return { rows: [{ count: '0' }], rowCount: 1 } as unknown as pg.QueryResult;
        });
      },
    },
    close: () => pool.end(),
  };
}

/** Runs the jobs and workers on pg-boss while the app listens. */
export function useJobs(app: FastifyInstance, options: JobQueueOptions): void {
  let boss: PgBoss | undefined;
  let database: ReturnType<typeof jobQueueDatabase> | undefined;
  const stops: (() => Promise<void>)[] = [];

  // The message only: a driver's or Stripe's error object can carry more than a log line should.
  const failed = (name: string, error: unknown) => app.log.warn({ job: name, err: { message: (error as Error).message } }, `${name} failed`);

  app.addHook('onListen', async () => {
    if (boss) return;
    database = jobQueueDatabase(options.databaseUrl, (error) => app.log.warn({ err: { message: error.message } }, 'job outcome not recorded; the job runs again when it expires'));
    boss = new PgBoss({
      db: database.db,
      schema: 'pgboss',
      ...(options.cronMonitorIntervalSeconds ? { cronMonitorIntervalSeconds: options.cronMonitorIntervalSeconds } : {}),
    });
    boss.on('error', (error) => app.log.warn({ err: { message: error.message } }, 'job queue error'));
    await boss.start();
    const pollingIntervalSeconds = options.pollingIntervalSeconds ?? 2;
    for (const job of options.jobs) {
      const queue = queueOf(job);
      // A run that fails is logged and not retried: the next scheduled run comes soon enough.
      await boss.createQueue(queue, { name: queue, retryLimit: 0, expireInSeconds: 15 * 60 });
      await boss.work(queue, { pollingIntervalSeconds }, async () => {
        try {
          await job.run();
        } catch (error) {
          failed(job.name, error);
        }
      });
      await boss.schedule(queue, cronOf(job.intervalMs));
    }
    for (const worker of options.workers ?? []) {
      await boss.createQueue(worker.queue, { name: worker.queue, policy: worker.policy ?? 'standard', retryLimit: 3, retryDelay: 5, expireInSeconds: worker.expireInSeconds ?? 60 });
      const started = boss;
      const batchSize = worker.batchSize ?? 1;
      const id: string = await boss.work<Record<string, unknown>>(worker.queue, { pollingIntervalSeconds: 0.5, batchSize }, async (jobs) => {
        // Each job on its own: one failing (logged; the worker's own sweep takes it up again) fails no other.
        await Promise.all(jobs.map((job) => worker.handle(job.data).catch((error: unknown) => failed(worker.queue, error))));
        // A full batch means more may be waiting: fetch again at once rather than after the polling interval.
        if (jobs.length === batchSize) started.notifyWorker(id);
      });
      const stop = await worker.started?.({ boss: started, wake: () => started.notifyWorker(id) });
      if (stop) stops.push(stop);
    }
  });
  // Before the database closes: no new run starts, and a run in progress finishes.
  app.addHook('preClose', async () => {
    const stopping = boss;
    boss = undefined;
    if (!stopping) return;
    for (const stop of stops.splice(0)) await stop();
    await stopping.stop({ graceful: true, wait: true, timeout: 10_000 });
    await database?.close();
    database = undefined;
  });
}
