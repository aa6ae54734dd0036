import { createHmac, createPublicKey, createSign, generateKeyPairSync, randomBytes, type JsonWebKey } from 'node:crypto';
import type supertest from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newId } from '../../src/ids.ts';
import { inputSchemaOf } from '../../src/jsonapi/document.ts';
import type { Action, AnyResource } from '../../src/jsonapi/resource.ts';
import { registeredRoutes } from '../../src/routes/docs.ts';
import { resources } from '../../src/resources/index.ts';
import { jsonApi, startTestContext, type TestContext } from '../support/context.ts';
import { countingApp, type CountingApp } from '../support/statements.ts';
import { stripeClient } from '../support/payments.ts';

// Who may do what, for every route the engine builds from the resource declarations: the
// routes and the expected answers are derived from each declaration's `actions`,
// `storefront` and `relationships`, so a new resource or relationship is in the matrix
// without anyone writing a row for it. Only the records to aim at are listed by hand
// (`plan` for the storefront roles, `fixtures` built in beforeAll), and a test below fails
// when a declared type has none.

const declarations: readonly AnyResource[] = resources;
const registry = new Map(declarations.map((declaration) => [declaration.type, declaration]));

const roles = ['integration', 'guest', 'customer'] as const;
type Role = (typeof roles)[number];
type StorefrontRole = Exclude<Role, 'integration'>;
const storefrontRoles = ['guest', 'customer'] as const;

type Method = 'GET' | 'POST' | 'PATCH' | 'DELETE' | 'PUT';
type RouteKind = 'list' | 'create' | 'retrieve' | 'update' | 'delete' | 'related' | 'linkage' | 'refused';
interface Route {
  method: Method;
  pattern: string;
  kind: RouteKind;
  relationship?: string;
}

/** Every route ResourceEngine.registerResource registers for a declaration. */
function routesOf(declaration: AnyResource): Route[] {
  const collection = `/api/${declaration.type}`;
  const member = `${collection}/:id`;
  const routes: Route[] = [
    { method: 'GET', pattern: collection, kind: 'list' },
    { method: 'POST', pattern: collection, kind: 'create' },
    { method: 'GET', pattern: member, kind: 'retrieve' },
    { method: 'PATCH', pattern: member, kind: 'update' },
    { method: 'DELETE', pattern: member, kind: 'delete' },
    // Verbs with no meaning on the URL: 405 for everyone, whoever asks.
    ...(['PUT', 'PATCH', 'DELETE'] as const).map((method) => ({ method, pattern: collection, kind: 'refused' as const })),
    ...(['PUT', 'POST'] as const).map((method) => ({ method, pattern: member, kind: 'refused' as const })),
  ];
  for (const name of Object.keys(declaration.relationships)) {
    routes.push({ method: 'GET', pattern: `${member}/${name}`, kind: 'related', relationship: name });
    routes.push({ method: 'GET', pattern: `${member}/relationships/${name}`, kind: 'linkage', relationship: name });
  }
  return routes;
}

const success: Record<Exclude<RouteKind, 'refused'>, number> = { list: 200, create: 201, retrieve: 200, update: 200, delete: 204, related: 200, linkage: 200 };
const actionOf = (kind: Exclude<RouteKind, 'refused'>): Action =>
  kind === 'list' || kind === 'create' || kind === 'update' || kind === 'delete' ? kind : 'retrieve';
const storefrontReads = (type: string) => registry.get(type)?.storefront?.actions.includes('retrieve') ?? false;

/**
 * The answer the declarations promise, before any record is looked at: a status, or
 * 'by-reach' when it depends on whether the record is the caller's (see `byReach`).
 */
function promised(declaration: AnyResource, route: Route, role: Role): number | 'by-reach' {
  if (route.kind === 'refused') return 405;
  const action = actionOf(route.kind);
  if (!declaration.actions.includes(action)) return 405;
  if (role === 'integration') return success[route.kind];
  // Sales channels: single records only, of types with a storefront block, never lists.
  if (action === 'list') return 403;
  if (!declaration.storefront?.actions.includes(action)) return 403;
  if (route.relationship) {
    const relationship = declaration.relationships[route.relationship]!;
    // A relationship to records the server does not keep (a line item's item) has no type to refuse.
    if (relationship.kind === 'to_many' || !(relationship.absent || relationship.types.every(storefrontReads))) return 403;
  }
  return action === 'create' ? 201 : 'by-reach';
}

/**
 * own: the caller's and changeable. readOnly: the caller's, readable but no longer
 * changeable (a placed order). foreign: another market's, customer's, a state it may not
 * see: indistinguishable from a record that does not exist.
 */
type Reach = 'own' | 'readOnly' | 'foreign';
function byReach(route: Route, reach: Reach): number {
  if (reach === 'foreign') return 404;
  if (reach === 'readOnly' && (route.kind === 'update' || route.kind === 'delete')) return 403;
  return success[route.kind as Exclude<RouteKind, 'refused'>];
}

interface Target {
  label: string;
  id: string;
  reach: Reach;
}

/*
 * The records the storefront cases aim at, and how far each role reaches them. Test names
 * are fixed when the file is collected, before beforeAll makes the records, so this plan is
 * static; beforeAll creates a record for every key.
 */
