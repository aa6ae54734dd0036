// npm run soak -- --duration 60: the server as a child process on its own fresh database,
// mixed storefront and back-office traffic from concurrent workers, while Stripe (the local
// stand-in, run and controlled here) answers 500, 429, slowly or not at all, and the
// server's database connections are cut. Then webhooks settle, reconciliation runs, and
// what Stripe holds is compared with what the database recorded: every PaymentIntent
// stored once, every cent captured and refunded recorded once. Exit code 1 on any
// mismatch or any 500. docs/reliability.md says what the figures mean.
//
// --instances 3: three server processes behind HAProxy (its config generated in a temporary
// folder) on the one database and the machine's Redis (REDIS_URL, default
// redis://127.0.0.1:6379), retries sent now and then straight to another instance, one
// instance SIGKILLed mid-request and restarted every third of the run, the creates' keys
// sent again to another instance after the traffic, and the periodic jobs' runs counted.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import pg from 'pg';
import Stripe from 'stripe';
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../src/db/embedded.ts';
import { applyMigrations } from '../src/db/migrations.ts';
import { startStripeStandin, type Fault, type FaultMatch, type StripeStandin } from '@stripe-payments-api/stripe-standin';
import { projectRoot } from './database.ts';
import { freePort, startNode, stopAll, waitForHttp, type Child } from './processes.ts';
import { audit, auditFailures, type Audit } from './soak-audit.ts';
import { SoakClient, SoakStats, type Answer } from './soak-client.ts';

const { values: flags } = parseArgs({
  options: {
    duration: { type: 'string', default: '60' },
    workers: { type: 'string', default: '8' },
    // Unset (and no DATABASE_URL): an embedded PostgreSQL in a temporary directory.
    'database-url': { type: 'string', default: process.env.DATABASE_URL },
    seed: { type: 'string' },
    'stripe-fault-interval-ms': { type: 'string', default: '1000' },
    'db-cut-interval-s': { type: 'string', default: '6' },
    'stripe-timeout-ms': { type: 'string', default: '2500' },
    'no-reconcile': { type: 'boolean', default: false },
    json: { type: 'string' },
    'server-log': { type: 'string' },
    instances: { type: 'string', default: '1' },
    'redis-url': { type: 'string', default: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379' },
  },
});

const positive = (name: string, value: string | undefined): number => {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) {
    console.error(`--${name} must be a positive number, got "${value}"`);
    process.exit(2);
  }
  return n;
};
const settings = {
  durationS: positive('duration', flags.duration),
  workers: Math.floor(positive('workers', flags.workers)),
  adminUrl: flags['database-url'] || undefined,
  seed: flags.seed === undefined ? randomBytes(4).readUInt32LE() : Math.floor(positive('seed', flags.seed)),
  stripeFaultIntervalMs: positive('stripe-fault-interval-ms', flags['stripe-fault-interval-ms']),
  dbCutIntervalS: positive('db-cut-interval-s', flags['db-cut-interval-s']),
  stripeTimeoutMs: Math.floor(positive('stripe-timeout-ms', flags['stripe-timeout-ms'])),
  reconcile: flags['no-reconcile'] !== true,
  instances: Math.floor(positive('instances', flags.instances)),
  redisUrl: flags['redis-url'],
};

const say = (line = '') => process.stdout.write(`${line}\n`);

// A seeded generator for what the workers do, so a run's mix can be replayed with --seed
// (timing, and so the faults each request meets, still varies).
let seedState = settings.seed;
function random(): number {
  seedState = (seedState + 0x6d2b79f5) | 0;
  let t = Math.imul(seedState ^ (seedState >>> 15), 1 | seedState);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
}
const chance = (p: number) => random() < p;
const between = (low: number, high: number) => Math.floor(low + random() * (high - low + 1));
function pick<T>(weighted: [T, number][]): T {
  const total = weighted.reduce((sum, [, weight]) => sum + weight, 0);
  let roll = random() * total;
  for (const [value, weight] of weighted) {
    roll -= weight;
    if (roll < 0) return value;
  }
  return weighted.at(-1)![0];
}

// --------------------------------------------------------------------------------------
// Cleanup on every exit path: the server first (it holds connections), then the database.

let server: Child | undefined;
let balancer: ChildProcess | undefined;
let standin: StripeStandin | undefined;
let embedded: EmbeddedPostgres | undefined;
let tempDir: string | undefined;
let dropDatabase: (() => Promise<void>) | undefined;
let cleaning: Promise<void> | undefined;
function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    await stopAll();
    balancer?.kill('SIGKILL');
    await standin?.close().catch(() => {});
    if (dropDatabase) await dropDatabase().catch((error: Error) => say(`could not drop the soak database: ${error.message}`));
    await embedded?.stop().catch(() => {});
    if (tempDir) rmSync(tempDir, { recursive: true, force: true });
  })();
  return cleaning;
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    say(`\n${signal}: stopping the server and dropping the database`);
    void cleanup().finally(() => process.exit(130));
  });
}

async function asAdmin(adminUrl: string, sql: string): Promise<void> {
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(sql);
  } finally {
    await admin.end();
  }
}

