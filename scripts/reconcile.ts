// npm run reconcile -- [--older-than-minutes 15] [--limit 50]
//
// Re-reads from Stripe the PaymentIntents left pending longer than the given time (and
// those with a capture, refund or void whose outcome was never recorded) and applies what
// Stripe says, as the webhooks would have: the fallback for missed webhooks. Several
// copies (cron on several hosts, next to servers running the same job on a timer) may run
// at once; each re-reads different payments.
//
// Reads the server's environment: DATABASE_URL and STRIPE_API_URL are required (the local
// stand-in of `npm start` lives inside that process; there, use _refresh or the server's
// timer). ENCRYPTION_KEY unset: the development key in DATA_DIR, as the server uses.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { ConfigError, parseEnvironment } from '../src/config.ts';
import { createSecretBox } from '../src/crypto/secret-box.ts';
import { connectDatabase } from '../src/db/client.ts';
import { reconcileAll } from '../src/payments/reconcile.ts';
import { StripeClients } from '../src/stripe/client.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function fail(message: string): never {
  console.error(message);
  process.exit(2);
}

function positive(name: string, value: string): number {
  const number = Number(value);
  if (!Number.isFinite(number) || number <= 0) fail(`--${name} must be a positive number, got "${value}"`);
  return number;
}

const { values } = parseArgs({
  options: {
    'older-than-minutes': { type: 'string', default: '15' },
    limit: { type: 'string', default: '50' },
  },
});

let env;
try {
  env = parseEnvironment(process.env);
} catch (error) {
  if (error instanceof ConfigError) fail(error.message);
  throw error;
}
if (!env.DATABASE_URL) fail('DATABASE_URL is not set: it names the database whose payments to reconcile');
if (!env.STRIPE_API_URL) fail('STRIPE_API_URL is not set: the command reads PaymentIntents from it (e.g. https://api.stripe.com)');

let encryptionKey = env.ENCRYPTION_KEY;
if (!encryptionKey) {
  const secretsFile = path.join(path.resolve(root, env.DATA_DIR), 'secrets.json');
  try {
    encryptionKey = (JSON.parse(await readFile(secretsFile, 'utf8')) as { encryptionKey: string }).encryptionKey;
  } catch {
    fail(`ENCRYPTION_KEY is not set and ${secretsFile} cannot be read: the gateways' Stripe keys cannot be opened`);
  }
}

// As the server connects: the same lock timeout, and unnamed statements behind a transaction pooler.
const { prisma: db, transactions } = connectDatabase(env.DATABASE_URL, {
  poolMax: 2,
  lockTimeoutMs: env.DATABASE_LOCK_TIMEOUT_MS,
  ...(env.DATABASE_POOLER === 'transaction' ? { pooler: 'transaction' as const } : {}),
});
const services = {
  db,
  transactions,
  stripe: new StripeClients({ apiUrl: new URL(env.STRIPE_API_URL), timeoutMs: env.STRIPE_TIMEOUT_MS, maxNetworkRetries: env.STRIPE_MAX_NETWORK_RETRIES }),
  secretBox: createSecretBox(Buffer.from(encryptionKey, 'base64')),
  logger: pino({ level: env.LOG_LEVEL }),
};

try {
  const report = await reconcileAll(services, {
    olderThanMs: positive('older-than-minutes', values['older-than-minutes']) * 60_000,
    limit: Math.floor(positive('limit', values.limit)),
  });
  console.log(JSON.stringify({ claimed: report.claimed, refreshed: report.refreshed, failed: report.failed }));
} catch (error) {
  console.error(`reconciliation failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
} finally {
  await db.$disconnect();
}