interface Planned {
  key: string;
  label: string;
  reach: Reach;
}
interface OrderSpec {
  key: string;
  label: string;
  market: 'A' | 'B' | null;
  customer: 'customer' | 'other' | null;
  state: 'draft' | 'placed' | 'cancelled';
  guest: Reach;
  customerReach: Reach;
}
const orderSpecs: OrderSpec[] = [
  { key: 'guestA', label: 'guest order of market A', market: 'A', customer: null, state: 'draft', guest: 'own', customerReach: 'foreign' },
  { key: 'guestAPlaced', label: 'placed guest order of market A', market: 'A', customer: null, state: 'placed', guest: 'readOnly', customerReach: 'foreign' },
  { key: 'guestACancelled', label: 'cancelled guest order of market A', market: 'A', customer: null, state: 'cancelled', guest: 'foreign', customerReach: 'foreign' },
  { key: 'customerA', label: "customer's order of market A", market: 'A', customer: 'customer', state: 'draft', guest: 'foreign', customerReach: 'own' },
  { key: 'customerAPlaced', label: "customer's placed order of market A", market: 'A', customer: 'customer', state: 'placed', guest: 'foreign', customerReach: 'readOnly' },
  { key: 'customerACancelled', label: "customer's cancelled order of market A", market: 'A', customer: 'customer', state: 'cancelled', guest: 'foreign', customerReach: 'foreign' },
  { key: 'otherA', label: "another customer's order of market A", market: 'A', customer: 'other', state: 'draft', guest: 'foreign', customerReach: 'foreign' },
  { key: 'guestB', label: 'guest order of market B', market: 'B', customer: null, state: 'draft', guest: 'foreign', customerReach: 'foreign' },
  { key: 'customerB', label: "customer's own order of market B", market: 'B', customer: 'customer', state: 'draft', guest: 'foreign', customerReach: 'foreign' },
  { key: 'marketless', label: 'order with no market', market: null, customer: null, state: 'draft', guest: 'foreign', customerReach: 'foreign' },
];
const byOrder: Record<StorefrontRole, Planned[]> = {
  guest: orderSpecs.map(({ key, label, guest }) => ({ key, label, reach: guest })),
  customer: orderSpecs.map(({ key, label, customerReach }) => ({ key, label, reach: customerReach })),
};
const methodPlan: Planned[] = [
  { key: 'A', label: "market A's method", reach: 'own' },
  { key: 'anywhere', label: 'method offered in every market', reach: 'own' },
  { key: 'B', label: "market B's method", reach: 'foreign' },
  { key: 'disabled', label: "market A's disabled method", reach: 'foreign' },
];
const plan: Record<string, Record<StorefrontRole, Planned[]>> = {
  // An order's line items and payments are reached through it.
  orders: byOrder,
  line_items: byOrder,
  stripe_payments: byOrder,
  payment_methods: { guest: methodPlan, customer: methodPlan },
  customers: {
    guest: [
      { key: 'customer', label: 'a customer', reach: 'foreign' },
      { key: 'other', label: 'another customer', reach: 'foreign' },
    ],
    customer: [
      { key: 'customer', label: 'themselves', reach: 'own' },
      { key: 'other', label: 'another customer', reach: 'foreign' },
    ],
  },
};

interface TypeFixtures {
  /** The record integration cases aim at (and delete, at the very end). */
  integration: string;
  /** Ids of the planned storefront targets, by key. */
  byKey?: Record<string, string>;
}

/** A create body per role; `valid: false` when no body can succeed (the answer must then be a validation error). */
type CreateBody = (role: Role) => { body: unknown; valid: boolean } | undefined;

let context: TestContext;
const tokens = {} as Record<Role, string>;
const fixtures = new Map<string, TypeFixtures>();
const createBodies = new Map<string, CreateBody>();
let salesChannelClientId = '';
let marketACode = '';
const customerCredentials = { email: '', password: 'correct horse battery staple' };
const ids = {} as Record<string, string>;

const link = (type: string, id: string) => ({ data: { type, id } });
const unique = () => randomBytes(4).toString('hex');

function send(token: string, method: Method, url: string, body?: unknown): supertest.Test {
  const verb = { GET: 'get', POST: 'post', PATCH: 'patch', DELETE: 'delete', PUT: 'put' } as const;
  const request = context.http[verb[method]](url).set('Accept', jsonApi).set('Authorization', `Bearer ${token}`);
  return body === undefined ? request : request.set('Content-Type', jsonApi).send(JSON.stringify(body));
}
const as = (role: Role, method: Method, url: string, body?: unknown) => send(tokens[role], method, url, body);

/** Creates a record as the integration, through the API. */
async function created(type: string, attributes: Record<string, unknown>, relationships: Record<string, unknown> = {}): Promise<string> {
  const response = await as('integration', 'POST', `/api/${type}`, { data: { type, attributes, relationships } });
  if (response.status !== 201) throw new Error(`create ${type}: ${response.status} ${response.text}`);
  return response.body.data.id as string;
}

async function patchOrder(orderId: string, attributes: Record<string, unknown>) {
  const response = await as('integration', 'PATCH', `/api/orders/${orderId}`, { data: { type: 'orders', id: orderId, attributes } });
  if (response.status !== 200) throw new Error(`order ${Object.keys(attributes).join()}: ${response.status} ${response.text}`);
}

interface FixtureOrder {
  orderId: string;
  lineItemId: string;
  paymentId: string;
  intentId: string;
}

/** An order in EUR with one line item and a stripe payment, as a merchant's back office makes it. */
async function fixtureOrder(market: string | null, customer: string | null, paymentMethod: string): Promise<FixtureOrder> {
  const orderId = await created('orders', { currency_code: 'EUR' }, {
    ...(market ? { market: link('markets', market) } : {}),
    ...(customer ? { customer: link('customers', customer) } : {}),
    payment_method: link('payment_methods', paymentMethod),
  });
  const lineItemId = await created('line_items', { sku_code: 'SKU1', quantity: 1, unit_amount_cents: 1000 }, { order: link('orders', orderId) });
  const response = await as('integration', 'POST', '/api/stripe_payments', {
    data: { type: 'stripe_payments', relationships: { order: link('orders', orderId) } },
  });
  if (response.status !== 201) throw new Error(`stripe payment: ${response.status} ${response.text}`);
  return { orderId, lineItemId, paymentId: response.body.data.id, intentId: response.body.data.attributes.stripe_id };
}