/** A fresh, migrated `payments_soak_<random>` database on the server of adminUrl. */
async function createSoakDatabase(adminUrl: string): Promise<{ name: string; url: string }> {
  const name = `payments_soak_${randomBytes(5).toString('hex')}`;
  await asAdmin(adminUrl, `CREATE DATABASE ${name}`);
  // FORCE: the server child may still hold connections if it was killed.
  dropDatabase = () => asAdmin(adminUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  await applyMigrations(url.toString(), {
    migrationsDir: path.join(projectRoot, 'prisma', 'migrations'),
    schemaPath: path.join(projectRoot, 'prisma', 'schema.prisma'),
  });
  return { name, url: url.toString() };
}

// --------------------------------------------------------------------------------------
// What the workers did, beyond HTTP counts.

const flows = {
  checkouts: 0,
  abandonedAfterPayment: 0,
  lineItemsUpdated: 0,
  lineItemsDeleted: 0,
  paymentsCreated: 0,
  confirmedAuthorized: 0,
  declined: 0,
  declinedThenPaid: 0,
  threeDSecure: 0,
  placed: 0,
  placeRefused: 0,
  autoCaptured: 0,
  captured: 0,
  refundedPartially: 0,
  refundedFully: 0,
  cancelled: 0,
  /** Back-office actions answered 409 (a capture, refund or void of the order in doubt), queued for later. */
  deferred: 0,
  deferredRetried: 0,
  browsing: 0,
};
const shopper = { confirms: 0, retries: 0, failed: 0 };

/**
 * What the client was told it did to each PaymentIntent, to hold Stripe to it: a retried
 * refund must not refund twice. Orders where an action's outcome was left unknown (409,
 * retries given up) are not held to anything.
 */
interface Intent {
  orderId: string;
  /** Its payment method captures on _place, and may capture after a _place answered "authorized" (its own capture failed and Stripe had acted). */
  autoCapture: boolean;
  total: number;
  captured: boolean;
  cancelled: boolean;
  refundedCents: number;
  inDoubt: boolean;
}
const intentsByOrder = new Map<string, Intent>();
const intentIds = new Map<string, string>();

const unexpected = new Map<string, number>();
const faultsInjected = new Map<string, number>();
const dbCuts = { times: 0, connections: 0 };

function expectStatus(answer: Answer, statuses: number[], step: string): boolean {
  if (statuses.includes(answer.status)) return true;
  const error = answer.body?.errors?.[0];
  const key = `${step} → ${answer.status}${error?.code ? ` ${error.code}` : ''}${error?.detail ? `: ${String(error.detail).slice(0, 90)}` : ''}`;
  unexpected.set(key, (unexpected.get(key) ?? 0) + 1);
  return false;
}

// --------------------------------------------------------------------------------------
// Traffic

interface Setup {
  gatewayId: string;
  secretKey: string;
  manualMethodId: string;
  autoCaptureMethodId: string;
}

const linkTo = (type: string, id: string) => ({ data: { type, id } });

async function created(client: SoakClient, route: string, url: string, document: unknown): Promise<string> {
  const answer = await client.write(route, 'POST', url, document);
  if (answer.status !== 201 || typeof answer.body?.data?.id !== 'string') throw new Error(`${route}: ${answer.status} ${JSON.stringify(answer.body).slice(0, 400)}`);
  return answer.body.data.id;
}

async function setUp(client: SoakClient): Promise<Setup> {
  const secretKey = `sk_test_soak${randomBytes(12).toString('hex')}`;
  const gatewayId = await created(client, 'POST /api/stripe_gateways', '/api/stripe_gateways', {
    data: { type: 'stripe_gateways', attributes: { name: 'Stripe (soak)', login: secretKey, publishable_key: 'pk_test_soak' } },
  });
  const method = (autoCapture: boolean) =>
    created(client, 'POST /api/payment_methods', '/api/payment_methods', {
      data: {
        type: 'payment_methods',
        attributes: { payment_source_type: 'stripe_payments', currency_code: 'EUR', price_amount_cents: autoCapture ? 490 : 0, auto_capture: autoCapture },
        relationships: { payment_gateway: linkTo('stripe_gateways', gatewayId) },
      },
    });
  return { gatewayId, secretKey, manualMethodId: await method(false), autoCaptureMethodId: await method(true) };
}

/** What Stripe.js does in the shopper's browser: confirm with a test card, retrying what failed in transit. */
async function confirmAtStripe(stripe: Stripe, intentId: string, paymentMethod: string | undefined): Promise<string> {
  shopper.confirms += 1;
  const idempotencyKey = `soak-confirm-${randomBytes(8).toString('hex')}`;
  const params = { ...(paymentMethod ? { payment_method: paymentMethod } : {}), return_url: 'https://shop.example.com/checkout/return' };
  for (let attempt = 0; attempt < 8; attempt += 1) {
    try {
      return (await stripe.paymentIntents.confirm(intentId, params, { idempotencyKey })).status;
    } catch (error) {
      if (error instanceof Stripe.errors.StripeCardError) return 'declined';
      if (error instanceof Stripe.errors.StripeInvalidRequestError && error.code === 'payment_intent_unexpected_state') {
        // An earlier attempt went through although its answer was lost: Stripe knows the outcome.
        return (await stripe.paymentIntents.retrieve(intentId)).status;
      }
      shopper.retries += 1;
      await sleep(300 * (attempt + 1));
    }
  }
  shopper.failed += 1;
  return 'failed';
}

interface Deferred {
  dueAt: number;
  orderId: string;
  attributes: Record<string, unknown>;
  label: string;
}
const deferred: Deferred[] = [];
// A reservation whose outcome is in doubt blocks its order for this long (transactions.ts): come back after it.
const reservationStaleMs = 61_000;

/** A back-office order trigger; 409 (another capture/refund/void of the order in doubt) is queued for later. */
async function trigger(client: SoakClient, orderId: string, label: string, attributes: Record<string, unknown>): Promise<Answer> {
  const answer = await client.write(`PATCH /api/orders/:id ${label}`, 'PATCH', `/api/orders/${orderId}`, { data: { type: 'orders', id: orderId, attributes } });
  if (answer.status === 409) {
    flows.deferred += 1;
    deferred.push({ dueAt: Date.now() + reservationStaleMs, orderId, attributes, label });
  }
  const intent = intentsByOrder.get(orderId);
  if (intent && answer.status !== 200) intent.inDoubt = true;
  if (intent && answer.status === 200) {
    const attributes = answer.body?.data?.attributes ?? {};
    if (attributes.payment_status === 'paid' || attributes.payment_status === 'partially_refunded' || attributes.payment_status === 'refunded') intent.captured = true;
    if (attributes.status === 'cancelled') intent.cancelled = true;
  }
  return answer;
}

/** A storefront checkout, then what a back office does with the order. */
async function checkout(client: SoakClient, setup: Setup, stripe: Stripe): Promise<void> {
  flows.checkouts += 1;
  const autoCapture = chance(0.25);
  const orderId = await created(client, 'POST /api/orders', '/api/orders', {
    data: {
      type: 'orders',
      attributes: { currency_code: 'EUR', customer_email: `soak${between(1, 1_000_000)}@example.com` },
      relationships: { payment_method: linkTo('payment_methods', autoCapture ? setup.autoCaptureMethodId : setup.manualMethodId) },
    },
  });
  const lineIds: string[] = [];
  for (let line = between(1, 3); line > 0; line -= 1) {
    lineIds.push(
      await created(client, 'POST /api/line_items', '/api/line_items', {
        data: {
          type: 'line_items',
          attributes: { sku_code: `SOAK${between(1, 50)}`, name: 'Soak item', quantity: between(1, 4), unit_amount_cents: between(100, 25_000) },
          relationships: { order: linkTo('orders', orderId) },
        },
      }),
    );
  }
  if (chance(0.2)) {
    const id = lineIds[0]!;
    const answer = await client.write('PATCH /api/line_items/:id', 'PATCH', `/api/line_items/${id}`, { data: { type: 'line_items', id, attributes: { quantity: between(1, 5) } } });
    if (expectStatus(answer, [200], 'PATCH /api/line_items/:id')) flows.lineItemsUpdated += 1;
  }
  if (lineIds.length > 1 && chance(0.15)) {
    const answer = await client.write('DELETE /api/line_items/:id', 'DELETE', `/api/line_items/${lineIds.pop()}`);
    // A retried delete whose first attempt went through finds nothing left: the delete happened.
    if (expectStatus(answer, [204, 404], 'DELETE /api/line_items/:id')) flows.lineItemsDeleted += 1;
  }

  // The cart as the storefront shows it: its total must be the sum of what is in it.
  const cart = await client.get('GET /api/orders/:id?include=line_items', `/api/orders/${orderId}?include=line_items`);
  if (expectStatus(cart, [200], 'GET /api/orders/:id?include=line_items')) {
    const attributes = cart.body.data.attributes;
    const lines = (cart.body.included ?? []).filter((item: { type: string }) => item.type === 'line_items');
    const sum = lines.reduce((total: number, item: { attributes: { total_amount_cents: number } }) => total + item.attributes.total_amount_cents, 0);
    if (attributes.subtotal_amount_cents !== sum || attributes.total_amount_cents !== sum + attributes.payment_method_amount_cents) {
      client.stats.anomaly(`order ${orderId}: subtotal ${attributes.subtotal_amount_cents}, total ${attributes.total_amount_cents}, line items ${sum}`);
    }
  }

  const payment = await client.write('POST /api/stripe_payments', 'POST', '/api/stripe_payments', {
    data: { type: 'stripe_payments', relationships: { order: linkTo('orders', orderId) } },
  });
  if (!expectStatus(payment, [201], 'POST /api/stripe_payments')) return;
  flows.paymentsCreated += 1;
  const paymentId: string = payment.body.data.id;
  const intentId: string = payment.body.data.attributes.stripe_id;
  const intent: Intent = { orderId, autoCapture, total: 0, captured: false, cancelled: false, refundedCents: 0, inDoubt: false };
  intentsByOrder.set(orderId, intent);
  intentIds.set(orderId, intentId);
  if (chance(0.1)) {
    flows.abandonedAfterPayment += 1;
    return;
  }

  const card = pick<string>([['pm_card_visa', 75], ['pm_card_mastercard', 5], ['pm_card_chargeDeclined', 10], ['pm_card_threeDSecure2Required', 10]]);
  let status = await confirmAtStripe(stripe, intentId, card);
  if (status === 'requires_action') {
    // The shopper passes 3-D Secure; Stripe.js confirms again.
    flows.threeDSecure += 1;
    status = await confirmAtStripe(stripe, intentId, undefined);
  }
  if (status === 'declined') {
    flows.declined += 1;
    if (chance(0.5)) return;
    status = await confirmAtStripe(stripe, intentId, 'pm_card_visa');
    if (status === 'requires_capture') flows.declinedThenPaid += 1;
  }
  if (status !== 'requires_capture') return;
  flows.confirmedAuthorized += 1;

  expectStatus(await client.get('GET /api/stripe_payments/:id', `/api/stripe_payments/${paymentId}`), [200], 'GET /api/stripe_payments/:id');
  if (chance(0.3)) {
    // The storefront asks for the PaymentIntent's news without waiting for the webhook.
    const refreshed = await client.write('PATCH /api/stripe_payments/:id _refresh', 'PATCH', `/api/stripe_payments/${paymentId}`, {
      data: { type: 'stripe_payments', id: paymentId, attributes: { _refresh: true } },
    });
    expectStatus(refreshed, [200], 'PATCH /api/stripe_payments/:id _refresh');
  }

  const placed = await trigger(client, orderId, '_place', { _place: true });
  if (placed.status !== 200) {
    flows.placeRefused += 1;
    expectStatus(placed, [200], 'PATCH /api/orders/:id _place');
    return;
  }
  flows.placed += 1;
  intent.total = placed.body.data.attributes.total_amount_cents;
  let paid = placed.body.data.attributes.payment_status === 'paid';
  if (autoCapture && paid) flows.autoCaptured += 1;

  // Back office.
  if (!paid) {
    const action = pick<string>([['capture', 65], ['cancel', 20], ['leave', 15]]);
    if (action === 'leave') return;
    if (action === 'cancel') {
      const cancelled = await trigger(client, orderId, '_cancel', { _cancel: true });
      if (expectStatus(cancelled, [200, 409], 'PATCH /api/orders/:id _cancel') && cancelled.status === 200) flows.cancelled += 1;
      return;
    }
    const captured = await trigger(client, orderId, '_capture', { _capture: true });
    if (!expectStatus(captured, [200, 409], 'PATCH /api/orders/:id _capture') || captured.status !== 200) return;
    flows.captured += 1;
    paid = true;
  }
  const total: number = placed.body.data.attributes.total_amount_cents;
  const refund = pick<string>([['partial', 35], ['full', 20], ['none', 45]]);
  if (refund === 'none') return;
  if (refund === 'partial' && total > 1) {
    const amount = between(1, total - 1);
    const partial = await trigger(client, orderId, '_refund partial', { _refund: true, _refund_amount_cents: amount });
    if (!expectStatus(partial, [200, 409], 'PATCH /api/orders/:id _refund partial') || partial.status !== 200) return;
    flows.refundedPartially += 1;
    intent.refundedCents += amount;
    if (chance(0.5)) return;
  }
  const full = await trigger(client, orderId, '_refund', { _refund: true });
  if (!expectStatus(full, [200, 409], 'PATCH /api/orders/:id _refund') || full.status !== 200) return;
  flows.refundedFully += 1;
  intent.refundedCents = total;
  if (chance(0.5)) {
    const cancelled = await trigger(client, orderId, '_cancel', { _cancel: true });
    if (expectStatus(cancelled, [200, 409], 'PATCH /api/orders/:id _cancel') && cancelled.status === 200) flows.cancelled += 1;
  }
}

/** What a back office and dashboards read. */
async function browse(client: SoakClient): Promise<void> {
  flows.browsing += 1;
  const reads: [string, string][] = [
    ['GET /api/orders (list)', `/api/orders?sort=-created_at&page[size]=${between(5, 25)}&include=line_items`],
    ['GET /api/orders (filtered)', '/api/orders?filter[q][payment_status_eq]=paid&page[size]=10'],
    ['GET /api/stripe_payments (list)', '/api/stripe_payments?sort=-created_at&page[size]=10&include=order'],
    ['GET /api/captures (list)', '/api/captures?page[size]=10'],
    ['GET /api/refunds (list)', '/api/refunds?page[size]=10&sort=-created_at'],
  ];
  const [route, url] = reads[between(0, reads.length - 1)]!;
  expectStatus(await client.get(route, url), [200], route);
}

async function worker(client: SoakClient, setup: Setup, stripe: Stripe, deadline: number): Promise<void> {
  while (Date.now() < deadline) {
    const due = deferred.findIndex((item) => item.dueAt <= Date.now());
    try {
      if (due >= 0) {
        const [item] = deferred.splice(due, 1);
        flows.deferredRetried += 1;
        const intent = intentsByOrder.get(item!.orderId);
        if (intent) intent.inDoubt = true;
        // A new request of the same action once the blocking reservation has gone stale.
        await trigger(client, item!.orderId, item!.label, item!.attributes);
      } else if (chance(0.7)) {
        await checkout(client, setup, stripe);
      } else {
        await browse(client);
      }
    } catch (error) {
      client.stats.anomaly(`worker: ${(error as Error).message.slice(0, 300)}`);
    }
  }
}

// --------------------------------------------------------------------------------------
// Faults

const stripeTargets: [FaultMatch, string, number][] = [
  [{ method: 'POST', pathPrefix: '/v1/payment_intents' }, 'POST /v1/payment_intents*', 60],
  [{ method: 'GET', pathPrefix: '/v1/payment_intents' }, 'GET /v1/payment_intents*', 25],
  [{ method: 'POST', pathPrefix: '/v1/refunds' }, 'POST /v1/refunds', 15],
];

async function injectStripeFaults(stand: StripeStandin, until: () => boolean): Promise<void> {
  while (!until()) {
    await sleep(settings.stripeFaultIntervalMs * (0.5 + random()));
    if (until()) return;
    const [match, target] = pick<[FaultMatch, string]>(stripeTargets.map(([m, label, weight]) => [[m, label], weight]));
    const times = between(1, 2);
    const fault: Fault = pick<Fault>([
      [{ kind: 'status', status: 500, times, match }, 30],
      [{ kind: 'status', status: 429, times, match }, 20],
      [{ kind: 'delay', ms: between(500, 4_000), times, match }, 25],
      [{ kind: 'drop_after_processing', times, match }, 25],
    ]);
    stand.injectFaults(fault);
    const label = `${fault.kind === 'status' ? fault.status : fault.kind === 'delay' ? 'slow' : 'dropped'} on ${target}`;
    faultsInjected.set(label, (faultsInjected.get(label) ?? 0) + times);
  }
}

/** Terminates every connection of the server's pool now and then (sometimes three times in a row). */
async function cutDatabaseConnections(databaseUrl: string, applicationName: string, until: () => boolean): Promise<void> {
  const admin = new pg.Client({ connectionString: databaseUrl, application_name: 'payments-soak-admin' });
  await admin.connect();
  try {
    while (!until()) {
      await sleep(settings.dbCutIntervalS * 1000 * (0.5 + random()));
      if (until()) return;
      for (let burst = chance(0.25) ? 3 : 1; burst > 0; burst -= 1) {
        const { rows } = await admin.query<{ ok: boolean }>(
          'SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid()',
          [applicationName],
        );
        dbCuts.times += 1;
        dbCuts.connections += rows.filter((row) => row.ok).length;
        if (burst > 1) await sleep(300);
      }
    }
  } finally {
    await admin.end();
  }
}

/** PaymentIntents whose money at Stripe is not what the API told the client it did. */
function intentionMismatches(result: Audit, intents: Map<string, { amount_received: number; status: string }>): { checked: number; mismatches: string[] } {
  let checked = 0;
  const mismatches: string[] = [];
  for (const [orderId, intent] of intentsByOrder) {
    if (intent.inDoubt) continue;
    const id = intentIds.get(orderId)!;
    const pi = intents.get(id);
    checked += 1;
    const refunded = result.refundedByIntent[id] ?? 0;
    if (!pi) {
      mismatches.push(`${id}: the API returned it, Stripe does not have it`);
      continue;
    }
    if (refunded !== intent.refundedCents) mismatches.push(`${id}: the client was told ${intent.refundedCents} refunded, Stripe refunded ${refunded}`);
    if (intent.captured && pi.amount_received !== intent.total) mismatches.push(`${id}: the client was told it was captured, Stripe received ${pi.amount_received} of ${intent.total}`);
    if (!intent.captured && !intent.autoCapture && pi.amount_received > 0) mismatches.push(`${id}: captured at Stripe (${pi.amount_received}) although no capture was answered`);
    if (intent.cancelled && !intent.captured && pi.status !== 'canceled') mismatches.push(`${id}: the order was cancelled, the PaymentIntent is ${pi.status}`);
  }
  return { checked, mismatches };
}


// --------------------------------------------------------------------------------------
// Several instances behind HAProxy

interface Instance {
  /** The balancer's name for it, sent back in X-Served-By. */
  name: string;
  port: number;
  origin: string;
  child: Child;
}

/**
 * The balancer's own refusals (no instance up, one that died mid-request, one too slow) as
 * the API's: JSON:API error documents with Retry-After, so a client reads every answer the
 * same way. HAProxy sends an errorfile as it is: status line, headers, body.
 */
function haproxyErrorFiles(dir: string): Record<number, string> {
  const errors: Record<number, [string, string]> = {
    502: ['Bad Gateway', 'The server answering this request stopped before it answered. Retry with the same Idempotency-Key.'],
    503: ['Service Unavailable', 'No server can take this request right now. Retry shortly.'],
    504: ['Gateway Timeout', 'The server did not answer in time. Retry with the same Idempotency-Key.'],
  };
  const files: Record<number, string> = {};
  for (const [status, [title, detail]] of Object.entries(errors)) {
    const body = JSON.stringify({ errors: [{ title, detail, code: 'SERVICE_UNAVAILABLE', status }] });
    const file = path.join(dir, `${status}.http`);
    writeFileSync(file, [`HTTP/1.1 ${status} ${title}`, 'Content-Type: application/vnd.api+json', 'Cache-Control: no-store', 'Retry-After: 1', 'Connection: close', `Content-Length: ${Buffer.byteLength(body)}`, '', body].join('\r\n'));
    files[Number(status)] = file;
  }
  return files;
}

/** HAProxy 2.6: round robin over the instances, health-checked often, naming the one that answered. */
function haproxyConfig(port: number, statsSocket: string, instances: { name: string; port: number }[], errorFiles: Record<number, string>): string {
  return [
    'global',
    '  maxconn 4096',
    `  stats socket ${statsSocket} mode 600 level admin`,
    'defaults',
    '  mode http',
    '  timeout connect 1s',
    '  timeout client 120s',
    '  timeout server 120s',
    '  timeout queue 30s',
    // A connection refused (the instance just died) is tried on another one; nothing is re-sent once it reached a server.
    '  retries 2',
    '  option redispatch',
    ...Object.entries(errorFiles).map(([status, file]) => `  errorfile ${status} ${file}`),
    'frontend api',
    `  bind 127.0.0.1:${port}`,
    '  default_backend instances',
    'backend instances',
    '  balance roundrobin',
    '  option httpchk GET /health/live',
    // A loaded machine answers a check slowly: down after two failed checks, not one slow one.
    '  timeout check 2s',
    '  default-server inter 500ms fall 2 rise 2',
    '  http-response set-header X-Served-By %s',
    ...instances.map((instance) => `  server ${instance.name} 127.0.0.1:${instance.port} check`),
    '',
  ].join('\n');
}

function haproxyBinary(): string {
  for (const candidate of ['/usr/sbin/haproxy', 'haproxy']) {
    if (spawnSync(candidate, ['-v']).status === 0) return candidate;
  }
  throw new Error('--instances needs HAProxy (Debian: apt-get install haproxy)');
}

async function startBalancer(dir: string, port: number, instances: { name: string; port: number }[]): Promise<{ process: ChildProcess; statsSocket: string; output: () => string }> {
  const statsSocket = path.join(dir, 'haproxy.sock');
  const config = path.join(dir, 'haproxy.cfg');
  writeFileSync(config, haproxyConfig(port, statsSocket, instances, haproxyErrorFiles(dir)));
  const child = spawn(haproxyBinary(), ['-db', '-f', config], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (chunk) => (output = (output + String(chunk)).slice(-20_000)));
  child.stderr!.on('data', (chunk) => (output = (output + String(chunk)).slice(-20_000)));
  for (let attempt = 0; attempt < 100; attempt += 1) {
    const up = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => resolve(Boolean(socket.end()))).once('error', () => resolve(false));
    });
    if (up) return { process: child, statsSocket, output: () => output };
    if (child.exitCode !== null) break;
    await sleep(100);
  }
  child.kill('SIGKILL');
  throw new Error(`haproxy did not start:\n${output}`);
}

