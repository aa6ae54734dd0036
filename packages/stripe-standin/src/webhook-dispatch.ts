import { createHmac } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { renderEvent, subscribes, type StripeEvent } from './events.ts';
import { keyDigest, scopeOf, type Owner, type Store } from './state.ts';

/**
 * Delivers events to webhook endpoints as Stripe does: a JSON POST signed in the
 * `Stripe-Signature` header (`t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">` keyed
 * with the endpoint's secret), retried when the endpoint does not answer 2xx. Deliveries
 * run one at a time in the order events happened; a failing one is retried later without
 * holding up the others. Stripe guarantees no order; tests get out-of-order and duplicate
 * deliveries on purpose with `hold`/`release` and `redeliver`.
 */

export interface WebhookDelivery {
  eventId: string;
  type: string;
  endpointId: string;
  url: string;
  attempts: number;
  status: 'pending' | 'held' | 'delivered' | 'failed';
  /** HTTP status of the last attempt, absent when it got no answer. */
  responseStatus?: number;
}

interface Job {
  delivery: WebhookDelivery;
  event: StripeEvent;
  dueAt: number;
}

export interface DispatcherOptions {
  /** Waits before the 2nd, 3rd, ... attempt; after the last one the delivery is given up. */
  retryDelaysMs: readonly number[];
  timeoutMs: number;
  signal: AbortSignal;
}

/** Stripe's signature scheme, which `stripe.webhooks.constructEvent` verifies. */
export function signatureHeader(payload: string, secret: string, timestamp = Math.floor(Date.now() / 1000)): string {
  const signature = createHmac('sha256', secret).update(`${timestamp}.${payload}`, 'utf8').digest('hex');
  return `t=${timestamp},v1=${signature}`;
}

export class WebhookDispatcher {
  private readonly queue: Job[] = [];
  private held: Job[] | undefined;
  private readonly log: WebhookDelivery[] = [];
  private running = false;
  private idleWaiters: (() => void)[] = [];
  /** The key that caused each event, for redeliveries. */
  private readonly eventKeys = new Map<string, string>();

  constructor(
    private readonly store: Store,
    private readonly options: DispatcherOptions,
  ) {}

  /**
   * Queues an event for every enabled endpoint of its account that subscribes to its type.
   * The stand-in lets every key of a mode see the same objects, but delivers a request's
   * events only to endpoints made with the same key: each key stands for its own Stripe
   * account here, as each gateway's key does at Stripe. Events without a key go to all.
   */
  enqueue(event: StripeEvent, owner: Owner, apiKey?: string): void {
    if (apiKey !== undefined) this.eventKeys.set(event.id, apiKey);
    for (const { object: endpoint, owner: endpointOwner } of this.store.webhookEndpoints.all()) {
      if (scopeOf(endpointOwner) !== scopeOf(owner) || !subscribes(endpoint, event.type)) continue;
      const endpointKey = this.store.webhookEndpointKeys.get(endpoint.id);
      if (apiKey !== undefined && endpointKey !== undefined && endpointKey !== keyDigest(apiKey)) continue;
      const delivery: WebhookDelivery = { eventId: event.id, type: event.type, endpointId: endpoint.id, url: endpoint.url, attempts: 0, status: 'pending' };
      this.log.push(delivery);
      const job = { delivery, event, dueAt: 0 };
      if (this.held) {
        delivery.status = 'held';
        this.held.push(job);
      } else {
        this.queue.push(job);
      }
    }
    this.kick();
  }

  /** Sends an event already delivered again, as Stripe does when it is unsure of a delivery. */
  redeliver(eventId: string): void {
    const entry = this.store.events.all().find(({ object }) => object.id === eventId);
    if (!entry) throw new Error(`no event ${eventId}`);
    this.enqueue(entry.object, entry.owner, this.eventKeys.get(eventId));
  }

  /** From now on, keep deliveries back until `release`. */
  hold(): void {
    this.held ??= [];
  }

  /** Sends what was held, in the order events happened or in reverse. */
  release(options: { reverse?: boolean } = {}): void {
    const held = this.held ?? [];
    this.held = undefined;
    if (options.reverse) held.reverse();
    for (const job of held) {
      job.delivery.status = 'pending';
      this.queue.push(job);
    }
    this.kick();
  }

  deliveries(): WebhookDelivery[] {
    return structuredClone(this.log);
  }

  /** Resolves once nothing is queued or in flight (held deliveries are not waited for). */
  idle(): Promise<void> {
    if (!this.running && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private kick(): void {
    if (this.running || this.queue.length === 0) return;
    this.running = true;
    void this.run().finally(() => {
      this.running = false;
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const resolve of waiters) resolve();
    });
  }

  private async run(): Promise<void> {
    while (this.queue.length > 0 && !this.options.signal.aborted) {
      const now = Date.now();
      const index = this.queue.findIndex((job) => job.dueAt <= now);
      if (index === -1) {
        const next = Math.min(...this.queue.map((job) => job.dueAt));
        try {
          await sleep(Math.max(next - now, 1), undefined, { signal: this.options.signal });
        } catch {
          return;
        }
        continue;
      }
      const [job] = this.queue.splice(index, 1);
      if (!job) continue;
      const delivered = await this.attempt(job);
      if (delivered) continue;
      const delay = this.options.retryDelaysMs[job.delivery.attempts - 1];
      if (delay === undefined) {
        job.delivery.status = 'failed';
      } else {
        job.dueAt = Date.now() + delay;
        this.queue.push(job);
      }
    }
    if (this.options.signal.aborted) this.queue.length = 0;
  }

  private async attempt(job: Job): Promise<boolean> {
    const { delivery } = job;
    const secret = this.store.webhookSecrets.get(delivery.endpointId);
    const endpoint = this.store.webhookEndpoints.all().find(({ object }) => object.id === delivery.endpointId)?.object;
    // Deleted or disabled since: Stripe drops the delivery.
    if (!secret || !endpoint || endpoint.status !== 'enabled') {
      delivery.status = 'failed';
      return true;
    }
    delivery.attempts += 1;
    // Rendered in the endpoint's version, or the account's default when it has none, as Stripe does.
    const version = endpoint.api_version ?? this.store.accountApiVersion;
    const payload = JSON.stringify({ ...renderEvent(job.event, version), pending_webhooks: 1 }, null, 2);
    try {
      const response = await fetch(endpoint.url, {
        method: 'POST',
        headers: {
          'Content-Type': 'application/json; charset=utf-8',
          'User-Agent': 'Stripe/1.0 (+https://stripe.com/docs/webhooks)',
          'Stripe-Signature': signatureHeader(payload, secret),
        },
        body: payload,
        signal: AbortSignal.any([this.options.signal, AbortSignal.timeout(this.options.timeoutMs)]),
      });
      delivery.responseStatus = response.status;
      // Read the body so the connection can be reused; its content does not matter.
      await response.arrayBuffer().catch(() => undefined);
      if (response.ok) {
        delivery.status = 'delivered';
        return true;
      }
    } catch {
      delete delivery.responseStatus;
    }
    return false;
  }
}
