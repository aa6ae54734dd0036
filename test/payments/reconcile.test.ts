import { randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { pino } from 'pino';
import supertest from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.ts';
import { reconcilePayments } from '../../src/payments/reconcile.ts';
import type { Services } from '../../src/services.ts';
import { startStripeStandin } from '@stripe-payments-api/stripe-standin';
import { api, domainServices, startTestContext, type TestContext } from '../support/context.ts';
import { confirm, getOrder, payableOrder, trigger } from '../support/payments.ts';

// The fallback for missed webhooks: re-reading PaymentIntents left pending.

let context: TestContext;
let services: Services;
beforeAll(async () => {
  context = await startTestContext();
  // What the server's timer and the command build: the same database, key and Stripe.
  services = domainServices(context);
  // Stripe's webhooks are lost in this file: only reconciliation can tell the API.
  context.standin.holdWebhooks();
});
afterAll(async () => {
  await context?.close();
});

/** Makes a payment look untouched for an hour. */
async function age(paymentId: string) {
  await context.db.$executeRaw`UPDATE stripe_payments SET updated_at = now() - interval '1 hour' WHERE id = ${paymentId}`;
}

const olderThanMs = 30 * 60_000;

describe('reconcilePayments', () => {
  it('applies a PaymentIntent authorized while webhooks were missed, once it has been pending long enough', async () => {
    const order = await payableOrder(context);
    await confirm(order);
    expect((await getOrder(context, order.orderId)).data.attributes.payment_status).toBe('unpaid');

    // Recent: left alone.
    expect((await reconcilePayments(services, { olderThanMs })).paymentIds).not.toContain(order.paymentId);
    await age(order.paymentId);
    const report = await reconcilePayments(services, { olderThanMs });
    expect(report.paymentIds).toContain(order.paymentId);
    expect((await getOrder(context, order.orderId)).data.attributes.payment_status).toBe('authorized');
    const payment = await context.db.stripePayment.findUniqueOrThrow({ where: { id: order.paymentId } });
    expect(payment).toMatchObject({ status: 'requires_capture', paymentInstrument: { last4: '4242' } });
    // Re-read: not pending for long any more.
    expect((await reconcilePayments(services, { olderThanMs })).paymentIds).not.toContain(order.paymentId);
  });

  it('lets concurrent runs (several instances) re-read each payment once', async () => {
    const orders = await Promise.all(Array.from({ length: 6 }, () => payableOrder(context)));
    for (const order of orders) {
      await confirm(order);
      await age(order.paymentId);
    }
    const runs = await Promise.all([1, 2, 3].map(() => reconcilePayments(services, { olderThanMs, limit: 4 })));
    const ours = new Set(orders.map((order) => order.paymentId));
    const claimed = runs.flatMap((run) => run.paymentIds).filter((id) => ours.has(id));
    expect(claimed.sort()).toEqual([...ours].sort());
    for (const order of orders) expect((await getOrder(context, order.orderId)).data.attributes.payment_status).toBe('authorized');
    const retrievals = context.standin
      .requestLog()
      .filter((entry) => entry.method === 'GET' && orders.some((order) => entry.path === `/v1/payment_intents/${order.paymentIntentId}`));
    expect(retrievals).toHaveLength(orders.length);
  });

  it('records a refund whose answer was lost, from Stripe, by its metadata', async () => {
    const order = await payableOrder(context);
    await confirm(order);
    expect((await trigger(context, order.orderId, { _place: true })).status).toBe(200);
    expect((await trigger(context, order.orderId, { _capture: true })).status).toBe(200);
    context.standin.injectFaults({ kind: 'drop_after_processing', times: 3, match: { method: 'POST', pathPrefix: '/v1/refunds' } });
    const lost = await trigger(context, order.orderId, { _refund: true });
    expect(lost.status).toBeGreaterThanOrEqual(502);
    context.standin.clearFaults();
    expect((await getOrder(context, order.orderId)).data.attributes.payment_status).toBe('paid');

    await context.db.$executeRaw`UPDATE transactions SET updated_at = now() - interval '1 hour' WHERE order_id = ${order.orderId} AND state = 'reserved'`;
    const report = await reconcilePayments(services, { olderThanMs });
    expect(report.paymentIds).toContain(order.paymentId);
    const after = await getOrder(context, order.orderId, '?include=refunds');
    expect(after.data.attributes.payment_status).toBe('refunded');
    expect(after.included).toHaveLength(1);
    expect(after.included![0]!.attributes).toMatchObject({ amount_cents: 2500, succeeded: true });
    // Exactly one refund at Stripe, under the reservation's key.
    const refunds = context.standin.requestLog().filter((entry) => entry.path === '/v1/refunds' && entry.method === 'POST' && entry.body.payment_intent === order.paymentIntentId);
    expect(new Set(refunds.map((entry) => entry.idempotencyKey))).toEqual(new Set([`refunds/${after.included![0]!.id}`]));
  });
});

describe('a PaymentIntent Stripe says does not exist', () => {
  it('is marked on its payment, shown by the API, and not re-read or warned about again', async () => {
    const order = await payableOrder(context);
    // As after a Stripe stand-in that lost its state, or a key of another account: Stripe answers resource_missing.
    const gone = `pi_gone${randomBytes(8).toString('hex')}`;
    await context.db.$executeRaw`UPDATE stripe_payments SET stripe_id = ${gone} WHERE id = ${order.paymentId}`;
    await age(order.paymentId);

    const lines: { level: number; msg: string; stripePaymentId?: string }[] = [];
    const logged: Services = { ...services, logger: pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line)) }) };
    const first = await reconcilePayments(logged, { olderThanMs, limit: 500 });
    expect(first.paymentIds).toContain(order.paymentId);
    expect(first.missing).toBeGreaterThanOrEqual(1);
    const mine = lines.filter((line) => line.stripePaymentId === order.paymentId);
    expect(mine.map((line) => line.level)).toEqual([30]);

    const payment = await context.db.stripePayment.findUniqueOrThrow({ where: { id: order.paymentId } });
    expect(payment.intentMissingAt).toBeInstanceOf(Date);
    const shown = await api(context).get(`/api/stripe_payments/${order.paymentId}`);
    expect(shown.body.data.attributes.intent_missing_at).toBe(payment.intentMissingAt!.toISOString());

    // Even with its lease long expired and the payment still pending, it is not claimed again.
    await age(order.paymentId);
    const retrievals = () => context.standin.requestLog().filter((entry) => entry.path === `/v1/payment_intents/${gone}`).length;
    const before = retrievals();
    const second = await reconcilePayments(logged, { olderThanMs, leaseMs: 0, limit: 500 });
    expect(second.paymentIds).not.toContain(order.paymentId);
    expect(retrievals()).toBe(before);
    expect(lines.filter((line) => line.stripePaymentId === order.paymentId)).toHaveLength(1);
  });

  it('is reconciled again once a _refresh finds it at Stripe', async () => {
    const order = await payableOrder(context);
    await context.db.$executeRaw`UPDATE stripe_payments SET intent_missing_at = now() WHERE id = ${order.paymentId}`;
    const refreshed = await api(context).patch(`/api/stripe_payments/${order.paymentId}`, {
      data: { type: 'stripe_payments', id: order.paymentId, attributes: { _refresh: true } },
    });
    expect(refreshed.status).toBe(200);
    expect(refreshed.body.data.attributes.intent_missing_at).toBeNull();
    await age(order.paymentId);
    expect((await reconcilePayments(services, { olderThanMs, limit: 500 })).paymentIds).toContain(order.paymentId);
  });
});