/** Requests each instance is answering right now (HAProxy's `scur`), from its stats socket. */
async function inFlight(statsSocket: string): Promise<Map<string, number>> {
  const csv = await new Promise<string>((resolve, reject) => {
    let text = '';
    const socket = connect(statsSocket);
    socket.on('data', (chunk) => (text += String(chunk)));
    socket.once('end', () => resolve(text)).once('error', reject);
    socket.write('show stat\n');
  });
  const [header, ...rows] = csv.replace(/^# /, '').trim().split('\n');
  const columns = header!.split(',');
  const at = (name: string) => columns.indexOf(name);
  const counts = new Map<string, number>();
  for (const row of rows) {
    const cells = row.split(',');
    if (cells[at('pxname')] !== 'instances' || ['BACKEND', 'FRONTEND'].includes(cells[at('svname')]!)) continue;
    if (!String(cells[at('status')]).startsWith('UP')) continue;
    counts.set(cells[at('svname')]!, Number(cells[at('scur')]));
  }
  return counts;
}

const kills: { name: string; inFlight: number; atS: number; downMs: number }[] = [];

/**
 * SIGKILLs the busiest instance (one answering requests, as HAProxy counts them) at each
 * third of the run, then starts it again on its port.
 */
async function killAndRestart(instances: Instance[], statsSocket: string, restart: (index: number) => Promise<void>, runStarted: number, until: () => boolean): Promise<void> {
  const times = 2;
  for (let kill = 1; kill <= times; kill += 1) {
    const at = runStarted + (settings.durationS * 1000 * kill) / (times + 1);
    while (Date.now() < at && !until()) await sleep(100);
    if (until()) return;
    let busiest: [string, number] | undefined;
    for (let attempt = 0; attempt < 40 && (busiest === undefined || busiest[1] === 0); attempt += 1) {
      busiest = [...(await inFlight(statsSocket))].sort((a, b) => b[1] - a[1])[0];
      if (busiest?.[1] === 0) await sleep(50);
    }
    const index = instances.findIndex((instance) => instance.name === (busiest?.[0] ?? instances[0]!.name));
    const victim = instances[index]!;
    const killedAt = Date.now();
    victim.child.process.kill('SIGKILL');
    await victim.child.exited;
    say(`  killed ${victim.name} (pid ${victim.child.pid}) with ${busiest?.[1] ?? 0} requests in flight`);
    await sleep(1_000);
    await restart(index);
    kills.push({ name: victim.name, inFlight: busiest?.[1] ?? 0, atS: Math.round((killedAt - runStarted) / 1000), downMs: Date.now() - killedAt });
    say(`  restarted ${victim.name} (pid ${instances[index]!.child.pid}) after ${Date.now() - killedAt} ms`);
  }
}

/** The pg-boss queues of the periodic jobs (src/plugins/jobs.ts). */
const periodicQueues = ['idempotency-key-purge', 'token-record-purge', 'reconciliation-run', 'webhook-sweep'];

/**
 * How often each periodic job ran, from pg-boss's tables (`pgboss.job`, and `pgboss.archive`
 * where finished jobs move): a job that started is a run; its slot is the minute it was
 * created in (the schedules are per minute, and each minute's job is created within seconds of
 * the cron monitor's tick). `doubled` lists the slots holding more than one run.
 */
async function jobRuns(databaseUrl: string): Promise<{ job: string; runs: number; slots: number; doubled: string[] }[]> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ job: string; slot: Date; runs: string }>(
      `SELECT name AS job, date_trunc('minute', created_on) AS slot, count(*) AS runs
         FROM (SELECT name, created_on, started_on FROM pgboss.job UNION ALL SELECT name, created_on, started_on FROM pgboss.archive) AS jobs
        WHERE name = ANY($1) AND started_on IS NOT NULL
        GROUP BY name, slot ORDER BY name, slot`,
      [periodicQueues],
    );
    const byJob = new Map<string, { job: string; runs: number; slots: number; doubled: string[] }>();
    for (const row of rows) {
      const entry = byJob.get(row.job) ?? { job: row.job, runs: 0, slots: 0, doubled: [] };
      entry.runs += Number(row.runs);
      entry.slots += 1;
      if (Number(row.runs) > 1) entry.doubled.push(`${row.slot.toISOString().slice(11, 16)} (${row.runs} runs)`);
      byJob.set(row.job, entry);
    }
    return [...byJob.values()];
  } finally {
    await client.end();
  }
}