/** Pays (the shopper confirms at Stripe) and places the order. */
async function placed(order: FixtureOrder, secretKey: string): Promise<FixtureOrder> {
  await stripeClient(context, secretKey).paymentIntents.confirm(order.intentId, { payment_method: 'pm_card_visa', return_url: 'https://shop.example.com/return' });
  await patchOrder(order.orderId, { _place: true });
  return order;
}

async function passwordGrant(scope: string) {
  const response = await context.http.post('/oauth/token').send({
    grant_type: 'password',
    client_id: salesChannelClientId,
    username: customerCredentials.email,
    password: customerCredentials.password,
    scope,
  });
  if (response.status !== 200) throw new Error(`password grant: ${response.status} ${response.text}`);
  return response.body as { access_token: string; refresh_token: string };
}

beforeAll(async () => {
  context = await startTestContext();
  tokens.integration = context.token;
  const secretKey = `sk_test_${randomBytes(12).toString('hex')}`;

  marketACode = `a-${unique()}`;
  const [marketA, marketB] = await Promise.all([
    created('markets', { name: 'Market A', code: marketACode }),
    created('markets', { name: 'Market B', code: `b-${unique()}` }),
  ]);
  customerCredentials.email = `c1-${unique()}@example.com`;
  const [customer1, customer2, gateway, spareGateway, application] = await Promise.all([
    created('customers', { email: customerCredentials.email, password: customerCredentials.password }),
    created('customers', { email: `c2-${unique()}@example.com`, password: customerCredentials.password }),
    created('stripe_gateways', { name: 'Stripe', login: secretKey, publishable_key: 'pk_test_abc123' }),
    // Unused by any payment method: the integration may delete it.
    created('stripe_gateways', { name: 'Spare', login: `sk_test_${randomBytes(12).toString('hex')}` }),
    created('applications', { name: 'Spare storefront', kind: 'sales_channel' }),
  ]);
  const salesChannel = await as('integration', 'POST', '/api/applications', { data: { type: 'applications', attributes: { name: 'Storefront', kind: 'sales_channel' } } });
  salesChannelClientId = salesChannel.body.data.attributes.client_id;

  const method = (market: string | null) =>
    created(
      'payment_methods',
      { payment_source_type: 'stripe_payments', currency_code: 'EUR', price_amount_cents: 0 },
      { payment_gateway: link('stripe_gateways', gateway), ...(market ? { market: link('markets', market) } : {}) },
    );
  const [methodA, methodB, methodAnywhere, methodDisabled] = await Promise.all([method(marketA), method(marketB), method(null), method(marketA)]);
  // The API has no way to disable a payment method yet; the merchant's dashboard would.
  await context.db.paymentMethod.update({ where: { id: methodDisabled }, data: { disabledAt: new Date() } });

  const markets = { A: marketA, B: marketB };
  const methodsByMarket = { A: methodA, B: methodB };
  const customersByKey = { customer: customer1, other: customer2 };
  const [integrationOrder, ...made] = await Promise.all([
    fixtureOrder(marketB, customer2, methodB),
    ...orderSpecs.map((spec) =>
      fixtureOrder(spec.market && markets[spec.market], spec.customer && customersByKey[spec.customer], spec.market ? methodsByMarket[spec.market] : methodAnywhere),
    ),
  ]);
  const orders = Object.fromEntries(orderSpecs.map((spec, index) => [spec.key, made[index]!]));
  // Records nothing depends on (a draft order without a payment, an unused method, market and customer): the integration may delete them.
  const [spareMarket, spareCustomer, spareMethod] = await Promise.all([
    created('markets', { name: 'Spare market', code: `s-${unique()}` }),
    created('customers', { email: `spare-${unique()}@example.com` }),
    method(null),
  ]);
  const spareOrder = await created('orders', { currency_code: 'EUR' });
  await Promise.all(
    orderSpecs.map(async (spec) => {
      if (spec.state === 'draft') return;
      const order = await placed(orders[spec.key]!, secretKey);
      if (spec.state === 'cancelled') await patchOrder(order.orderId, { _cancel: true });
    }),
  );
  // A capture and a partial refund: a record of every transaction type; the order stays placed.
  await patchOrder(orders.guestAPlaced!.orderId, { _capture: true });
  await patchOrder(orders.guestAPlaced!.orderId, { _refund: true, _refund_amount_cents: 100 });
  // Webhooks of the payments above must not land in the middle of the matrix.
  await context.standin.webhooksIdle();
  const transactionsOf = async (orderId: string) => {
    const response = await as('integration', 'GET', `/api/orders/${orderId}?include=authorizations,captures,refunds,voids`);
    const first = (type: string) => {
      const id = (response.body.included as { type: string; id: string }[]).find((resource) => resource.type === type)?.id;
      if (!id) throw new Error(`fixture: no ${type} on order ${orderId}`);
      return id;
    };
    return { authorizations: () => first('authorizations'), captures: () => first('captures'), refunds: () => first('refunds'), voids: () => first('voids') };
  };
  const money = await transactionsOf(orders.guestAPlaced!.orderId);
  const voided = await transactionsOf(orders.guestACancelled!.orderId);

  const guestToken = await context.http.post('/oauth/token').send({ grant_type: 'client_credentials', client_id: salesChannelClientId, scope: `market:code:${marketACode}` });
  tokens.guest = guestToken.body.access_token;
  tokens.customer = (await passwordGrant(`market:code:${marketACode}`)).access_token;
  Object.assign(ids, { marketA, customer1, customer2, guestOrder: orders.guestA!.orderId, customerOrder: orders.customerA!.orderId, marketBOrder: orders.guestB!.orderId });

  // Disabled: it records no events for the writes of the matrix and other tests.
  const webhook = await created('webhooks', { topic: 'customers.create', callback_url: 'https://example.com/hook', _disable: true });
  const eventCallback = newId();
  await context.db.eventCallback.create({ data: { id: eventCallback, webhookId: webhook, eventId: newId(), callbackUrl: 'https://example.com/hook', payload: {}, responseCode: '200', responseMessage: 'OK' } });

  const ofOrders = (pick: (order: FixtureOrder) => string) => Object.fromEntries(Object.entries(orders).map(([key, order]) => [key, pick(order)]));
  const entries: [string, TypeFixtures][] = [
    ['orders', { integration: spareOrder, byKey: ofOrders((order) => order.orderId) }],
    ['line_items', { integration: integrationOrder.lineItemId, byKey: ofOrders((order) => order.lineItemId) }],
    ['stripe_payments', { integration: integrationOrder.paymentId, byKey: ofOrders((order) => order.paymentId) }],
    ['payment_methods', { integration: spareMethod, byKey: { A: methodA, B: methodB, anywhere: methodAnywhere, disabled: methodDisabled } }],
    ['customers', { integration: spareCustomer, byKey: customersByKey }],
    ['stripe_gateways', { integration: spareGateway }],
    ['payment_gateways', { integration: gateway }],
    ['authorizations', { integration: money.authorizations() }],
    ['captures', { integration: money.captures() }],
    ['refunds', { integration: money.refunds() }],
    ['voids', { integration: voided.voids() }],
    ['transactions', { integration: money.captures() }],
    ['versions', { integration: (await context.db.version.findFirstOrThrow({ where: { resourceId: integrationOrder.orderId } })).id }],
    ['markets', { integration: spareMarket }],
    ['applications', { integration: application }],
    ['webhooks', { integration: webhook }],
    ['event_callbacks', { integration: eventCallback }],
  ];
  for (const [type, entry] of entries) fixtures.set(type, entry);

  const ownOrder = (role: Role) => (role === 'customer' ? orders.customerA! : role === 'guest' ? orders.guestA! : integrationOrder).orderId;
  const body = (type: string, attributes: Record<string, unknown>, relationships: Record<string, unknown> = {}, valid = true) => ({
    body: { data: { type, attributes, relationships } },
    valid,
  });
  createBodies.set('orders', (role) =>
    body('orders', { currency_code: 'EUR' }, { payment_method: link('payment_methods', methodA), ...(role === 'integration' ? { market: link('markets', marketA) } : {}) }),
  );
  // A storefront cannot make a valid line item: the price is required, and prohibited for sales
  // channels (Commerce Layer takes it from a price list, which this server does not have).
  createBodies.set('line_items', (role) =>
    role === 'integration'
      ? body('line_items', { quantity: 1, unit_amount_cents: 500 }, { order: link('orders', ownOrder(role)) })
      : body('line_items', { quantity: 1 }, { order: link('orders', ownOrder(role)) }, false),
  );
  createBodies.set('stripe_payments', (role) => body('stripe_payments', {}, { order: link('orders', ownOrder(role)) }));
  createBodies.set('payment_methods', () =>
    body('payment_methods', { payment_source_type: 'stripe_payments', currency_code: 'EUR', price_amount_cents: 0 }, { payment_gateway: link('stripe_gateways', gateway) }),
  );
  createBodies.set('stripe_gateways', () => body('stripe_gateways', { name: 'Another', login: `sk_test_${randomBytes(12).toString('hex')}` }));
  createBodies.set('customers', () => body('customers', { email: `new-${unique()}@example.com`, password: customerCredentials.password }));
  createBodies.set('markets', () => body('markets', { name: 'Another', code: `m-${unique()}` }));
  createBodies.set('applications', () => body('applications', { name: 'Another', kind: 'sales_channel' }));
  createBodies.set('webhooks', () => body('webhooks', { topic: 'orders.place', callback_url: 'https://example.com/another', _disable: true }));
}, 60_000);