describe('npm run reconcile', () => {
  it('runs the job against the configured database and Stripe', async () => {
    const order = await payableOrder(context);
    await confirm(order);
    await age(order.paymentId);
    const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'scripts/reconcile.ts', '--older-than-minutes', '30', '--limit', '20'], {
      cwd: root,
      env: {
        PATH: process.env.PATH ?? '',
        DATABASE_URL: context.config.databaseUrl,
        STRIPE_API_URL: context.standin.url,
        ENCRYPTION_KEY: context.config.encryptionKey.toString('base64'),
        LOG_LEVEL: 'silent',
      },
    });
    expect(JSON.parse(stdout.trim().split('\n').at(-1)!)).toMatchObject({ claimed: expect.any(Number), failed: expect.any(Number) });
    expect((await getOrder(context, order.orderId)).data.attributes.payment_status).toBe('authorized');
  }, 30_000);
});

describe('the scheduled job', () => {
  // A schedule of the job queue, which turns it into one job a minute for all the instances of
  // the run: any of them (they share the encryption key) may be the one that reconciles.
  it('reconciles on its own when BuildOptions ask for it', { timeout: 150_000 }, async () => {
    const standin = await startStripeStandin({ port: 0 });
    const app = await buildApp(
      { ...context.config, stripe: { ...context.config.stripe, apiUrl: new URL(standin.url) } },
      { logStream: { write: () => true } as never, stripeWebhooks: { reconcile: { intervalMs: 60_000, olderThanMs } }, jobQueue: { cronMonitorIntervalSeconds: 1 } },
    );
    await app.listen({ port: 0, host: '127.0.0.1' });
    try {
      // A payment made through that server's API, whose webhooks get lost.
      const other: TestContext = { ...context, app, standin, http: supertest(app.server) };
      const token = await other.http
        .post('/oauth/token')
        .set('Content-Type', 'application/json')
        .send({ grant_type: 'client_credentials', client_id: context.credentials.clientId, client_secret: context.credentials.clientSecret });
      other.token = token.body.access_token as string;
      standin.holdWebhooks();
      const order = await payableOrder(other);
      await confirm(order);
      await age(order.paymentId);
      await expect.poll(async () => (await getOrder(other, order.orderId)).data.attributes.payment_status, { timeout: 140_000, interval: 500 }).toBe('authorized');
    } finally {
      await app.close();
      await standin.close();
    }
  });
});
