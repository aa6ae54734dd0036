import { isDeepStrictEqual } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectDatabase, type DatabaseClients } from '../../src/db/client.ts';
import type { AnyResource } from '../../src/jsonapi/resource.ts';
import { ResourceStore, type Database, type ModelDelegate } from '../../src/jsonapi/store.ts';
import { resources } from '../../src/resources/index.ts';
import { api, createCheckout, startTestContext, type TestContext } from '../support/context.ts';

// The store reads one record with its `load` in a single prepared statement of its own,
// past Prisma: whatever it returns must be what Prisma's findFirst + include would have.
let context: TestContext;
let store: ResourceStore;
const registry = new Map((resources as readonly AnyResource[]).map((resource) => [resource.type, resource]));
let reservedId = '';
let database: DatabaseClients | undefined;

// Timestamps are stored as UTC without a zone: read them in a process that is not on UTC,
// so that a reading in local time cannot pass on a machine that happens to be on UTC.
const previousTimeZone = process.env.TZ;

beforeAll(async () => {
  process.env.TZ = 'Asia/Tokyo';
  context = await startTestContext();
  const checkout = await createCheckout(context, { lines: [{ quantity: 2, unit_amount_cents: 1500 }] });
  const payment = await api(context).post('/api/stripe_payments', {
    data: { type: 'stripe_payments', attributes: { metadata: { a: [1, { b: null }] } }, relationships: { order: { data: { type: 'orders', id: checkout.orderId } } } },
  });
  expect(payment.status, payment.text).toBe(201);
  for (const [type, attributes] of [
    ['markets', { name: 'Europe', metadata: { region: 'eu' } }],
    ['customers', { email: `reads-${Date.now()}@example.com` }],
  ] as const) {
    const created = await api(context).post(`/api/${type}`, { data: { type, attributes } });
    expect(created.status, created.text).toBe(201);
  }
  // A payment whose PaymentIntent is still being created: a row the API never shows.
  reservedId = `reserved-${Date.now()}`;
  await context.db.$executeRawUnsafe(
    `INSERT INTO "stripe_payments" ("id", "order_id", "payment_gateway_id", "amount_cents", "currency_code", "updated_at")
     VALUES ($1, $2, $3, 3000, 'EUR', now())`,
    reservedId,
    checkout.orderId,
    checkout.gatewayId,
  );
  database = connectDatabase(context.config.databaseUrl, { poolMax: 2 });
  store = new ResourceStore(database.prisma as unknown as Database, registry, { query: database.query });
});
afterAll(async () => {
  if (reservedId) await context?.db.$executeRawUnsafe('DELETE FROM "stripe_payments" WHERE "id" = $1', reservedId);
  await database?.prisma.$disconnect();
  await context?.close();
  if (previousTimeZone === undefined) delete process.env.TZ;
  else process.env.TZ = previousTimeZone;
});

const delegateOf = (declaration: AnyResource) => (context.db as unknown as Record<string, ModelDelegate>)[declaration.model]!;

describe('ResourceStore.findOne', () => {
  it.each([...registry.keys()])('reads a %s exactly as Prisma does', async (type) => {
    const declaration = registry.get(type)!;
    const delegate = delegateOf(declaration);
    const some = await delegate.findMany({ where: { ...declaration.visibleWhere } });
    // Transactions come from Stripe's side of a payment: the only type this test has none of.
    if (declaration.model !== 'transaction') expect(some.length, type).toBeGreaterThan(0);
    // Rows that another test file changes while they are read (the database is shared) are not compared.
    let compared = 0;
    for (const { id } of some.slice(0, 5)) {
      const prismaRead = () => delegate.findFirst({ where: { id, ...declaration.visibleWhere }, ...(declaration.load ? { include: declaration.load } : {}) });
      const before = await prismaRead();
      const read = await store.findOne(type, id);
      if (!isDeepStrictEqual(before, await prismaRead())) continue;
      expect(read).toStrictEqual(before);
      compared += 1;
    }
    if (declaration.model !== 'transaction') expect(compared, type).toBeGreaterThan(0);
  });

  it('finds nothing for a missing id or a row the API does not show', async () => {
    expect(await store.findOne('stripe_payments', 'no-such-id')).toBeNull();
    expect(await store.findOne('stripe_payments', reservedId)).toBeNull();
  });
});

describe('ResourceStore.findBy id (the rows of a list page)', () => {
  const byId = (rows: { id: string }[]) => [...rows].sort((a, b) => a.id.localeCompare(b.id));

  it.each([...registry.keys()])('reads %s rows exactly as Prisma does', async (type) => {
    const declaration = registry.get(type)!;
    const delegate = delegateOf(declaration);
    const ids = (await delegate.findMany({ where: { ...declaration.visibleWhere } })).map((row) => row.id);
    const prismaRead = async () =>
      byId(await delegate.findMany({ where: { id: { in: ids }, ...declaration.visibleWhere }, ...(declaration.load ? { include: declaration.load } : {}) }));
    // The database is shared with other test files, which change their own rows meanwhile:
    // only the rows Prisma reads alike before and after the store's read are compared.
    const before = await prismaRead();
    const read = byId(await store.findBy(type, 'id', ids));
    const after = await prismaRead();
    const stable = new Set(before.filter((row, index) => isDeepStrictEqual(row, after[index])).map((row) => row.id));
    if (declaration.model !== 'transaction') expect(stable.size, type).toBeGreaterThan(0);
    expect(read.filter((row) => stable.has(row.id))).toStrictEqual(before.filter((row) => stable.has(row.id)));
    // Nothing missing or extra, whatever changed in the rows: what is still there after the
    // read was read, and nothing was read that was not there before.
    const readIds = new Set(read.map((row) => row.id));
    expect(after.filter((row) => !readIds.has(row.id))).toEqual([]);
    expect([...readIds].filter((id) => !before.some((row) => row.id === id))).toEqual([]);
  });

  it('leaves out missing ids and rows the API does not show, and reads a repeated id once', async () => {
    const [some] = await delegateOf(registry.get('stripe_payments')!).findMany({ where: { intentState: 'created' } });
    const rows = await store.findBy('stripe_payments', 'id', [some!.id, 'no-such-id', reservedId, some!.id]);
    expect(rows.map((row) => row.id)).toEqual([some!.id]);
  });

  it('reads a stripe payment and its order amounts in one statement', async () => {
    const statements: string[] = [];
    const counted = await startTestContext({}, { onDatabaseQuery: (sql) => statements.push(sql) });
    try {
      const { body } = await api(counted).get('/api/stripe_payments?page[size]=1');
      const id = body.data[0].id as string;
      statements.length = 0;
      const response = await api(counted).get(`/api/stripe_payments/${id}`);
      expect(response.status).toBe(200);
      expect(response.body.data.attributes.mismatched_amounts).toBe(false);
      expect(statements.filter((sql) => /"stripe_payments"/.test(sql))).toHaveLength(1);
    } finally {
      await counted.close();
    }
  });
});