// --------------------------------------------------------------------------------------
// Report

function table(rows: [string, string | number][], indent = '  '): string {
  const width = Math.max(0, ...rows.map(([label]) => label.length));
  return rows.map(([label, value]) => `${indent}${label.padEnd(width)}  ${value}`).join('\n');
}

function percentile(sorted: number[], q: number): number {
  return sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
}

/** Error lines (pino level 50+) the server logged, by message. */
function serverErrors(output: string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const line of output.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const entry = JSON.parse(line) as { level?: number; msg?: string; method?: string; url?: string; err?: { message?: string } };
      if ((entry.level ?? 0) < 50) continue;
      // The route without ids, and the error's last line (Prisma's messages start with the call site).
      const route = entry.method && entry.url ? ` ${entry.method} ${entry.url.replace(/\/[A-Za-z]{10}(?=\/|\?|$)/g, '/:id').split('?')[0]}` : '';
      const message = entry.err?.message?.trim().split('\n').at(-1)?.slice(0, 160);
      const key = `${entry.msg ?? ''}${route}${message ? `: ${message}` : ''}`;
      counts[key] = (counts[key] ?? 0) + 1;
    } catch {
      // Not a log line.
    }
  }
  return counts;
}

/** The stack of every error that ended a server (close-with-grace's uncaught exception or unhandled rejection), to find where it escaped. */
function fatalStacks(output: string): string[] {
  const stacks: string[] = [];
  for (const line of output.split('\n')) {
    if (!line.startsWith('{') || !line.includes('shutting down after an error')) continue;
    try {
      const entry = JSON.parse(line) as { err?: { message?: string; stack?: string } };
      stacks.push(entry.err?.stack ?? entry.err?.message ?? line);
    } catch {
      // Not a log line.
    }
  }
  return stacks;
}

