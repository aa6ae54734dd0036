import { mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Stripe from 'stripe';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startStripeStandin } from '../src/server.ts';
import type { StripeStandin } from '../src/server.ts';

const KEY = 'sk_test_persistence_key';

let dataDir: string;
const running: StripeStandin[] = [];

beforeEach(async () => {
  dataDir = await mkdtemp(path.join(tmpdir(), 'stripe-standin-state-'));
});

afterEach(async () => {
  await Promise.all(running.splice(0).map((standin) => standin.close()));
  await rm(dataDir, { recursive: true, force: true });
});

async function start(options: { dataDir?: string } = { dataDir }): Promise<{ standin: StripeStandin; stripe: Stripe }> {
  const standin = await startStripeStandin({ port: 0, ...options });
  running.push(standin);
  const stripe = new Stripe(KEY, { host: '127.0.0.1', port: standin.port, protocol: 'http', telemetry: false, maxNetworkRetries: 0 });
  return { standin, stripe };
}

describe('state in a data folder', () => {
  it('start, create, stop, start again: every object, endpoint and idempotent answer is still there', async () => {
    const first = await start();
    const authorized = await first.stripe.paymentIntents.create(
      { amount: 3000, currency: 'eur', allowed_payment_method_types: ['card'], capture_method: 'manual', confirm: true, payment_method: 'pm_card_visa' },
      { idempotencyKey: 'create-1' },
    );
    const open = await first.stripe.paymentIntents.create({ amount: 1200, currency: 'usd' });
    const endpoint = await first.stripe.webhookEndpoints.create({ url: 'https://shop.example/hooks', enabled_events: ['*'] });
    const eventsBefore = await first.stripe.events.list({ limit: 100 });
    await first.standin.close();

    const second = await start();
    expect(second.standin.port).not.toBe(0);
    const again = await second.stripe.paymentIntents.retrieve(authorized.id);
    expect(again).toMatchObject({ id: authorized.id, status: 'requires_capture', amount_capturable: 3000, latest_charge: authorized.latest_charge });
    expect((await second.stripe.paymentIntents.retrieve(open.id)).status).toBe('requires_payment_method');
    // The restored intent goes on where it stopped: its charge and payment method came back with it.
    const captured = await second.stripe.paymentIntents.capture(authorized.id, { amount_to_capture: 2000 });
    expect(captured.status).toBe('succeeded');
    expect((await second.stripe.refunds.create({ payment_intent: authorized.id, amount: 500 })).amount).toBe(500);

    // The same key and parameters replay the first answer, as Stripe does for 24 hours.
    const replayed = await second.stripe.paymentIntents.create(
      { amount: 3000, currency: 'eur', allowed_payment_method_types: ['card'], capture_method: 'manual', confirm: true, payment_method: 'pm_card_visa' },
      { idempotencyKey: 'create-1' },
    );
    expect(replayed.id).toBe(authorized.id);
    expect(replayed.lastResponse.headers['idempotent-replayed']).toBe('true');

    expect((await second.stripe.webhookEndpoints.list()).data.map((e) => e.id)).toEqual([endpoint.id]);
    expect(second.standin.webhookEndpoints()[0]?.secret).toBe(endpoint.secret);
    const eventsAfter = await second.stripe.events.list({ limit: 100 });
    expect(eventsAfter.data.map((e) => e.id)).toEqual(expect.arrayContaining(eventsBefore.data.map((e) => e.id)));
  });

  it('keeps no API key in the folder, only the owner may read it', async () => {
    const { stripe, standin } = await start();
    await stripe.paymentIntents.create({ amount: 2000, currency: 'eur' }, { idempotencyKey: 'k' });
    await stripe.webhookEndpoints.create({ url: 'https://shop.example/hooks', enabled_events: ['*'] });
    await standin.close();
    const files = await readdir(dataDir);
    expect(files).toEqual(['stripe-standin.json']);
    const file = path.join(dataDir, files[0]!);
    expect(await readFile(file, 'utf8')).not.toContain(KEY);
    expect((await stat(file)).mode & 0o077).toBe(0);
  });

  it('without a data folder, a new stand-in starts empty', async () => {
    const first = await start({});
    const intent = await first.stripe.paymentIntents.create({ amount: 2000, currency: 'eur' });
    await first.standin.close();
    const second = await start({});
    await expect(second.stripe.paymentIntents.retrieve(intent.id)).rejects.toMatchObject({ code: 'resource_missing' });
  });
});
