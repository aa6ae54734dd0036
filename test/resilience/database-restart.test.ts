// PostgreSQL stopped and started again under a steady stream of checkouts (orders, line
// items, stripe payments): while it is down every request fails fast with a JSON:API 503,
// once it is back the service recovers by itself, and nothing was half written. The test
// runs its own embedded PostgreSQL, the only one it may stop.
import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../../src/db/embedded.ts';
import { applyMigrations } from '../../src/db/migrations.ts';
import { api, createCheckout, startTestContext, type TestContext } from '../support/context.ts';

const root = path.resolve(import.meta.dirname, '..', '..');
let tempDir: string;
let dataDir: string;
let port: number;
let postgres: EmbeddedPostgres | undefined;
let context: TestContext;
let paymentMethodId: string;

beforeAll(async () => {
  tempDir = await mkdtemp(path.join(tmpdir(), 'payments-restart-test-'));
  // As root the server runs as `postgres`, which must be able to enter this directory.
  await chmod(tempDir, 0o755);
  dataDir = path.join(tempDir, 'data');
  postgres = await startEmbeddedPostgres({ dataDir, port: 0 });
  port = Number(new URL(postgres.databaseUrl).port);
  await applyMigrations(postgres.databaseUrl, {
    migrationsDir: path.join(root, 'prisma', 'migrations'),
    schemaPath: path.join(root, 'prisma', 'schema.prisma'),
  });
  context = await startTestContext({ databaseUrl: postgres.databaseUrl });
  ({ paymentMethodId } = await createCheckout(context));
}, 90_000);

afterAll(async () => {
  await context?.close();
  await postgres?.stop();
  if (tempDir) await rm(tempDir, { recursive: true, force: true });
}, 60_000);

interface Answer {
  route: string;
  status: number;
  ms: number;
  /** When the request was sent, relative to the outage. */
  sent: 'before' | 'down' | 'restarting' | 'after';
  code?: string;
  jsonApi: boolean;
}

let phase: Answer['sent'] = 'before';
const answers: Answer[] = [];
const finishedAfterRestart = { checkouts: 0 };
let someOrderId = '';

/**
 * One request as a careful client sends it: the same Idempotency-Key until it gets a final
 * answer; 503 and "still in progress" are retried after a short pause. A request that gets
 * no answer within 10 s counts as a hang (status 0).
 */