afterAll(async () => {
  await context?.close();
});

/** An id shaped like ours that no record has. */
const missingId = () => newId();

/** A PATCH body that changes something harmless, if the type has such an attribute. */
function updateBody(declaration: AnyResource, id: string) {
  const name = ['reference', 'name'].find((candidate) => declaration.attributes[candidate]?.updatable && !declaration.attributes[candidate]?.prohibited);
  return { data: { type: declaration.type, id, attributes: name ? { [name]: 'matrix' } : {} } };
}

function createBody(declaration: AnyResource, role: Role): { body: unknown; valid: boolean } {
  return createBodies.get(declaration.type)?.(role) ?? { body: { data: { type: declaration.type, attributes: {} } }, valid: false };
}

function targetsFor(declaration: AnyResource, role: Role): Target[] {
  const entry = fixtures.get(declaration.type);
  if (!entry) throw new Error(`no fixture records for ${declaration.type}: add them to \`fixtures\` in this file`);
  if (role === 'integration') return [{ label: 'a record', id: entry.integration, reach: 'own' }];
  return (plan[declaration.type]?.[role] ?? []).map(({ key, label, reach }) => {
    const id = entry.byKey?.[key];
    if (!id) throw new Error(`no ${declaration.type} fixture record for ${key}`);
    return { label, id, reach };
  });
}

