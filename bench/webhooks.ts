// npm run bench:webhooks -- [--orders 400] [--concurrency 8]
//
// Outgoing webhook figures for docs/benchmarks.md: events per second delivered to a local
// receiver while orders are created (the write load: each create fires `orders.create`),
// and the delay from the order's creation (inside the transaction that records the event)
// to its arrival at the receiver, p50 and p99. One server in this process, on a fresh
// database on BENCH_DATABASE_URL's server, the receiver on loopback answering 200 at once.
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { buildApp } from '../src/app.ts';
import { ensureIntegrationApplication } from '../src/auth/applications.ts';
import { createPrismaClient } from '../src/db/client.ts';
import { applyMigrations } from '../src/db/migrations.ts';
import { createTestDatabase } from '../src/db/test-database.ts';
import { startStripeStandin } from '@stripe-payments-api/stripe-standin';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: {
    orders: { type: 'string', default: '400' },
    concurrency: { type: 'string', default: '8' },
    'database-url': { type: 'string', default: process.env.BENCH_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres' },
  },
});
const orders = Number(values.orders);
const concurrency = Number(values.concurrency);

const database = await createTestDatabase(values['database-url']);
const standin = await startStripeStandin({ port: 0 });
const arrivals: { createdAt: number; receivedAt: number }[] = [];
const receiver = http.createServer((request, response) => {
  let body = '';
  request.on('data', (chunk) => (body += chunk));
  request.on('end', () => {
    const receivedAt = Date.now();
    arrivals.push({ createdAt: Date.parse(JSON.parse(body).data.attributes.created_at), receivedAt });
    response.writeHead(200).end();
  });
});
await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
try {
  await applyMigrations(database.databaseUrl, { migrationsDir: path.join(root, 'prisma', 'migrations'), schemaPath: path.join(root, 'prisma', 'schema.prisma') });
  const app = await buildApp(
    {
      databaseUrl: database.databaseUrl,
      databasePoolMax: 10,
      stripe: { apiUrl: new URL(standin.url), timeoutMs: 5_000, maxNetworkRetries: 0 },
      tokenTtlSeconds: 3600,
      signingKeyRotationSeconds: 86_400,
      tokenCheckCacheMs: 1000,
      encryptionKey: randomBytes(32),
      logLevel: 'warn',
      bodyLimit: 1_048_576,
      trustProxy: false,
      idempotencyKeyTtlSeconds: 86_400,
      corsOrigins: '*',
      rateLimit: { max: 1_000_000, windowSeconds: 60, redisUrl: undefined },
      prettyLogs: false,
    },
    { logStream: { write: () => true } as never },
  );
  await app.listen({ port: 0, host: '127.0.0.1' });
  const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  const db = createPrismaClient(database.databaseUrl, { poolMax: 1 });
  const credentials = { clientId: 'bench', clientSecret: randomBytes(24).toString('base64url') };
  await ensureIntegrationApplication(db, credentials);
  await db.$disconnect();
  const token = ((await (await fetch(`${base}/oauth/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ grant_type: 'client_credentials', client_id: credentials.clientId, client_secret: credentials.clientSecret }) })).json()) as { access_token: string }).access_token;
  const post = async (type: string, attributes: Record<string, unknown>) => {
    const response = await fetch(`${base}/api/${type}`, {
      method: 'POST',
      headers: { accept: 'application/vnd.api+json', 'content-type': 'application/vnd.api+json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ data: { type, attributes } }),
    });
    if (response.status !== 201) throw new Error(`${type}: ${response.status} ${await response.text()}`);
  };
  await post('webhooks', { topic: 'orders.create', callback_url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook` });

  const started = Date.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < orders) {
        next += 1;
        await post('orders', { currency_code: 'EUR' });
      }
    }),
  );
  const written = Date.now();
  while (arrivals.length < orders && Date.now() - written < 120_000) await new Promise((resolve) => setTimeout(resolve, 20));
  const finished = Math.max(...arrivals.map((arrival) => arrival.receivedAt));
  const delays = arrivals.map((arrival) => arrival.receivedAt - arrival.createdAt).sort((a, b) => a - b);
  const percentile = (p: number) => delays[Math.min(delays.length - 1, Math.floor((p / 100) * delays.length))];
  const report = {
    orders,
    concurrency,
    delivered: arrivals.length,
    writesPerSecond: Math.round((orders / (written - started)) * 1000),
    eventsPerSecond: Math.round((arrivals.length / (finished - started)) * 1000),
    delayMs: { p50: percentile(50), p99: percentile(99), max: delays.at(-1) },
  };
  process.stdout.write(`${JSON.stringify(report)}\n`);
  await app.close();
} finally {
  receiver.close();
  await standin.close();
  await database.drop();
}
