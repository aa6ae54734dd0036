import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { inject } from 'vitest';
import { createPrismaClient } from '../../src/db/client.ts';
import { startStripeStandin, type StripeStandin } from '@stripe-payments-api/stripe-standin';
import { freePort } from '../../src/ports.ts';
import { testDatabaseUrl } from '../support/test-database-url.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const jsonApi = 'application/vnd.api+json';

let standin: StripeStandin;
const db = createPrismaClient(testDatabaseUrl(), { poolMax: 2 });
const credentials = { id: `crash-${randomBytes(4).toString('hex')}`, secret: randomBytes(24).toString('base64url') };
const secrets = { signing: randomBytes(32).toString('hex') };
let server: ChildProcess | undefined;
let base = '';


/** The real entry point in its own process, so the test can kill it like a crash would. */
async function startServer(): Promise<void> {
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  server = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    cwd: root,
    env: {
      ...process.env,
      DATABASE_URL: testDatabaseUrl(),
      PORT: String(port),
      STRIPE_API_URL: standin.url,
      STRIPE_MAX_NETWORK_RETRIES: '0',
      API_CLIENT_ID: credentials.id,
      API_CLIENT_SECRET: credentials.secret,
      TOKEN_SIGNING_SECRET: secrets.signing,
      // Shared with the run's other servers: they share its job queue, and open each other's secrets.
      ENCRYPTION_KEY: inject('encryptionKey'),
      LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  for (let attempt = 0; attempt < 100; attempt += 1) {
    const ready = await fetch(`${base}/`).then((response) => response.ok, () => false);
    if (ready) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error('server did not start');
}

async function call(method: string, url: string, token: string, body?: unknown) {
  const response = await fetch(`${base}${url}`, {
    method,
    headers: { accept: jsonApi, authorization: `Bearer ${token}`, ...(body ? { 'content-type': jsonApi } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  return { status: response.status, body: (await response.json()) as { data: { id: string; attributes: Record<string, unknown> } } };
}

async function token(): Promise<string> {
  const response = await fetch(`${base}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ grant_type: 'client_credentials', client_id: credentials.id, client_secret: credentials.secret }),
  });
  return ((await response.json()) as { access_token: string }).access_token;
}

beforeAll(async () => {
  standin = await startStripeStandin({ port: 0 });
  await startServer();
}, 30_000);

afterAll(async () => {
  server?.kill('SIGKILL');
  await standin?.close();
  await db.$disconnect();
});

it('a server killed between the PaymentIntent and the commit leaves one PaymentIntent, which the retry stores', async () => {
  let accessToken = await token();
  const link = (type: string, id: string) => ({ data: { type, id } });
  const gateway = await call('POST', '/api/stripe_gateways', accessToken, {
    data: { type: 'stripe_gateways', attributes: { name: 'Stripe', login: 'sk_test_crash', publishable_key: 'pk_test_crash' } },
  });
  const method = await call('POST', '/api/payment_methods', accessToken, {
    data: {
      type: 'payment_methods',
      attributes: { payment_source_type: 'stripe_payments', currency_code: 'EUR', price_amount_cents: 0 },
      relationships: { payment_gateway: link('stripe_gateways', gateway.body.data.id) },
    },
  });
  const order = await call('POST', '/api/orders', accessToken, {
    data: { type: 'orders', attributes: { currency_code: 'EUR' }, relationships: { payment_method: link('payment_methods', method.body.data.id) } },
  });
  const orderId = order.body.data.id;
  await call('POST', '/api/line_items', accessToken, {
    data: { type: 'line_items', attributes: { quantity: 1, unit_amount_cents: 990 }, relationships: { order: link('orders', orderId) } },
  });
  const paymentDocument = { data: { type: 'stripe_payments', relationships: { order: link('orders', orderId) } } };

  // Stripe creates the PaymentIntent but its answer is slow: kill the server while it waits.
  const before = standin.paymentIntents().length;
  const delayMs = 1_500;
  standin.injectFaults({ kind: 'delay', ms: delayMs, times: 1, match: { method: 'POST', pathPrefix: '/v1/payment_intents' } });
  const doomed = call('POST', '/api/stripe_payments', accessToken, paymentDocument).catch((error: unknown) => error);
  while (standin.paymentIntents().length === before) await new Promise((resolve) => setTimeout(resolve, 20));
  const createdAt = Date.now();
  server!.kill('SIGKILL');
  expect(await doomed).toBeInstanceOf(Error);
  standin.clearFaults();

  const orphan = standin.paymentIntents().at(-1)!;
  expect(await db.stripePayment.count({ where: { orderId, intentState: 'created' } })).toBe(0);
  expect((await db.order.findUniqueOrThrow({ where: { id: orderId } })).paymentSourceId).toBeNull();

  await startServer();
  // Stripe answers a key still in flight with 409; retry once that first call has ended, as a client would.
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, createdAt + delayMs + 100 - Date.now())));
  accessToken = await token();
  const retried = await call('POST', '/api/stripe_payments', accessToken, paymentDocument);
  expect(retried.status).toBe(201);
  expect(standin.paymentIntents().length).toBe(before + 1);
  expect(retried.body.data.attributes.stripe_id).toBe(orphan.id);
  const stored = await db.stripePayment.findMany({ where: { orderId } });
  expect(stored.map((payment) => payment.stripeId)).toEqual([orphan.id]);
}, 60_000);