function summarizeAudit(result: Audit): string {
  const { money } = result;
  return table([
    ['PaymentIntents at Stripe', `${result.intentsAtStripe} (${Object.entries(result.intentsByStatus).map(([status, n]) => `${status} ${n}`).join(', ')})`],
    ['stripe payments stored', `${result.storedPayments} with a PaymentIntent; ${result.reservedPayments} reservations without one (Stripe made nothing or the client gave up)`],
    ['stored ids missing at Stripe', result.storedWithoutIntent.length],
    ['PaymentIntents nobody stored', `${result.orphanIntents.length} not canceled, ${result.canceledOrphans} canceled`],
    ['stored payments ≠ their PaymentIntent', result.intentMismatches.length],
    ['captured at Stripe', `${money.capturedAtStripeCents} cents; recorded captures ${money.capturesRecordedCents} cents in ${money.capturesRecorded}`],
    ['refunded at Stripe', `${money.refundedAtStripeCents} cents in ${money.refundsAtStripe} refunds; recorded ${money.refundsRecordedCents} cents in ${money.refundsRecorded}`],
    ['authorizations released at Stripe', `${result.voids.canceledAuthorizedIntents}; voids recorded ${result.voids.voidsRecorded}`],
    ['PaymentIntents whose money ≠ records', money.mismatches.length + result.voids.mismatches.length],
    ['reservations still in doubt', Object.entries(result.openReservations).map(([kind, n]) => `${kind} ${n}`).join(', ') || 'none'],
    ['orders', `${result.ordersChecked}; totals ≠ sum of line items: ${result.orderTotalMismatches.length}`],
  ]);
}

