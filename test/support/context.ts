import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import supertest from 'supertest';
import { buildApp, type BuildOptions } from '../../src/app.ts';
import { ensureIntegrationApplication } from '../../src/auth/applications.ts';
import type { AppConfig } from '../../src/config.ts';
import { connectDatabase, type PrismaClient } from '../../src/db/client.ts';
import type { SqlTransactions } from '../../src/db/sql-transaction.ts';
import { startStripeStandin, type StripeStandin } from '@stripe-payments-api/stripe-standin';
import { inject } from 'vitest';
import { pino } from 'pino';
import { createSecretBox } from '../../src/crypto/secret-box.ts';
import type { Services } from '../../src/services.ts';
import { StripeClients } from '../../src/stripe/client.ts';
import { testDatabaseUrl } from './test-database-url.ts';

export const jsonApi = 'application/vnd.api+json';

export interface TestContext {
  app: FastifyInstance;
  http: ReturnType<typeof supertest>;
  standin: StripeStandin;
  db: PrismaClient;
  /** SQL transactions on `db`'s pool, for domain services a test builds (`domainServices`). */
  transactions: SqlTransactions;
  config: AppConfig;
  /** Every log line the app wrote, raw. */
  logs: string[];
  credentials: { clientId: string; clientSecret: string };
  token: string;
  close(): Promise<void>;
}

/**
 * A real app over the test database and a real Stripe stand-in on loopback, plus an
 * integration application and a token for it: what a storefront developer would have.
 */
export type ConfigOverrides = Omit<Partial<AppConfig>, 'stripe'> & { stripe?: Partial<AppConfig['stripe']> };

export async function startTestContext(overrides: ConfigOverrides = {}, options: Pick<BuildOptions, 'onDatabaseQuery' | 'webhookDelivery' | 'jobQueue'> = {}): Promise<TestContext> {
  const standin = await startStripeStandin({ port: 0 });
  const logs: string[] = [];
  const logStream = new Writable({
    write(chunk, _encoding, done) {
      logs.push(String(chunk));
      done();
    },
  });
  const config: AppConfig = {
    databaseUrl: testDatabaseUrl(),
    databasePoolMax: 5,
    tokenTtlSeconds: 3600,
    signingKeyRotationSeconds: 30 * 86_400,
    tokenCheckCacheMs: 1000,
    encryptionKey: Buffer.from(inject('encryptionKey'), 'base64'),
    logLevel: 'info',
    bodyLimit: 1_048_576,
    trustProxy: false,
    idempotencyKeyTtlSeconds: 86_400,
    prettyLogs: false,
    corsOrigins: '*',
    rateLimit: { max: 100_000, windowSeconds: 60, redisUrl: undefined },
    ...overrides,
    // Stripe settings merge, so a test can shorten the timeout and keep its stand-in.
    stripe: { apiUrl: new URL(standin.url), timeoutMs: 5_000, maxNetworkRetries: 2, ...overrides.stripe },
  };
  const retryBaseMs = Number(process.env.WEBHOOK_RETRY_BASE_MS ?? 10);
  const app = await buildApp(config, { logStream, ...options, webhookDelivery: { retryBaseMs, ...options.webhookDelivery } });
  // Listening on a fixed port keeps the links in responses stable across requests.
  await app.listen({ port: 0, host: '127.0.0.1' });
  const { prisma: db, transactions } = connectDatabase(config.databaseUrl, { poolMax: 2 });
  const credentials = { clientId: `test-client-${randomBytes(6).toString('hex')}`, clientSecret: randomBytes(24).toString('base64url') };
  await ensureIntegrationApplication(db, credentials);
  const http = supertest(app.server);
  const tokenResponse = await http
    .post('/oauth/token')
    .set('Content-Type', 'application/json')
    .send({ grant_type: 'client_credentials', client_id: credentials.clientId, client_secret: credentials.clientSecret });
  if (tokenResponse.status !== 200) {
    // The server's own error lines say why: they are otherwise only in the captured log.
    const errors = logs.filter((line) => line.includes('unhandled')).join('\n').slice(0, 3000);
    throw new Error(`token request failed: ${tokenResponse.status} ${tokenResponse.text} ${errors}`);
  }
  return {
    app,
    http,
    standin,
    db,
    transactions,
    config,
    logs,
    credentials,
    token: tokenResponse.body.access_token as string,
    async close() {
      await app.close();
      await db.$disconnect();
      await standin.close();
    },
  };
}