/** Any id for a case whose answer does not depend on the record (a fixture's, else one that does not exist). */
function anyId(declaration: AnyResource): string {
  return fixtures.get(declaration.type)?.integration ?? missingId();
}

interface Case {
  name: string;
  role: Role;
  declaration: AnyResource;
  route: Route;
  /** Index into targetsFor(declaration, role); resolved when the case runs, once the fixtures exist. */
  target?: number | 'any';
  expected: number;
  order: number;
}

function matrixCases(): Case[] {
  const cases: Case[] = [];
  for (const declaration of declarations) {
    for (const route of routesOf(declaration)) {
      const member = route.pattern.includes(':id');
      for (const role of roles) {
        const promise = promised(declaration, route, role);
        const name = `${role} ${route.method} ${route.pattern}`;
        // Deletes last (they remove fixtures), and the caller's own records after the rest.
        const order = (reach?: Reach) => (route.kind !== 'delete' || promise === 405 ? 0 : reach === 'own' ? 2 : 1);
        const common = { role, declaration, route };
        if (promise !== 'by-reach') {
          // The same answer whatever the record: one case, on the integration's record (it has one of each type).
          const target = !member ? undefined : role === 'integration' ? 0 : 'any';
          cases.push({ ...common, name: `${name} → ${promise}`, expected: promise, order: order(role === 'integration' ? 'own' : undefined), ...(target === undefined ? {} : { target }) });
          continue;
        }
        const planned = plan[declaration.type]?.[role as StorefrontRole] ?? [];
        if (planned.length === 0) {
          // A storefront type nobody planned records for: fails, pointing at the plan.
          cases.push({ ...common, name: `${name} (no planned records: add them to \`plan\`)`, expected: 200, order: 0, target: 0 });
        }
        planned.forEach(({ label, reach }, index) => {
          const expected = byReach(route, reach);
          cases.push({ ...common, name: `${name} (${label}) → ${expected}`, expected, order: order(reach), target: index });
        });
      }
    }
  }
  return cases.sort((a, b) => a.order - b.order);
}

const cases = matrixCases();

function urlOf(route: Route, id?: string): string {
  return id === undefined ? route.pattern : route.pattern.replace(':id', id);
}

function bodyOf(declaration: AnyResource, route: Route, role: Role, id?: string): unknown {
  if (route.kind === 'create') return createBody(declaration, role).body;
  if (route.kind === 'update') return updateBody(declaration, id!);
  return route.method === 'POST' || route.method === 'PUT' || route.method === 'PATCH' ? { data: { type: declaration.type } } : undefined;
}

/** The resource identifiers a document's data names (one, many or none). */
function identifiers(data: unknown): { type: string; id: string }[] {
  if (data === null || data === undefined) return [];
  return (Array.isArray(data) ? data : [data]) as { type: string; id: string }[];
}

/** A sales channel may be shown only what it could fetch by id itself. */
async function expectFetchable(role: Role, resources: { type: string; id: string }[], why: string) {
  if (role === 'integration') return;
  for (const resource of resources) {
    const response = await as(role, 'GET', `/api/${resource.type}/${resource.id}`);
    expect(response.status, `${why}: ${role} was shown ${resource.type} ${resource.id}, which it cannot fetch`).toBe(200);
  }
}

async function runCase(testCase: Case) {
  const { role, declaration, route } = testCase;
  const target =
    testCase.target === undefined ? undefined : testCase.target === 'any' ? { label: '', id: anyId(declaration), reach: 'own' as const } : targetsFor(declaration, role)[testCase.target];
  if (testCase.target !== undefined) expect(target, 'a fixture record').toBeDefined();
  const { expected } = testCase;
  const noValidBody = route.kind === 'create' && expected === 201 && !createBody(declaration, role).valid;

  const response = await as(role, route.method, urlOf(route, target?.id), bodyOf(declaration, route, role, target?.id));
  const shown = `${response.status} ${response.text.slice(0, 500)}`;
  expect(response.status, shown).not.toBe(500);
  if (role === 'integration') expect([401, 403], shown).not.toContain(response.status);

  if (noValidBody) {
    // No valid body exists for this role: the refusal must be about the body, not about access.
    expect(response.status >= 400 && response.status < 500, shown).toBe(true);
    expect([401, 403, 404], shown).not.toContain(response.status);
    return;
  }
  expect(response.status, shown).toBe(expected);

  if (expected === 404 && target) {
    // The same request for an id nobody has: not one byte may tell the two apart.
    const missing = missingId();
    const control = await as(role, route.method, urlOf(route, missing), bodyOf(declaration, route, role, missing));
    expect(control.status).toBe(404);
    expect(response.text).toBe(control.text);
  }
  if (response.status === 200 && (route.kind === 'related' || route.kind === 'linkage')) {
    await expectFetchable(role, identifiers(response.body.data), `${route.method} ${urlOf(route, target?.id)}`);
  }
}

describe('the access matrix: every role against every route', () => {
  it.each(cases.filter((testCase) => testCase.order === 0).map((testCase) => [testCase.name, testCase] as const))('%s', (_name, testCase) => runCase(testCase));
});

/** Includes: a sales channel may include only types it may read, and sees only rows it could fetch itself. */
interface IncludeCase {
  name: string;
  role: Role;
  declaration: AnyResource;
  relationship: string;
  index: number;
  expected: number;
}

