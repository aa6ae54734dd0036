import { randomBytes } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Fastify, { type FastifyInstance } from 'fastify';
import { pino } from 'pino';
import supertest from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createSecretBox } from '../../src/crypto/secret-box.ts';
import { connectDatabase, type PrismaClient } from '../../src/db/client.ts';
import { ResourceEngine, type AnyResource } from '../../src/jsonapi/engine.ts';
import { JsonApiError } from '../../src/jsonapi/errors.ts';
import { resources } from '../../src/resources/index.ts';
import type { Services } from '../../src/services.ts';
import { StripeClients } from '../../src/stripe/client.ts';
import { startStripeStandin, type StripeStandin } from '@stripe-payments-api/stripe-standin';
import { testDatabaseUrl } from '../support/test-database-url.ts';

// A resource's writes come from its declaration: a field declared with its column is
// created, updated and read back without a line of handler code, whether the engine
// stores the resource itself (customers) or the domain does (stripe payments).

const resourcesDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src/resources');

describe('src/resources', () => {
  it('declares, and never reaches the database itself: no transactions, no transaction clients, no services.db', async () => {
    const files = (await readdir(resourcesDir, { recursive: true })).filter((file) => file.endsWith('.ts'));
    expect(files.length).toBeGreaterThan(5);
    const offences: string[] = [];
    for (const file of files) {
      const lines = (await readFile(path.join(resourcesDir, file), 'utf8')).split('\n');
      lines.forEach((line, index) => {
        if (/\$transaction|\btx\.|services\.db\b|\.db\.\w+\./.test(line)) offences.push(`${file}:${index + 1}: ${line.trim()}`);
      });
    }
    expect(offences).toEqual([]);
  });
});

/** A declaration as it is, with one more field: the one line a new writable attribute takes. */
function withField(type: string, name: string, field: AnyResource['attributes'][string]): AnyResource[] {
  return resources.map((resource): AnyResource => (resource.type === type ? { ...resource, attributes: { ...resource.attributes, [name]: field } } : resource));
}

describe('a field declared without handler code', () => {
  let standin: StripeStandin;
  let db: PrismaClient;
  let app: FastifyInstance;
  let http: ReturnType<typeof supertest>;

  beforeAll(async () => {
    standin = await startStripeStandin({ port: 0 });
    const database = connectDatabase(testDatabaseUrl(), { poolMax: 4 });
    db = database.prisma;
    const services: Services = {
      db,
    transactions: database.transactions,
      stripe: new StripeClients({ apiUrl: new URL(standin.url), timeoutMs: 5000, maxNetworkRetries: 1 }),
      secretBox: createSecretBox(randomBytes(32)),
      logger: pino({ level: 'silent' }),
    };
    const declared = [
      // Engine-written: a customer's status, writable.
      ...withField('customers', 'status', { type: 'string', creatable: true, updatable: true, filterable: true, input: z.enum(['prospect', 'acquired', 'repeat']) }),
    ].map((resource) =>
      // Domain-written: a stripe payment's receipt email, now changeable after creation.
      resource.type === 'stripe_payments' ? { ...resource, attributes: { ...resource.attributes, receipt_email: { ...resource.attributes.receipt_email!, updatable: true } } } : resource,
    );
    const engine = new ResourceEngine(services, declared);
    // The engine alone (an integration's reach: no token hook), JSON bodies.
    app = Fastify();
    app.setErrorHandler((error, _request, reply) => (error instanceof JsonApiError ? reply.code(error.status).send({ errors: error.errors }) : reply.send(error)));
    await app.register(async (api) => engine.register(api), { prefix: '/api' });
    await app.ready();
    http = supertest(app.server);
  });
  afterAll(async () => {
    await app?.close();
    await db?.$disconnect();
    await standin?.close();
  });

  const post = (url: string, data: unknown) => http.post(url).send({ data });
  const patch = (url: string, data: unknown) => http.patch(url).send({ data });

  it('is created, updated and read back by the engine', async () => {
    const email = `declared-${randomBytes(4).toString('hex')}@example.com`;
    const created = await post('/api/customers', { type: 'customers', attributes: { email, status: 'acquired' } });
    expect(created.status, created.text).toBe(201);
    expect(created.body.data.attributes.status).toBe('acquired');
    const id = created.body.data.id as string;

    const updated = await patch(`/api/customers/${id}`, { type: 'customers', id, attributes: { status: 'repeat', metadata: null } });
    expect(updated.status, updated.text).toBe(200);
    // An object cleared with null is stored empty, for every resource.
    expect(updated.body.data.attributes).toMatchObject({ status: 'repeat', metadata: {} });
    expect((await http.get(`/api/customers/${id}`)).body.data.attributes.status).toBe('repeat');
    expect(await db.customer.findUniqueOrThrow({ where: { id } })).toMatchObject({ status: 'repeat' });

    const refused = await patch(`/api/customers/${id}`, { type: 'customers', id, attributes: { status: 'gold' } });
    expect(refused.status).toBe(422);
    expect(refused.body.errors[0].source).toEqual({ pointer: '/data/attributes/status' });
  });

  it('is created, updated and read back through the domain', async () => {
    const secretKey = `sk_test_${randomBytes(12).toString('hex')}`;
    const id = async (response: supertest.Response) => {
      expect(response.status, response.text).toBe(201);
      return response.body.data.id as string;
    };
    const gatewayId = await id(await post('/api/stripe_gateways', { type: 'stripe_gateways', attributes: { name: 'Stripe', login: secretKey } }));
    const methodId = await id(
      await post('/api/payment_methods', {
        type: 'payment_methods',
        attributes: { payment_source_type: 'stripe_payments', currency_code: 'EUR', price_amount_cents: 0 },
        relationships: { payment_gateway: { data: { type: 'stripe_gateways', id: gatewayId } } },
      }),
    );
    const orderId = await id(
      await post('/api/orders', { type: 'orders', attributes: { currency_code: 'EUR' }, relationships: { payment_method: { data: { type: 'payment_methods', id: methodId } } } }),
    );
    await id(await post('/api/line_items', { type: 'line_items', attributes: { quantity: 1, unit_amount_cents: 1000 }, relationships: { order: { data: { type: 'orders', id: orderId } } } }));
    const paymentId = await id(
      await post('/api/stripe_payments', {
        type: 'stripe_payments',
        attributes: { receipt_email: 'first@example.com' },
        relationships: { order: { data: { type: 'orders', id: orderId } } },
      }),
    );

    const updated = await patch(`/api/stripe_payments/${paymentId}`, { type: 'stripe_payments', id: paymentId, attributes: { receipt_email: 'second@example.com' } });
    expect(updated.status, updated.text).toBe(200);
    expect(updated.body.data.attributes.receipt_email).toBe('second@example.com');
    expect((await http.get(`/api/stripe_payments/${paymentId}`)).body.data.attributes.receipt_email).toBe('second@example.com');
    // And an _update sends it to the PaymentIntent with the rest.
    expect((await patch(`/api/stripe_payments/${paymentId}`, { type: 'stripe_payments', id: paymentId, attributes: { _update: true } })).status).toBe(200);
    const stripeId = updated.body.data.attributes.stripe_id as string;
    expect(standin.paymentIntents().find((intent) => intent.id === stripeId)).toMatchObject({ receipt_email: 'second@example.com' });
  });
});
