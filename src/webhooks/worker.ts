import pg from 'pg';
import type PgBoss from 'pg-boss';
import { newId } from '../ids.ts';
import type { PeriodicJob, QueueWorker, StartedQueue } from '../plugins/jobs.ts';
import type { Services } from '../services.ts';
import type { CallbackUrlPolicy } from './callback-url.ts';
import { webhookChannel } from './outbox.ts';
import { deliver } from './send.ts';

/**
 * Delivers the outbox (src/webhooks/outbox.ts) on the job queue. A `webhook-lane` job
 * delivers one lane (the events of one record to one callback URL) in order: under a transaction-scoped
 * advisory lock on the lane, so that across instances one worker at a time takes the lane's
 * oldest pending event, POSTs it, and records the attempt (an `event_callbacks` row) and its
 * outcome in the same transaction. A crash before that commit leaves the event pending: it
 * is sent again (at-least-once; receivers deduplicate on X-Delivery-Id).
 *
 * A failure (no 2xx within 5 s) is retried with exponential backoff (`retryBaseMs` doubling)
 * up to 10 times, then the event is marked failed and the lane moves on. Every failure
 * counts against the webhook's circuit; a success resets it; at 30 consecutive failures the
 * circuit opens and the webhook's events wait, pending, until `_reset_circuit`.
 *
 * Workers learn of new events from the commit's NOTIFY; `webhook-sweep` (every minute, and
 * at start) queues every lane with an event due, for what a notification missed (an
 * instance that died before sending the job) and for retries more than a minute away.
 */
export interface WebhookDeliveryOptions {
  /** The first retry's delay; each next one doubles it (capped at an hour). */
  retryBaseMs: number;
  maxRetries: number;
  circuitThreshold: number;
  timeoutMs: number;
  policy: CallbackUrlPolicy;
}

export const defaultDeliveryOptions = (): WebhookDeliveryOptions => ({
  retryBaseMs: 10_000,
  maxRetries: 10,
  circuitThreshold: 30,
  timeoutMs: 5_000,
  policy: { allowLoopback: process.env.NODE_ENV !== 'production' },
});

export const laneQueue = 'webhook-lane';
const maxBackoffMs = 3_600_000;
/** A lane job hands over to a fresh job after this long, so one busy record cannot hold a worker. */
const laneBudgetMs = 30_000;
const sweepIntervalMs = 60_000;

type Step = { next: 'done' } | { next: 'busy' } | { next: 'more' } | { next: 'later'; waitMs: number };

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export function backoffMs(options: Pick<WebhookDeliveryOptions, 'retryBaseMs'>, attempts: number): number {
  return Math.min(maxBackoffMs, options.retryBaseMs * 2 ** Math.max(0, attempts - 1));
}

export class WebhookDelivery {
  private queue: StartedQueue | undefined;

  constructor(
    private readonly services: Pick<Services, 'db' | 'secretBox' | 'logger'>,
    private readonly databaseUrl: string,
    private readonly options: WebhookDeliveryOptions = defaultDeliveryOptions(),
  ) {}

  /** The lane queue's worker and the sweep's schedule, for src/plugins/jobs.ts. */
  jobs(): { workers: QueueWorker[]; jobs: PeriodicJob[] } {
    return {
      workers: [
        {
          queue: laneQueue,
          // One queued job per lane: more would find nothing to do.
          policy: 'short',
          expireInSeconds: 60,
          // Lanes in parallel, each holding a pool connection while it posts: a few, so requests keep theirs.
          batchSize: 4,
          handle: (data) => this.deliverLane(String(data.lane)),
          started: (queue) => this.start(queue),
        },
      ],
      jobs: [{ name: 'webhook sweep', intervalMs: sweepIntervalMs, run: () => this.sweep() }],
    };
  }

  private get boss(): PgBoss | undefined {
    return this.queue?.boss;
  }

  private async start(queue: StartedQueue): Promise<() => Promise<void>> {
    this.queue = queue;
    const settle = (work: Promise<void>) =>
      work.catch((error: unknown) => this.services.logger.warn({ err: { message: (error as Error).message } }, 'webhook enqueue failed'));
    const listener = new NotificationListener(
      this.databaseUrl,
      webhookChannel,
      this.services.logger,
      (payload) => settle(payload.startsWith('webhook:') ? this.sweep(payload.slice('webhook:'.length)) : this.enqueue(payload)),
      // What was notified while the connection was down.
      () => settle(this.sweep()),
    );
    await listener.start();
    // Settled, not thrown: a failed first sweep (the minute's follows) must not leave the listener without its stop.
    await settle(this.sweep());
    return async () => {
      this.queue = undefined;
      await listener.close();
    };
  }