function includeCases(): IncludeCase[] {
  const result: IncludeCase[] = [];
  for (const declaration of declarations) {
    if (!declaration.actions.includes('retrieve')) continue;
    for (const [name, relationship] of Object.entries(declaration.relationships)) {
      result.push({ name: `integration GET /api/${declaration.type}/:id?include=${name} → 200`, role: 'integration', declaration, relationship: name, index: 0, expected: 200 });
      if (!declaration.storefront?.actions.includes('retrieve')) continue;
      const expected = relationship.absent || relationship.types.every(storefrontReads) ? 200 : 403;
      for (const role of storefrontRoles) {
        const readable = (plan[declaration.type]?.[role] ?? []).map(({ label, reach }, index) => ({ label, reach, index })).filter((entry) => entry.reach !== 'foreign');
        for (const entry of readable) {
          result.push({ name: `${role} GET /api/${declaration.type}/:id?include=${name} (${entry.label}) → ${expected}`, role, declaration, relationship: name, index: entry.index, expected });
        }
      }
    }
  }
  return result;
}

describe('include: every relationship of every record a role may read', () => {
  it.each(includeCases().map((testCase) => [testCase.name, testCase] as const))('%s', async (_name, { role, declaration, relationship, index, expected }) => {
    const target = targetsFor(declaration, role)[index]!;
    const response = await as(role, 'GET', `/api/${declaration.type}/${target.id}?include=${relationship}`);
    expect(response.status, response.text.slice(0, 500)).toBe(expected);
    if (expected === 200) await expectFetchable(role, identifiers(response.body.included), `include=${relationship} of ${target.label}`);
  });
});

/**
 * A sales channel's GET by id is one prepared statement, its reach compiled into it, as an
 * integration's: the record's row with what it loads, or none when it is beyond reach.
 * Counted on an app of its own (test/support/statements.ts) so that nothing else is counted.
 */
function oneStatementCases() {
  const retrieve: Route = { method: 'GET', pattern: '/api/:type/:id', kind: 'retrieve' };
  return declarations.flatMap((declaration) =>
    storefrontRoles.flatMap((role) =>
      (plan[declaration.type]?.[role] ?? []).map(({ label, reach }, index) => {
        const expected = byReach(retrieve, reach);
        return { name: `${role} GET /api/${declaration.type}/:id (${label}): one statement → ${expected}`, role, declaration, index, expected };
      }),
    ),
  );
}