/** The domain's services over the test context's database, key and Stripe: what the server's jobs and commands build. */
export function domainServices(context: TestContext): Services {
  return {
    db: context.db,
    transactions: context.transactions,
    stripe: new StripeClients(context.config.stripe),
    secretBox: createSecretBox(context.config.encryptionKey),
    logger: pino({ level: 'silent' }),
  };
}

/** A JSON:API request as a storefront sends it: the media type both ways and the bearer token. */
export function api(context: TestContext) {
  const headers = (request: supertest.Test) =>
    request.set('Accept', jsonApi).set('Authorization', `Bearer ${context.token}`);
  return {
    get: (url: string) => headers(context.http.get(url)),
    delete: (url: string) => headers(context.http.delete(url)),
    post: (url: string, body: unknown) => headers(context.http.post(url)).set('Content-Type', jsonApi).send(JSON.stringify(body)),
    patch: (url: string, body: unknown) => headers(context.http.patch(url)).set('Content-Type', jsonApi).send(JSON.stringify(body)),
  };
}

/** POSTs a document with the context's token and returns the created record's id (throws unless 201). */
export async function createdId(context: TestContext, url: string, body: unknown): Promise<string> {
  const response = await api(context).post(url, body);
  if (response.status !== 201) throw new Error(`${url}: ${response.status} ${response.text}`);
  return response.body.data.id as string;
}

export interface Checkout {
  gatewayId: string;
  paymentMethodId: string;
  orderId: string;
  secretKey: string;
}

/**
 * Creates, through the API, what a merchant sets up before a shopper pays: a Stripe
 * gateway, a payment method, an order in `currency` with line items.
 */
export async function createCheckout(
  context: TestContext,
  { currency = 'EUR', lines = [{ quantity: 2, unit_amount_cents: 1250 }], priceAmountCents = 0 }: {
    currency?: string;
    lines?: { quantity: number; unit_amount_cents: number }[];
    priceAmountCents?: number;
  } = {},
): Promise<Checkout> {
  const secretKey = `sk_test_${randomBytes(12).toString('hex')}`;
  const created = (url: string, body: unknown) => createdId(context, url, body);
  const gatewayId = await created('/api/stripe_gateways', {
    data: { type: 'stripe_gateways', attributes: { name: 'Stripe', login: secretKey, publishable_key: 'pk_test_abc123' } },
  });
  const paymentMethodId = await created('/api/payment_methods', {
    data: {
      type: 'payment_methods',
      attributes: { payment_source_type: 'stripe_payments', currency_code: currency, price_amount_cents: priceAmountCents },
      relationships: { payment_gateway: { data: { type: 'stripe_gateways', id: gatewayId } } },
    },
  });
  const orderId = await created('/api/orders', {
    data: {
      type: 'orders',
      attributes: { currency_code: currency, customer_email: 'shopper@example.com' },
      relationships: { payment_method: { data: { type: 'payment_methods', id: paymentMethodId } } },
    },
  });
  for (const [index, line] of lines.entries()) {
    await created('/api/line_items', {
      data: {
        type: 'line_items',
        attributes: { sku_code: `SKU${index}`, name: `Item ${index}`, ...line },
        relationships: { order: { data: { type: 'orders', id: orderId } } },
      },
    });
  }
  return { gatewayId, paymentMethodId, orderId, secretKey };
}