async function send(route: string, url: string, document: unknown): Promise<{ status: number; body: any }> {
  const key = `restart-${randomBytes(8).toString('hex')}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    const sent = phase;
    const started = Date.now();
    let status = 0;
    let body: any;
    let contentType = '';
    try {
      const response = await api(context).post(url, document).set('Idempotency-Key', key).timeout({ response: 10_000 });
      ({ status, body } = response);
      contentType = String(response.headers['content-type'] ?? '');
    } catch {
      // No answer in time: recorded as status 0.
    }
    answers.push({ route, status, ms: Date.now() - started, sent, code: body?.errors?.[0]?.code, jsonApi: contentType.startsWith('application/vnd.api+json') });
    if ((status !== 503 && status !== 409) || Date.now() > deadline) return { status, body };
    await sleep(250);
  }
}

/** A storefront checkout: an order, two line items, a stripe payment. */
async function checkout(): Promise<void> {
  const link = (type: string, id: string) => ({ data: { type, id } });
  const order = await send('POST /api/orders', '/api/orders', {
    data: { type: 'orders', attributes: { currency_code: 'EUR' }, relationships: { payment_method: link('payment_methods', paymentMethodId) } },
  });
  if (order.status !== 201) return;
  someOrderId ||= order.body.data.id;
  for (const unit of [1_250, 990]) {
    const line = await send('POST /api/line_items', '/api/line_items', {
      data: { type: 'line_items', attributes: { quantity: 2, unit_amount_cents: unit }, relationships: { order: link('orders', order.body.data.id) } },
    });
    if (line.status !== 201) return;
  }
  const payment = await send('POST /api/stripe_payments', '/api/stripe_payments', {
    data: { type: 'stripe_payments', relationships: { order: link('orders', order.body.data.id) } },
  });
  if (payment.status === 201 && phase === 'after') finishedAfterRestart.checkouts += 1;
}

async function writer(stop: () => boolean): Promise<void> {
  // A checkout in progress is finished (with its retries) before stopping, as a client would.
  while (!stop()) await checkout();
}

it('fails fast with 503 while PostgreSQL is down, recovers by itself, and leaves no partial writes', async () => {
  let stopWriting = false;
  const writers = Promise.all([1, 2, 3].map(() => writer(() => stopWriting)));
  await expect.poll(() => answers.filter((answer) => answer.status === 201).length, { timeout: 20_000 }).toBeGreaterThanOrEqual(6);

  await postgres!.stop();
  phase = 'down';
  // While it is down, a read too answers 503 promptly.
  const probeStarted = Date.now();
  const probe = await api(context).get('/api/orders').timeout({ response: 10_000 });
  const probeMs = Date.now() - probeStarted;
  // A read of one record answers the same way.
  const single = await api(context).get(`/api/orders/${someOrderId}`).timeout({ response: 10_000 });
  await sleep(2_000);

  phase = 'restarting';
  postgres = await startEmbeddedPostgres({ dataDir, port });
  phase = 'after';
  await expect.poll(() => finishedAfterRestart.checkouts, { timeout: 30_000, interval: 200 }).toBeGreaterThanOrEqual(3);
  stopWriting = true;
  await writers;

  // Fast 503s with JSON:API errors, never a 500 nor a hang.
  expect(probe.status).toBe(503);
  expect(probe.body.errors[0].code).toBe('SERVICE_UNAVAILABLE');
  expect(probeMs).toBeLessThan(5_000);
  expect(single.status, single.text).toBe(503);
  expect(single.body.errors[0].code).toBe('SERVICE_UNAVAILABLE');
  // Afterwards it is read again on the new connections (its statement prepared anew).
  expect((await api(context).get(`/api/orders/${someOrderId}`)).status).toBe(200);
  const whileDown = answers.filter((answer) => answer.sent === 'down');
  expect(whileDown.length).toBeGreaterThan(0);
  expect(whileDown.filter((answer) => answer.status !== 503 && answer.status !== 409)).toEqual([]);
  expect(whileDown.filter((answer) => answer.ms >= 5_000)).toEqual([]);
  expect(answers.filter((answer) => answer.status === 0 || answer.status >= 500).filter((answer) => answer.status !== 503)).toEqual([]);
  expect(answers.filter((answer) => answer.status >= 400 && !answer.jsonApi)).toEqual([]);
  expect(answers.filter((answer) => answer.status === 503).every((answer) => answer.code === 'SERVICE_UNAVAILABLE')).toBe(true);

  // No partial writes: totals are the sum of their line items, and every stored PaymentIntent is Stripe's, for that amount.
  const client = new pg.Client({ connectionString: postgres!.databaseUrl });
  await client.connect();
  try {
    const { rows: orders } = await client.query<{ id: string; subtotal: number; total: number; lines: number }>(
      `SELECT o.id, o.subtotal_amount_cents AS subtotal, o.total_amount_cents AS total, COALESCE(SUM(li.total_amount_cents), 0)::int AS lines
       FROM orders o LEFT JOIN line_items li ON li.order_id = o.id GROUP BY o.id`,
    );
    expect(orders.length).toBeGreaterThan(6);
    expect(orders.filter((order) => order.subtotal !== order.lines || order.total !== order.lines)).toEqual([]);
    const { rows: payments } = await client.query<{ stripe_id: string; amount_cents: number; total: number }>(
      `SELECT p.stripe_id, p.amount_cents, o.total_amount_cents AS total FROM stripe_payments p JOIN orders o ON o.id = p.order_id WHERE p.stripe_id IS NOT NULL`,
    );
    const intents = new Map(context.standin.paymentIntents().map((intent) => [intent.id, intent]));
    expect(payments.length).toBeGreaterThan(0);
    for (const payment of payments) {
      expect(intents.get(payment.stripe_id)?.amount).toBe(payment.amount_cents);
      expect(payment.amount_cents).toBe(payment.total);
    }
    // Every PaymentIntent made is stored: the retries that followed the outage stored the ones it interrupted.
    const stored = new Set(payments.map((payment) => payment.stripe_id));
    expect([...intents.keys()].filter((id) => !stored.has(id))).toEqual([]);
  } finally {
    await client.end();
  }
}, 90_000);