describe('storefront reads by id: one statement', () => {
  let counting: CountingApp;
  beforeAll(async () => {
    counting = await countingApp(context.config);
  });
  afterAll(async () => {
    await counting?.close();
  });

  it.each(oneStatementCases().map((testCase) => [testCase.name, testCase] as const))('%s', async (_name, { role, declaration, index, expected }) => {
    const target = targetsFor(declaration, role)[index]!;
    const { status, statements } = await counting.get(`/api/${declaration.type}/${target.id}`, tokens[role]);
    expect(status).toBe(expected);
    expect(statements).toHaveLength(1);
    expect(statements[0]).toMatch(/^SELECT json_build_array\(/);
  });
});

/**
 * Linking another market's or customer's record in a body: refused, and answered exactly as
 * for an id that does not exist; linking the caller's own record that can no longer change: 403.
 */
interface LinkCase {
  name: string;
  role: StorefrontRole;
  declaration: AnyResource;
  method: 'POST' | 'PATCH';
  relationship: string;
  targetType: string;
  index: number;
  reach: Reach;
}

function linkCases(): LinkCase[] {
  const result: LinkCase[] = [];
  for (const declaration of declarations) {
    for (const method of ['POST', 'PATCH'] as const) {
      const action = method === 'POST' ? 'create' : 'update';
      if (!declaration.actions.includes(action) || !declaration.storefront?.actions.includes(action)) continue;
      const rows = declaration.storefront.rows;
      for (const [name, relationship] of Object.entries(declaration.relationships)) {
        const flag = method === 'POST' ? relationship.creatable : relationship.updatable;
        if (!flag || relationship.prohibited || relationship.kind !== 'to_one') continue;
        const targetType = relationship.types.find(storefrontReads);
        if (!targetType) continue;
        // Through this relationship the record is the caller's: its owner must still be changeable.
        const owner = 'through' in rows && rows.through === name;
        for (const role of storefrontRoles) {
          (plan[targetType]?.[role] ?? []).forEach(({ label, reach }, index) => {
            if (reach === 'own' || (reach === 'readOnly' && !owner)) return;
            const answer = reach === 'foreign' ? 'as for a missing id' : '403';
            result.push({ name: `${role} ${method} /api/${declaration.type} linking ${name} to ${label}: ${answer}`, role, declaration, method, relationship: name, targetType, index, reach });
          });
        }
      }
    }
  }
  return result;
}

describe('linking records beyond reach', () => {
  it.each(linkCases().map((testCase) => [testCase.name, testCase] as const))('%s', async (_name, testCase) => {
    const { role, declaration, method, relationship, targetType, index, reach } = testCase;
    const own = targetsFor(declaration, role).find((target) => target.reach === 'own');
    const request = (linkedId: string) => {
      const linkage = { [relationship]: link(targetType, linkedId) };
      if (method === 'POST') {
        const { data } = createBody(declaration, role).body as { data: { relationships?: Record<string, unknown> } };
        return as(role, 'POST', `/api/${declaration.type}`, { data: { ...data, relationships: { ...data.relationships, ...linkage } } });
      }
      return as(role, 'PATCH', `/api/${declaration.type}/${own!.id}`, { data: { type: declaration.type, id: own!.id, relationships: linkage } });
    };
    if (method === 'PATCH') expect(own, `an own ${declaration.type} record to change`).toBeDefined();
    const linked = targetsFor(registry.get(targetType)!, role)[index]!;
    const response = await request(linked.id);
    const shown = `${response.status} ${response.text.slice(0, 500)}`;
    expect(response.status >= 400 && response.status < 500, shown).toBe(true);
    if (reach === 'readOnly') {
      // Unless the body cannot be valid anyway (a storefront's line item), then its error comes first.
      if (method === 'PATCH' || createBody(declaration, role).valid) expect(response.status, shown).toBe(403);
      return;
    }
    const missing = missingId();
    const control = await request(missing);
    expect(response.status, shown).toBe(control.status);
    expect(response.text.replaceAll(linked.id, missing)).toBe(control.text);
  });
});

/** What only integrations may write: a sales channel sending it gets 403, on its own record too. */
interface ProhibitedCase {
  name: string;
  role: StorefrontRole;
  declaration: AnyResource;
  method: 'POST' | 'PATCH';
  field: { attribute: string } | { relationship: string; type: string };
}

function prohibitedCases(): ProhibitedCase[] {
  const result: ProhibitedCase[] = [];
  for (const declaration of declarations) {
    for (const method of ['POST', 'PATCH'] as const) {
      const action = method === 'POST' ? 'create' : 'update';
      const flag = method === 'POST' ? 'creatable' : 'updatable';
      if (!declaration.actions.includes(action) || !declaration.storefront?.actions.includes(action)) continue;
      const fields: ProhibitedCase['field'][] = [
        ...Object.entries(declaration.attributes).flatMap(([name, attribute]) => (attribute.prohibited && attribute[flag] ? [{ attribute: name }] : [])),
        ...Object.entries(declaration.relationships).flatMap(([name, relationship]) =>
          relationship.prohibited && relationship[flag] ? [{ relationship: name, type: relationship.types[0]! }] : [],
        ),
      ];
      for (const field of fields) {
        for (const role of storefrontRoles) {
          const name = 'attribute' in field ? field.attribute : field.relationship;
          result.push({ name: `${role} ${method} /api/${declaration.type} with ${name} → 403`, role, declaration, method, field });
        }
      }
    }
  }
  return result;
}

/** A value the attribute's own validation accepts, so that only the prohibition can refuse it. */
function acceptedValue(declaration: AnyResource, name: string): unknown {
  const schema = inputSchemaOf(declaration.attributes[name]!);
  const candidates = [true, 100, 1, 'EUR', 'matrix', { matrix: true }, new Date().toISOString()];
  const value = candidates.find((candidate) => schema.safeParse(candidate).success);
  if (value === undefined) throw new Error(`no accepted sample value for ${declaration.type}.${name}: add one to acceptedValue`);
  return value;
}

describe('fields only integrations may write', () => {
  it.each(prohibitedCases().map((testCase) => [testCase.name, testCase] as const))('%s', async (_name, { role, declaration, method, field }) => {
    const attributes = 'attribute' in field ? { [field.attribute]: acceptedValue(declaration, field.attribute) } : {};
    const relationships = 'relationship' in field ? { [field.relationship]: link(field.type, anyId(registry.get(field.type)!)) } : {};
    let response: supertest.Response;
    if (method === 'POST') {
      const { data } = createBody(declaration, role).body as { data: { attributes?: Record<string, unknown>; relationships?: Record<string, unknown> } };
      response = await as(role, 'POST', `/api/${declaration.type}`, {
        data: { ...data, attributes: { ...data.attributes, ...attributes }, relationships: { ...data.relationships, ...relationships } },
      });
    } else {
      const own = targetsFor(declaration, role).find((target) => target.reach === 'own');
      expect(own, `an own ${declaration.type} record to change`).toBeDefined();
      response = await as(role, 'PATCH', `/api/${declaration.type}/${own!.id}`, { data: { type: declaration.type, id: own!.id, attributes, relationships } });
    }
    expect(response.status, response.text.slice(0, 500)).toBe(403);
    expect(response.body.errors[0].code).toBe('FORBIDDEN');
  });
});

describe('the matrix itself', () => {
  it('covers every /api route the app registered', () => {
    const matrix = new Set(declarations.flatMap((declaration) => routesOf(declaration).map((route) => `${route.method} ${route.pattern}`)));
    const registered = new Set(
      registeredRoutes(context.app)
        .filter((route) => route.url.startsWith('/api') && route.method !== 'HEAD')
        .map((route) => `${route.method} ${route.url}`),
    );
    expect([...registered].sort()).toEqual([...matrix].sort());
  });

  it('has fixture records for every declared type, and planned storefront records for every storefront type', () => {
    for (const declaration of declarations) {
      expect(fixtures.get(declaration.type), `fixtures for ${declaration.type}`).toBeDefined();
      if (!declaration.storefront) continue;
      for (const role of storefrontRoles) {
        const targets = targetsFor(declaration, role);
        expect(targets.length, `planned ${declaration.type} records for ${role}`).toBeGreaterThan(0);
        // Without a record of each kind a rule would go untested.
        if (declaration.storefront.actions.some((action) => action !== 'create')) {
          expect(targets.map((target) => target.reach), `${declaration.type} for ${role}`).toContain('foreign');
        }
      }
    }
  });
});

const claimsOf = (jwt: string) => JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
const headerOf = (jwt: string) => JSON.parse(Buffer.from(jwt.split('.')[0]!, 'base64url').toString()) as Record<string, unknown>;
const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** GET the guest's own order with this token: what each forged token below tries to open. */
const useToken = (token: string) => send(token, 'GET', `/api/orders/${ids.guestOrder}`);

async function expectInvalidToken(token: string) {
  const response = await useToken(token);
  expect(response.status, response.text).toBe(401);
  expect(response.body.errors[0].code).toBe('INVALID_TOKEN');
}

describe('tokens that must not open /api', () => {
  it('an expired token, though signed with the server key; the same claims freshly signed work', async () => {
    const { exp: _exp, iat: _iat, ...claims } = claimsOf(tokens.guest);
    const now = Math.floor(Date.now() / 1000);
    expect((await useToken(await context.app.signingKeys.sign({ ...claims, iat: now }))).status).toBe(200);
    await expectInvalidToken(await context.app.signingKeys.sign({ ...claims, iat: now - context.config.tokenTtlSeconds - 10 }));
  });

  it('a tampered token: another customer put in the payload, the signature kept', async () => {
    const [header, , signature] = tokens.customer.split('.');
    const claims = claimsOf(tokens.customer) as { owner: { id: string } };
    expect(claims.owner.id).toBe(ids.customer1);
    const tampered = `${header}.${encode({ ...claims, owner: { ...claims.owner, id: ids.customer2 } })}.${signature}`;
    await expectInvalidToken(tampered);
  });

  it('a token signed with a foreign RSA key under the server key id', async () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const input = `${encode(headerOf(tokens.guest))}.${encode(claimsOf(tokens.guest))}`;
    const signature = createSign('RSA-SHA512').update(input).sign(privateKey).toString('base64url');
    await expectInvalidToken(`${input}.${signature}`);
  });

  it('alg none, and HS512 keyed with the server public key', async () => {
    const header = headerOf(tokens.guest);
    const payload = encode(claimsOf(tokens.guest));
    await expectInvalidToken(`${encode({ ...header, alg: 'none' })}.${payload}.`);

    const jwks = await context.http.get('/.well-known/jwks.json');
    const jwk = (jwks.body.keys as (JsonWebKey & { kid: string })[]).find((key) => key.kid === header.kid)!;
    // Both forms a confused verifier could take as an HMAC secret: the PEM and the JWK's JSON.
    const secrets = [createPublicKey({ key: jwk, format: 'jwk' }).export({ format: 'pem', type: 'spki' }).toString(), JSON.stringify(jwk)];
    for (const secret of secrets) {
      const input = `${encode({ ...header, alg: 'HS512' })}.${payload}`;
      await expectInvalidToken(`${input}.${createHmac('sha512', secret).update(input).digest('base64url')}`);
    }
  });

  it('a revoked access token', async () => {
    const issued = await context.http.post('/oauth/token').send({ grant_type: 'client_credentials', client_id: salesChannelClientId, scope: `market:code:${marketACode}` });
    const token = issued.body.access_token as string;
    expect((await useToken(token)).status).toBe(200);
    const revoked = await context.http.post('/oauth/revoke').send({ client_id: salesChannelClientId, token });
    expect(revoked.status).toBe(200);
    await expectInvalidToken(token);
    // The other tokens of the same application are untouched.
    expect((await useToken(tokens.guest)).status).toBe(200);
  });

  it("a revoked refresh token cannot be exchanged, and ends its session's access tokens", async () => {
    const signedIn = await passwordGrant(`market:code:${marketACode}`);
    const refreshed = await context.http.post('/oauth/token').send({ grant_type: 'refresh_token', client_id: salesChannelClientId, refresh_token: signedIn.refresh_token });
    expect(refreshed.status, refreshed.text).toBe(200);
    const own = (token: string) => send(token, 'GET', `/api/orders/${ids.customerOrder}`);
    expect((await own(refreshed.body.access_token)).status).toBe(200);

    const revoked = await context.http.post('/oauth/revoke').send({ client_id: salesChannelClientId, token: refreshed.body.refresh_token });
    expect(revoked.status).toBe(200);
    const exchange = await context.http.post('/oauth/token').send({ grant_type: 'refresh_token', client_id: salesChannelClientId, refresh_token: refreshed.body.refresh_token });
    expect(exchange.status).toBe(400);
    expect(exchange.body.errors[0].code).toBe('INVALID_GRANT');
    for (const token of [signedIn.access_token, refreshed.body.access_token as string]) {
      const response = await own(token);
      expect(response.status).toBe(401);
      expect(response.body.errors[0].code).toBe('INVALID_TOKEN');
    }
    // Another session of the same customer goes on.
    expect((await own(tokens.customer)).status).toBe(200);
  });
});

describe('no leak', () => {
  it("answers for another market's order byte for byte as for an id that does not exist", async () => {
    for (const role of storefrontRoles) {
      const foreign = await as(role, 'GET', `/api/orders/${ids.marketBOrder}`);
      const missing = await as(role, 'GET', `/api/orders/${missingId()}`);
      expect(foreign.status).toBe(404);
      expect(foreign.body.errors[0].code).toBe('RECORD_NOT_FOUND');
      expect(foreign.text).toBe(missing.text);
      expect(foreign.headers['content-type']).toBe(missing.headers['content-type']);
      // The integration sees the order: it exists.
      expect((await as('integration', 'GET', `/api/orders/${ids.marketBOrder}`)).status).toBe(200);
    }
  });
});

// Last in the file: these remove fixture records (records beyond reach first, so that a
// wrongly allowed delete cannot hide behind an earlier one).
describe('the access matrix: deletes', () => {
  it.each(cases.filter((testCase) => testCase.order > 0).map((testCase) => [testCase.name, testCase] as const))('%s', (_name, testCase) => runCase(testCase));
});
