import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { startStripeStandin, type StripeStandin } from '@stripe-payments-api/stripe-standin';
import { createPrismaClient } from '../../src/db/client.ts';
import { startReceiver, type Receiver } from '../support/receiver.ts';
import { freePort } from '../../src/ports.ts';
import { testDatabaseUrl } from '../support/test-database-url.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const jsonApi = 'application/vnd.api+json';

let standin: StripeStandin;
let receiver: Receiver;
const db = createPrismaClient(testDatabaseUrl(), { poolMax: 2 });
const credentials = { id: `webhooks-${randomBytes(4).toString('hex')}`, secret: randomBytes(24).toString('base64url') };
const servers = new Set<ChildProcess>();
const webhooks: string[] = [];


/** `npm start`'s entry point in its own process, so the test can kill it as a crash would. */
async function startServer(): Promise<{ process: ChildProcess; base: string }> {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    cwd: root,
    env: {
      ...process.env,
      DATABASE_URL: testDatabaseUrl(),
      PORT: String(port),
      STRIPE_API_URL: standin.url,
      API_CLIENT_ID: credentials.id,
      API_CLIENT_SECRET: credentials.secret,
      // Instances of one deployment: one key, as they open each other's sealed secrets.
      ENCRYPTION_KEY: inject('encryptionKey'),
      RECONCILE_INTERVAL_SECONDS: '0',
      LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  servers.add(child);
  child.once('exit', () => servers.delete(child));
  for (let attempt = 0; attempt < 300; attempt += 1) {
    if (await fetch(`${base}/`).then((response) => response.ok, () => false)) return { process: child, base };
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error('server did not start');
}

async function token(base: string): Promise<string> {
  const response = await fetch(`${base}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ grant_type: 'client_credentials', client_id: credentials.id, client_secret: credentials.secret }),
  });
  return ((await response.json()) as { access_token: string }).access_token;
}

async function post(base: string, type: string, attributes: Record<string, unknown>) {
  const response = await fetch(`${base}/api/${type}`, {
    method: 'POST',
    headers: { accept: jsonApi, 'content-type': jsonApi, authorization: `Bearer ${await token(base)}` },
    body: JSON.stringify({ data: { type, attributes } }),
  });
  const body = (await response.json()) as { data: { id: string; attributes: Record<string, unknown> } };
  if (response.status !== 201) throw new Error(`${type}: ${response.status} ${JSON.stringify(body)}`);
  return body.data;
}

async function subscribe(base: string, topic: string, pathName: string) {
  const webhook = await post(base, 'webhooks', { topic, callback_url: receiver.url(pathName) });
  webhooks.push(webhook.id);
  receiver.register(pathName, topic, webhook.attributes.shared_secret as string);
  return webhook.id;
}

const receivedFor = (ids: readonly string[], pathName: string) => receiver.received.filter((event) => event.path === pathName && ids.includes(event.body.data.id));

beforeAll(async () => {
  standin = await startStripeStandin({ port: 0 });
  receiver = await startReceiver();
});

afterAll(async () => {
  for (const child of servers) child.kill('SIGKILL');
  // Other test files share the database: no more payloads for these webhooks.
  await db.webhook.deleteMany({ where: { id: { in: webhooks } } });
  await db.$disconnect();
  await receiver?.down();
  await standin?.close();
});

describe('outgoing webhooks across processes', () => {
  it('a server killed with SIGKILL between the commit and the delivery delivers after restart', { timeout: 120_000 }, async () => {
    const first = await startServer();
    const webhook = await subscribe(first.base, 'orders.create', '/crash');
    // The receiver takes the request and never answers: the delivery is in flight when the server dies.
    receiver.answer(() => 'hang');
    const order = await post(first.base, 'orders', { currency_code: 'EUR' });
    await expect.poll(() => receiver.requests.filter((request) => request === '/crash').length, { timeout: 30_000 }).toBeGreaterThanOrEqual(1);
    first.process.kill('SIGKILL');
    await new Promise((resolve) => first.process.once('exit', resolve));
    const event = await db.webhookEvent.findFirstOrThrow({ where: { webhookId: webhook, resourceId: order.id } });
    expect(event.status).toBe('pending');

    receiver.answer(() => 200);
    await startServer();
    await expect.poll(() => receivedFor([order.id], '/crash').length, { timeout: 60_000 }).toBeGreaterThanOrEqual(1);
    const [delivered] = receivedFor([order.id], '/crash');
    expect(delivered).toMatchObject({ topic: 'orders.create', deliveryId: event.id, signatureValid: true });
    await expect.poll(async () => (await db.webhookEvent.findUniqueOrThrow({ where: { id: event.id } })).status, { timeout: 10_000 }).toBe('delivered');
  });

  it('two instances deliver each event once', { timeout: 120_000 }, async () => {
    const instances = [await startServer(), await startServer()];
    const webhook = await subscribe(instances[0]!.base, 'customers.create', '/twice');
    const customers = await Promise.all(
      Array.from({ length: 20 }, (_, index) => post(instances[index % 2]!.base, 'customers', { email: `twice-${randomBytes(4).toString('hex')}@example.com` })),
    );
    const ids = customers.map((customer) => customer.id);
    await expect.poll(() => receivedFor(ids, '/twice').length, { timeout: 60_000 }).toBe(20);
    // Each delivery is recorded once its answer came back, just after the receiver saw it.
    const events = () => db.webhookEvent.findMany({ where: { webhookId: webhook } });
    await expect.poll(async () => (await events()).filter((event) => event.status === 'delivered').length, { timeout: 10_000 }).toBe(20);
    expect((await events()).map((event) => event.attempts)).toEqual(ids.map(() => 1));
    expect(await db.eventCallback.count({ where: { webhookId: webhook } })).toBe(20);
    expect(new Set(receivedFor(ids, '/twice').map((event) => event.body.data.id)).size).toBe(20);
    expect(receivedFor(ids, '/twice').every((event) => event.signatureValid)).toBe(true);
  });
});
