import { isDeepStrictEqual } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectDatabase, type DatabaseClients } from '../../src/db/client.ts';
import { accessWhere, type Access, type Purpose } from '../../src/jsonapi/access.ts';
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
  // A webhook and one delivery attempt of it (event_callbacks are written by deliveries
  // only), so that these types have rows whatever other test files ran before. Disabled:
  // the database is shared, and an enabled one would take every order placed after this file.
  const webhook = await api(context).post('/api/webhooks', {
    data: { type: 'webhooks', attributes: { topic: 'orders.place', callback_url: 'http://127.0.0.1:9/hooks', metadata: { via: 'reads' }, _disable: true } },
  });
  expect(webhook.status, webhook.text).toBe(201);
  await context.db.eventCallback.create({
    data: { id: `reads-${Date.now()}`, webhookId: webhook.body.data.id, eventId: `event-${Date.now()}`, callbackUrl: 'http://127.0.0.1:9/hooks', payload: { data: { id: 'x' } }, responseCode: '500', responseMessage: 'reads' },
  });
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

describe('ResourceStore.findBy a foreign key (the rows of a to-many include)', () => {
  const byId = (rows: { id: string }[]) => [...rows].sort((a, b) => a.id.localeCompare(b.id));
  const toMany = [...registry.values()].flatMap((declaration) =>
    Object.entries(declaration.relationships).flatMap(([name, relationship]) =>
      relationship.kind === 'to_many' && relationship.inverseKey ? [[`${declaration.type}.${name}`, relationship.types[0]!, relationship.inverseKey] as const] : [],
    ),
  );

  it.each(toMany)('reads %s (%s by %s) exactly as Prisma does', async (_name, type, inverseKey) => {
    const declaration = registry.get(type)!;
    const delegate = delegateOf(declaration);
    const owners = [...new Set((await delegate.findMany({ where: { ...declaration.visibleWhere } })).map((row) => String(row[inverseKey])))].slice(0, 20);
    const prismaRead = async () =>
      byId(await delegate.findMany({ where: { [inverseKey]: { in: owners }, ...declaration.visibleWhere }, ...(declaration.load ? { include: declaration.load } : {}) }));
    const before = await prismaRead();
    const read = byId(await store.findBy(type, inverseKey, owners));
    const after = await prismaRead();
    const stable = new Set(before.filter((row, index) => isDeepStrictEqual(row, after[index])).map((row) => row.id));
    expect(read.filter((row) => stable.has(row.id))).toStrictEqual(before.filter((row) => stable.has(row.id)));
    const readIds = new Set(read.map((row) => row.id));
    expect(after.filter((row) => !readIds.has(row.id))).toEqual([]);
    expect([...readIds].filter((id) => !before.some((row) => row.id === id))).toEqual([]);
  });
});

/**
 * A sales channel token's reach, compiled into the read: the rows of these fixtures each
 * token reaches, to read and to change, by the joined read and by a store without one
 * (ids within the reach from SQL, rows from Prisma) alike.
 */