  /** Queues a lane's job (once: the queue keeps one per lane), at once or after `afterMs`. */
  async enqueue(lane: string, afterMs = 0): Promise<void> {
    const boss = this.boss;
    if (!boss) return;
    const options = { singletonKey: lane, retryLimit: 3, retryDelay: 5, ...(afterMs > 0 ? { startAfter: new Date(Date.now() + afterMs) } : {}) };
    await boss.send(laneQueue, { lane }, options as PgBoss.SendOptions);
    if (afterMs === 0) this.queue?.wake();
  }

  /** Queues every lane with an event due now (of one webhook, or all) whose webhook may send. */
  async sweep(webhookId?: string): Promise<void> {
    const lanes = await this.services.db.$queryRawUnsafe<{ lane: string }[]>(
      `SELECT DISTINCT e.lane FROM webhook_events e JOIN webhooks w ON w.id = e.webhook_id
        WHERE e.status = 'pending' AND e.next_attempt_at <= now() AT TIME ZONE 'UTC'
          AND w.circuit_state = 'closed' AND w.disabled_at IS NULL AND ($1::text IS NULL OR w.id = $1)`,
      webhookId ?? null,
    );
    for (const { lane } of lanes) await this.enqueue(lane);
  }

  /** Delivers a lane's pending events in order, until none is due or the budget is spent. */
  async deliverLane(lane: string): Promise<void> {
    const until = Date.now() + laneBudgetMs;
    while (Date.now() < until) {
      const step = await this.step(lane);
      if (step.next === 'done') return;
      if (step.next === 'busy') return this.enqueue(lane, 1_000);
      if (step.next === 'later') {
        // A delayed job holds the lane's one queued place: only for short waits; the sweep takes up longer ones when due.
        if (step.waitMs > sweepIntervalMs) return;
        if (step.waitMs > 1_000) return this.enqueue(lane, step.waitMs);
        await sleep(step.waitMs);
      }
    }
    await this.enqueue(lane);
  }

  /** One attempt at the lane's oldest pending event, recorded in the transaction that holds the lane. */
  private async step(lane: string): Promise<Step> {
    const { db, secretBox } = this.services;
    const options = this.options;
    return db.$transaction(
      async (tx) => {
        const [lock] = await tx.$queryRawUnsafe<{ locked: boolean }[]>('SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0)) AS locked', lane);
        if (!lock?.locked) return { next: 'busy' } as const;
        const event = await tx.webhookEvent.findFirst({ where: { lane, status: 'pending' }, orderBy: { seq: 'asc' }, include: { webhook: true } });
        if (!event) return { next: 'done' } as const;
        let webhook = event.webhook;
        if (webhook.circuitFailureCount > 0) {
          // A failing webhook's lanes take turns, so that its circuit opens at exactly the threshold:
          // the turn may take longer than the connection's lock timeout; this transaction's own bounds the wait.
          await tx.$queryRawUnsafe("SELECT set_config('lock_timeout', '0', true)");
          await tx.$queryRawUnsafe('SELECT 1 AS locked FROM pg_advisory_xact_lock(hashtextextended($1, 1))', webhook.id);
          webhook = await tx.webhook.findUniqueOrThrow({ where: { id: webhook.id } });
        }
        // Held, not dropped: `_reset_circuit` or `_enable` sends them.
        if (webhook.circuitState !== 'closed' || webhook.disabledAt) return { next: 'done' } as const;
        const waitMs = event.nextAttemptAt.getTime() - Date.now();
        if (waitMs > 0) return { next: 'later', waitMs } as const;

        let sharedSecret: string;
        try {
          sharedSecret = secretBox.open(webhook.sharedSecretEncrypted);
        } catch {
          // Sealed with another ENCRYPTION_KEY than this instance's (a misconfigured instance): left to the others.
          this.services.logger.warn({ webhook: webhook.id }, 'webhook shared secret cannot be opened with this ENCRYPTION_KEY');
          return { next: 'busy' } as const;
        }
        const result = await deliver(
          { url: webhook.callbackUrl, body: event.body, topic: event.topic, deliveryId: event.id, sharedSecret },
          options.policy,
          options.timeoutMs,
        );
        await tx.eventCallback.create({
          data: {
            id: newId(),
            webhookId: webhook.id,
            eventId: event.id,
            callbackUrl: webhook.callbackUrl,
            payload: JSON.parse(event.body),
            responseCode: result.code,
            responseMessage: result.message.slice(0, 255),
          },
        });
        if (result.ok) {
          await tx.webhookEvent.update({ where: { id: event.id }, data: { status: 'delivered', attempts: event.attempts + 1, deliveredAt: new Date() } });
          await tx.webhook.updateMany({ where: { id: webhook.id, circuitFailureCount: { gt: 0 } }, data: { circuitFailureCount: 0 } });
          return { next: 'more' } as const;
        }
        const attempts = event.attempts + 1;
        const givenUp = attempts > options.maxRetries;
        const delay = backoffMs(options, attempts);
        await tx.webhookEvent.update({
          where: { id: event.id },
          data: { attempts, status: givenUp ? 'failed' : 'pending', nextAttemptAt: new Date(Date.now() + delay) },
        });
        await tx.$executeRawUnsafe(
          `UPDATE webhooks SET circuit_failure_count = circuit_failure_count + 1,
             circuit_state = CASE WHEN circuit_failure_count + 1 >= $2 THEN 'open' ELSE circuit_state END, updated_at = now() AT TIME ZONE 'UTC'
           WHERE id = $1`,
          webhook.id,
          options.circuitThreshold,
        );
        return givenUp ? ({ next: 'more' } as const) : ({ next: 'later', waitMs: delay } as const);
      },
      { timeout: options.timeoutMs + 15_000, maxWait: 5_000 },
    );
  }
}

