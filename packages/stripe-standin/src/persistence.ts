import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Entry, IdempotencyStore } from './idempotency.ts';
import type { Store } from './state.ts';

/**
 * The stand-in's state in a data folder, so that a restart keeps what Stripe would keep:
 * every object, webhook endpoint (with its signing secret) and answered idempotency key.
 * One JSON file, rewritten whole after every request that may change something (a
 * temporary file renamed over it, so a crash leaves the old or the new state, never half
 * of one). API keys are kept as digests only (see keyDigest). Webhook deliveries in flight
 * and the request log are not kept: Stripe would retry the first; the second is for tests.
 */

const FILE = 'stripe-standin.json';
const FORMAT = 1;

interface Saved {
  format: typeof FORMAT;
  store: {
    paymentIntents: ReturnType<Store['paymentIntents']['all']>;
    charges: ReturnType<Store['charges']['all']>;
    refunds: ReturnType<Store['refunds']['all']>;
    paymentMethods: ReturnType<Store['paymentMethods']['all']>;
    webhookEndpoints: ReturnType<Store['webhookEndpoints']['all']>;
    events: ReturnType<Store['events']['all']>;
    cardOutcomes: Array<[string, Store['cardOutcomes'] extends Map<string, infer V> ? V : never]>;
    returnUrls: Array<[string, string]>;
    webhookSecrets: Array<[string, string]>;
    webhookEndpointKeys: Array<[string, string]>;
  };
  idempotency: Array<[string, Entry]>;
}

export class DataFolder {
  private readonly file: string;

  constructor(readonly dir: string) {
    this.file = path.join(dir, FILE);
  }

  /** Fills `store` and `idempotency` from the folder; false when it holds no state yet. */
  load(store: Store, idempotency: IdempotencyStore): boolean {
    let text: string;
    try {
      text = readFileSync(this.file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw error;
    }
    const saved = JSON.parse(text) as Saved;
    if (saved.format !== FORMAT) throw new Error(`${this.file}: unknown format ${String(saved.format)}`);
    const s = saved.store;
    store.paymentIntents.restore(s.paymentIntents);
    store.charges.restore(s.charges);
    store.refunds.restore(s.refunds);
    store.paymentMethods.restore(s.paymentMethods);
    store.webhookEndpoints.restore(s.webhookEndpoints);
    store.events.restore(s.events);
    refill(store.cardOutcomes, s.cardOutcomes);
    refill(store.returnUrls, s.returnUrls);
    refill(store.webhookSecrets, s.webhookSecrets);
    refill(store.webhookEndpointKeys, s.webhookEndpointKeys);
    idempotency.restore(saved.idempotency);
    return true;
  }

  save(store: Store, idempotency: IdempotencyStore): void {
    const saved: Saved = {
      format: FORMAT,
      store: {
        paymentIntents: store.paymentIntents.all(),
        charges: store.charges.all(),
        refunds: store.refunds.all(),
        paymentMethods: store.paymentMethods.all(),
        webhookEndpoints: store.webhookEndpoints.all(),
        events: store.events.all(),
        cardOutcomes: [...store.cardOutcomes],
        returnUrls: [...store.returnUrls],
        webhookSecrets: [...store.webhookSecrets],
        webhookEndpointKeys: [...store.webhookEndpointKeys],
      },
      idempotency: idempotency.saved(),
    };
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const temporary = `${this.file}.${process.pid}.tmp`;
    // Signing secrets are in it: readable by the owner only.
    writeFileSync(temporary, JSON.stringify(saved), { mode: 0o600 });
    renameSync(temporary, this.file);
  }
}

function refill<V>(map: Map<string, V>, entries: Array<[string, V]>): void {
  map.clear();
  for (const [key, value] of entries) map.set(key, value);
}