// --------------------------------------------------------------------------------------

async function main(): Promise<number> {
  const started = new Date();
  say(`soak: ${settings.durationS} s, ${settings.workers} workers, seed ${settings.seed}, on ${os.cpus().length} CPUs (${os.cpus()[0]?.model.trim() ?? 'unknown'}), load average ${os.loadavg().map((n) => n.toFixed(2)).join(' ')}`);

  let adminUrl = settings.adminUrl;
  if (!adminUrl) {
    tempDir = mkdtempSync(path.join(os.tmpdir(), 'payments-soak-'));
    // As root, PostgreSQL runs as `postgres`, which must be able to enter the directory.
    chmodSync(tempDir, 0o755);
    embedded = await startEmbeddedPostgres({ dataDir: path.join(tempDir, 'data'), port: 0 });
    const url = new URL(embedded.databaseUrl);
    url.pathname = '/postgres';
    adminUrl = url.toString();
  }
  const database = await createSoakDatabase(adminUrl);
  say(`database ${database.name} on ${new URL(adminUrl).host}${embedded ? ' (embedded PostgreSQL)' : ''}`);

  standin = await startStripeStandin({ port: 0 });
  const applicationName = `payments-soak-server-${randomBytes(3).toString('hex')}`;
  const serverUrl = new URL(database.url);
  serverUrl.searchParams.set('application_name', applicationName);
  const secrets = {
    clientId: `soak-${randomBytes(6).toString('hex')}`,
    clientSecret: randomBytes(24).toString('base64url'),
    encryptionKey: randomBytes(32).toString('base64'),
  };
  const multi = settings.instances > 1;
  const balancerPort = multi ? await freePort() : undefined;
  const ports = await Promise.all(Array.from({ length: settings.instances }, () => freePort()));
  const origin = `http://127.0.0.1:${balancerPort ?? ports[0]}`;
  const serverEnv = (port: number): Record<string, string> => ({
    NODE_ENV: 'production',
    HOST: '127.0.0.1',
    PORT: String(port),
    DATABASE_URL: serverUrl.toString(),
    STRIPE_API_URL: standin!.url,
    STRIPE_TIMEOUT_MS: String(settings.stripeTimeoutMs),
    TOKEN_SIGNING_SECRET: randomBytes(48).toString('base64url'),
    ENCRYPTION_KEY: secrets.encryptionKey,
    API_CLIENT_ID: secrets.clientId,
    API_CLIENT_SECRET: secrets.clientSecret,
    LOG_LEVEL: 'warn',
    RATE_LIMIT_MAX: '1000000',
    ...(multi
      ? {
          // Stripe reaches the deployment, not one instance; rate limits are counted in the shared Redis.
          PUBLIC_URL: origin,
          REDIS_URL: settings.redisUrl ?? 'redis://127.0.0.1:6379',
          // Every instance declares the schedule (rounded up to once a minute): pg-boss must run it once per minute.
          RECONCILE_INTERVAL_SECONDS: '10',
        }
      : {
          // Reconciliation runs once at the end, where its effect is reported.
          RECONCILE_INTERVAL_SECONDS: '0',
        }),
  });
  const instances: Instance[] = [];
  const fleetStarted = Date.now();
  /** Every server process started, the killed ones too: their logs are read at the end. */
  const processes: Child[] = [];
  const startInstance = async (index: number) => {
    const port = ports[index]!;
    const name = `i${index + 1}`;
    const child = startNode(`API server ${name}`, 'src/server.ts', { cwd: projectRoot, env: serverEnv(port) });
    processes.push(child);
    instances[index] = { name, port, origin: `http://127.0.0.1:${port}`, child };
    await waitForHttp(`http://127.0.0.1:${port}/health/ready`, child);
  };
  // One at a time: each applies the (already applied) migrations and creates the integration at start.
  for (let index = 0; index < settings.instances; index += 1) await startInstance(index);
  server = instances[0]!.child;
  let statsSocket: string | undefined;
  if (multi) {
    tempDir ??= mkdtempSync(path.join(os.tmpdir(), 'payments-soak-'));
    const haproxy = await startBalancer(tempDir, balancerPort!, instances);
    balancer = haproxy.process;
    statsSocket = haproxy.statsSocket;
    await waitForHttp(`${origin}/health/ready`, instances[0]!.child);
    say(`${settings.instances} servers (pids ${instances.map((instance) => instance.child.pid).join(', ')}) behind HAProxy on ${origin}; Stripe stand-in on ${standin.url}, in this process`);
  } else {
    say(`server pid ${server.pid} on ${origin}; Stripe stand-in on ${standin.url}, in this process`);
  }

  const stats = new SoakStats();
  const client = new SoakClient(origin, secrets, stats, undefined, new Map(multi ? instances.map((instance) => [instance.name, instance.origin]) : []));
  const setup = await setUp(client);
  if (standin.webhookEndpoints().length === 0) say('warning: the gateway registered no webhook endpoint at the stand-in; only API answers and reconciliation will record outcomes');
  const stripe = new Stripe(setup.secretKey, { host: standin.host, port: standin.port, protocol: 'http', telemetry: false, maxNetworkRetries: 2, timeout: 10_000 });

  const runStarted = Date.now();
  const deadline = runStarted + settings.durationS * 1000;
  let trafficOver = false;
  const over = () => trafficOver || Date.now() >= deadline;
  const faultLoops = Promise.all([
    injectStripeFaults(standin, over),
    cutDatabaseConnections(database.url, applicationName, over),
    multi ? killAndRestart(instances, statsSocket!, startInstance, runStarted, over) : undefined,
  ]);
  const progress = setInterval(() => {
    say(`  ${Math.round((Date.now() - runStarted) / 1000)} s: ${stats.latenciesMs.length} requests, ${flows.checkouts} checkouts, ${flows.placed} placed, ${stats.serverErrors.length} answers ≥ 500, ${dbCuts.times} database cuts`);
  }, 15_000);
  // Workers finish the checkout they are in (with its retries) after the deadline, as clients would.
  await Promise.all(Array.from({ length: settings.workers }, () => worker(client, setup, stripe, deadline)));
  trafficOver = true;
  clearInterval(progress);
  await faultLoops;
  standin.clearFaults();
  const trafficSeconds = (Date.now() - runStarted) / 1000;
  say(`traffic done after ${trafficSeconds.toFixed(1)} s; letting webhooks settle`);

  await Promise.race([standin.webhooksIdle(), sleep(60_000)]);
  await sleep(500);
  const auditStripe = new Stripe(setup.secretKey, { host: standin.host, port: standin.port, protocol: 'http', telemetry: false, maxNetworkRetries: 2 });
  const beforeReconcile = await audit(database.url, standin.paymentIntents(), auditStripe);
  const failuresBefore = auditFailures(beforeReconcile);

  let reconcileOutput = 'not run (--no-reconcile)';
  let afterReconcile = beforeReconcile;
  if (settings.reconcile) {
    // The project's own command, as an operator would run it after an incident.
    const reconcile = startNode('reconcile', 'scripts/reconcile.ts', {
      cwd: projectRoot,
      args: ['--older-than-minutes', '0.0001'],
      env: { DATABASE_URL: database.url, STRIPE_API_URL: standin.url, ENCRYPTION_KEY: secrets.encryptionKey, LOG_LEVEL: 'warn' },
    });
    const code = await reconcile.exited;
    reconcileOutput = `${reconcile.output().trim().split('\n').at(-1) ?? ''}${code === 0 ? '' : ` (exit code ${code})`}`;
    await Promise.race([standin.webhooksIdle(), sleep(30_000)]);
    afterReconcile = await audit(database.url, standin.paymentIntents(), auditStripe);
  }
  const failures = auditFailures(afterReconcile);
  // After the audits, so that a key not honoured cannot change what they saw.
  const replays = multi ? await client.replayOnOtherInstances(400) : undefined;
  if (replays && replays.differing.length > 0) failures.push(`Idempotency-Keys not honoured on another instance: ${replays.differing.length} (${replays.differing.slice(0, 3).join('; ')})`);
  const jobs = multi ? await jobRuns(database.url) : [];
  // Each schedule is per minute (or rarer): a second run in one minute is a run that happened twice.
  const fleetMinutes = Math.ceil((Date.now() - fleetStarted) / 60_000);
  for (const job of jobs) if (job.doubled.length > 0) failures.push(`${job.job} ran twice in one minute: ${job.doubled.join(', ')}`);
  // Scheduled every minute on every instance: two minutes of the fleet hold at least one run.
  if (multi && fleetMinutes >= 2 && !jobs.some((job) => job.job === 'reconciliation-run')) failures.push(`reconciliation-run never ran in ${fleetMinutes} minutes`);
  const finalIntents = standin.paymentIntents();
  const told = intentionMismatches(afterReconcile, new Map(finalIntents.map((pi) => [pi.id, pi])));
  if (told.mismatches.length > 0) failures.push(`Stripe vs what the client was told: ${told.mismatches.length} (${told.mismatches.slice(0, 5).join('; ')})`);

  for (const instance of instances) await instance.child.stop(15_000);
  balancer?.kill('SIGTERM');
  // The whole kept output of every server process (its last 4 MiB), not just the tail used in error messages.
  const serverLog = processes.map((child) => child.outputSince(0)).join('\n');
  const logged = serverErrors(serverLog);
  if (flags['server-log']) writeFileSync(flags['server-log'], serverLog);
  for (const stack of fatalStacks(serverLog)) say(`a server shut down after an error:\n${stack}`);

  // ------------------------------------------------------------------------------------
  const deliveries = standin.webhookDeliveries();
  const deliveryOutcomes: Record<string, number> = {};
  for (const delivery of deliveries) {
    const key = `${delivery.status}${delivery.responseStatus ? ` (last answer ${delivery.responseStatus})` : ''}`;
    deliveryOutcomes[key] = (deliveryOutcomes[key] ?? 0) + 1;
  }
  const webhook500s = deliveries.filter((delivery) => delivery.responseStatus === 500).length;
  const answers500 = stats.serverErrors.filter((error) => error.status === 500);
  const sorted = [...stats.latenciesMs].sort((a, b) => a - b);

  say('');
  say('=== soak report ===');
  say(table([
    ['started', started.toISOString()],
    ['traffic', `${trafficSeconds.toFixed(1)} s (asked ${settings.durationS} s), ${settings.workers} workers, seed ${settings.seed}`],
    ['machine', `${os.cpus().length} CPUs, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB, ${os.type()} ${os.release()}, Node ${process.version}`],
    ['database', `${database.name} on ${new URL(adminUrl).host}${embedded ? ' (embedded)' : ''}, server pool 10${multi ? ` per instance` : ''}`],
    ...(multi
      ? ([
          ['instances', `${settings.instances} behind HAProxy, Redis ${settings.redisUrl}; ${stats.crossInstanceRetries} retries sent straight to another instance`],
          ['kills', kills.map((kill) => `${kill.name} at ${kill.atS} s with ${kill.inFlight} in flight, back after ${kill.downMs} ms`).join('; ') || 'none'],
          ['keys replayed on another instance', `${replays!.checked} creates sent again with their key, ${replays!.differing.length} not replayed as first answered`],
          ['periodic job runs', `${jobs.map((job) => `${job.job}: ${job.runs} runs in ${job.slots} minutes${job.doubled.length > 0 ? `, twice in ${job.doubled.join(', ')}` : ''}`).join('; ') || 'none yet'} (fleet up ${fleetMinutes} minutes)`],
        ] as [string, string][])
      : []),
    ['requests', `${sorted.length} (${(sorted.length / trafficSeconds).toFixed(1)}/s), latency p50 ${percentile(sorted, 0.5).toFixed(0)} ms, p99 ${percentile(sorted, 0.99).toFixed(0)} ms, max ${(sorted.at(-1) ?? 0).toFixed(0)} ms`],
    ['client retries', `${stats.retries} (same Idempotency-Key); gave up: ${[...stats.gaveUp].map(([route, n]) => `${route} ${n}`).join(', ') || 'never'}; refused after a 5xx: ${stats.refusedRetries.length}`],
  ]));
  say('faults injected:');
  say(table([
    ...[...faultsInjected].sort().map(([label, n]) => [`Stripe ${label}`, n] as [string, number]),
    ['database connections terminated', `${dbCuts.connections} in ${dbCuts.times} cuts`],
  ]));
  say('requests by route:');
  say(table([...stats.byRoute].sort((a, b) => b[1] - a[1])));
  say('responses by status:');
  say(table([...stats.byStatus].sort()));
  if (unexpected.size > 0) {
    say('final answers other than the expected ones (after retries):');
    say(table([...unexpected].sort((a, b) => b[1] - a[1])));
  }
  say('what the workers did:');
  say(table(Object.entries(flows)));
  say(table([['shopper confirmations at Stripe', `${shopper.confirms} (${shopper.retries} retried, ${shopper.failed} failed)`]]));
  say('webhook deliveries:');
  say(table(Object.entries(deliveryOutcomes)));
  if (Object.keys(logged).length > 0) {
    say('server logged errors:');
    say(table(Object.entries(logged)));
  }
  say(`before reconciliation: ${failuresBefore.length === 0 ? 'everything matches' : failuresBefore.join(' | ')}`);
  say(`reconciliation: ${reconcileOutput}`);
  say('Stripe vs database:');
  say(summarizeAudit(afterReconcile));
  say(table([['Stripe vs what clients were told', `${told.checked} PaymentIntents checked (captured, refunded, canceled as answered), ${told.mismatches.length} differ; ${intentsByOrder.size - told.checked} left in doubt by a 409 or retries given up`]]));

  const verdict = [...failures];
  if (answers500.length > 0) verdict.push(`${answers500.length} answers were 500: ${[...new Set(answers500.map((error) => `${error.route} ${error.body}`))].slice(0, 3).join(' | ')}`);
  if (webhook500s > 0) verdict.push(`${webhook500s} webhook deliveries were answered 500`);
  if (stats.refusedRetries.length > 0) verdict.push(`${stats.refusedRetries.length} retries after a 5xx were refused: ${[...new Set(stats.refusedRetries)].slice(0, 5).join(' | ')}`);
  if (stats.anomalies.length > 0) verdict.push(`${stats.anomalies.length} anomalies: ${[...new Set(stats.anomalies)].slice(0, 5).join(' | ')}`);
  for (const line of verdict) say(`FAIL: ${line}`);
  say(verdict.length === 0 ? 'RESULT: PASS' : 'RESULT: FAIL');

  if (flags.json) {
    writeFileSync(
      flags.json,
      JSON.stringify(
        {
          settings,
          trafficSeconds,
          requests: sorted.length,
          byRoute: Object.fromEntries(stats.byRoute),
          byStatus: Object.fromEntries(stats.byStatus),
          unexpected: Object.fromEntries(unexpected),
          flows,
          shopper,
          faultsInjected: Object.fromEntries(faultsInjected),
          dbCuts,
          instances: settings.instances,
          kills,
          crossInstanceRetries: stats.crossInstanceRetries,
          replays,
          jobs,
          webhookDeliveries: deliveryOutcomes,
          serverLoggedErrors: logged,
          serverErrors: stats.serverErrors,
          anomalies: stats.anomalies,
          refusedRetries: stats.refusedRetries,
          beforeReconcile,
          afterReconcile,
          verdict,
        },
        null,
        2,
      ),
    );
  }
  return verdict.length === 0 ? 0 : 1;
}

let exitCode = 1;
try {
  exitCode = await main();
} catch (error) {
  say(`soak failed to run: ${(error as Error).stack ?? String(error)}`);
  if (server) say(`server output:\n${server.output()}`);
  say('RESULT: FAIL');
} finally {
  await cleanup();
}
process.exit(exitCode);