const listenerBackoffMs = { first: 100, max: 10_000 };

/**
 * A LISTEN on its own connection that comes back after the connection is lost (the server
 * restarted, the backend was terminated): reconnecting with doubling delays up to 10 s, and
 * sweeping on each reconnection (through `onReconnect`) for what was notified while it was
 * away. Until it is back, and without it at all, the minute's sweep still delivers.
 */
export class NotificationListener {
  private client: pg.Client | undefined;
  private closed = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private failures = 0;
  /** Resolves once the current connection attempt ends (connected or not). */
  private connecting: Promise<void> = Promise.resolve();

  constructor(
    private readonly databaseUrl: string,
    private readonly channel: string,
    private readonly logger: Services['logger'],
    private readonly onNotification: (payload: string) => void,
    private readonly onReconnect: () => void,
  ) {}

  /** Connects once; on failure it keeps trying in the background. */
  async start(): Promise<void> {
    this.connecting = this.connect(false);
    await this.connecting;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retryTimer);
    await this.connecting;
    await this.client?.end().catch(() => undefined);
    this.client = undefined;
  }

  private async connect(reconnecting: boolean): Promise<void> {
    const client = new pg.Client({ connectionString: this.databaseUrl });
    this.client = client;
    // Every connection's error is handled here: an 'error' without a listener would crash the process.
    client.on('error', (error) => this.lost(client, error));
    client.on('end', () => this.lost(client));
    client.on('notification', (message) => this.onNotification(message.payload ?? ''));
    try {
      await client.connect();
      await client.query(`LISTEN ${this.channel}`);
      this.failures = 0;
      if (reconnecting) {
        this.logger.info('webhook listener reconnected');
        this.onReconnect();
      }
    } catch (error) {
      this.logger.warn({ err: { message: (error as Error).message } }, 'webhook listener unavailable');
      this.lost(client);
    }
  }

  /** The connection `client` is gone: schedules the next attempt, once per connection. */
  private lost(client: pg.Client, error?: Error): void {
    if (error) this.logger.warn({ err: { message: error.message } }, 'webhook listener error');
    if (this.closed || this.client !== client) return;
    this.client = undefined;
    client.end().catch(() => undefined);
    const delay = Math.min(listenerBackoffMs.max, listenerBackoffMs.first * 2 ** this.failures);
    this.failures += 1;
    this.retryTimer = setTimeout(() => {
      if (this.closed) return;
      this.connecting = this.connect(true);
    }, delay);
  }
}