describe('reads within a sales channel token\'s reach', () => {
  let prismaStore: ResourceStore;
  const made = {} as Record<string, string>;
  const accessOf = (marketId: string, customerId: string | null): Access => ({ clientId: 'storefront', tokenId: 'token', storefront: { marketId, customerId } });

  beforeAll(async () => {
    prismaStore = new ResourceStore(database!.prisma as unknown as Database, registry);
    const created = async (type: string, attributes: Record<string, unknown>, relationships: Record<string, unknown> = {}) => {
      const response = await api(context).post(`/api/${type}`, { data: { type, attributes, relationships } });
      expect(response.status, response.text).toBe(201);
      return response.body.data.id as string;
    };
    const link = (type: string, id: string) => ({ data: { type, id } });
    const checkout = await createCheckout(context);
    const unique = Date.now().toString(36);
    made.marketM = await created('markets', { name: 'M', code: `m-${unique}` });
    made.marketN = await created('markets', { name: 'N', code: `n-${unique}` });
    made.customer = await created('customers', { email: `reach-${unique}@example.com` });
    made.otherCustomer = await created('customers', { email: `reach-other-${unique}@example.com` });
    const method = (market: string | null) =>
      created('payment_methods', { payment_source_type: 'stripe_payments', currency_code: 'EUR', price_amount_cents: 0 }, {
        payment_gateway: link('stripe_gateways', checkout.gatewayId),
        ...(market ? { market: link('markets', market) } : {}),
      });
    made.methodM = await method(made.marketM);
    made.methodN = await method(made.marketN);
    made.methodAnywhere = await method(null);
    made.methodDisabled = await method(made.marketM);
    await context.db.paymentMethod.update({ where: { id: made.methodDisabled }, data: { disabledAt: new Date() } });
    const order = async (key: string, market: string, customer: string | null, status?: string) => {
      made[key] = await created('orders', { currency_code: 'EUR' }, {
        market: link('markets', market),
        ...(customer ? { customer: link('customers', customer) } : {}),
        payment_method: link('payment_methods', made.methodAnywhere!),
      });
      made[`${key}Line`] = await created('line_items', { sku_code: 'SKU', quantity: 1, unit_amount_cents: 1000 }, { order: link('orders', made[key]!) });
      made[`${key}Payment`] = await created('stripe_payments', {}, { order: link('orders', made[key]!) });
      // States the API reaches only through a payment flow, set as that flow would leave them.
      if (status) await context.db.order.update({ where: { id: made[key] }, data: { status } });
    };
    await order('guestOrder', made.marketM, null);
    await order('placedGuestOrder', made.marketM, null, 'placed');
    await order('cancelledGuestOrder', made.marketM, null, 'cancelled');
    await order('customerOrder', made.marketM, made.customer);
    await order('otherCustomerOrder', made.marketM, made.otherCustomer);
    await order('marketNOrder', made.marketN, null);
    await context.standin.webhooksIdle();
  }, 60_000);

  const orderKeys = ['guestOrder', 'placedGuestOrder', 'cancelledGuestOrder', 'customerOrder', 'otherCustomerOrder', 'marketNOrder'];
  const fixtureKeys: Record<string, string[]> = {
    orders: orderKeys,
    line_items: orderKeys.map((key) => `${key}Line`),
    stripe_payments: orderKeys.map((key) => `${key}Payment`),
    payment_methods: ['methodM', 'methodN', 'methodAnywhere', 'methodDisabled'],
    customers: ['customer', 'otherCustomer'],
  };
  const suffix: Record<string, string> = { orders: '', line_items: 'Line', stripe_payments: 'Payment' };
  // The fixtures a token reaches, by key.
  const expected = (token: 'guest of M' | 'customer in M' | 'guest of N', purpose: Purpose, type: string): string[] => {
    // Enabled methods of the token's market and those offered in every market, whatever the purpose (they have no states).
    if (type === 'payment_methods') return token === 'guest of N' ? ['methodN', 'methodAnywhere'] : ['methodM', 'methodAnywhere'];
    if (type === 'customers') return token === 'customer in M' ? ['customer'] : [];
    const orders = {
      'guest of M': purpose === 'read' ? ['guestOrder', 'placedGuestOrder'] : ['guestOrder'],
      'customer in M': ['customerOrder'],
      'guest of N': ['marketNOrder'],
    }[token];
    return orders.map((key) => `${key}${suffix[type]}`);
  };
  const tokens = { 'guest of M': () => accessOf(made.marketM!, null), 'customer in M': () => accessOf(made.marketM!, made.customer!), 'guest of N': () => accessOf(made.marketN!, null) };
  const cases = Object.keys(fixtureKeys).flatMap((type) =>
    (Object.keys(tokens) as (keyof typeof tokens)[]).flatMap((token) => (['read', 'write'] as const).map((purpose) => [type, token, purpose] as const)),
  );

  it.each(cases)('%s for a %s to %s', async (type, token, purpose) => {
    const declaration = registry.get(type)!;
    const reach = accessWhere(registry, declaration, tokens[token](), purpose);
    const ids = fixtureKeys[type]!.map((key) => made[key]!);
    const want = expected(token, purpose, type);
    const byKey = (rows: { id: string }[]) => rows.map((row) => Object.keys(made).find((key) => made[key] === row.id)).sort();
    const joined = await store.findBy(type, 'id', ids, reach);
    expect(byKey(joined)).toEqual([...want].sort());
    const prisma = await prismaStore.findBy(type, 'id', ids, reach);
    expect([...prisma].sort((a, b) => a.id.localeCompare(b.id))).toStrictEqual([...joined].sort((a, b) => a.id.localeCompare(b.id)));
    for (const id of ids) {
      const one = await store.findOne(type, id, reach);
      expect(one).toStrictEqual(joined.find((row) => row.id === id) ?? null);
      expect(await prismaStore.findOne(type, id, reach)).toStrictEqual(one);
    }
  });
});
