import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resources } from '../../src/resources/index.ts';
import { api, startTestContext, type TestContext } from '../support/context.ts';

/**
 * Commerce Layer's official field flags (resources.current.json: creatable, updatable,
 * filterable, sortable; creatable and updatable of relationships) against what the server
 * accepts, asked by requests for every field and relationship of every served resource
 * that the schema also has. A difference is either in
 * `exceptions` below, each listed in the README's compatibility table, or a failure.
 *
 * How a request tells: a create or update naming a field the server does not take is a
 * 400 PARAM_NOT_ALLOWED pointing at it (the value sent is of the wrong type, so a field it
 * takes is a 422 and nothing is written or triggered); a filter or sort on a field it does
 * not take is a 400; anything else is accepted.
 */

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
// Commerce Layer's resources schema 7.9.16, as its SDK's generator reads it: see test/fixtures/commercelayer/README.md.
const schemaPath = path.resolve(root, 'test/fixtures/commercelayer/resources.json');

type Flag = 'creatable' | 'updatable' | 'filterable' | 'sortable';
const flags: readonly Flag[] = ['creatable', 'updatable', 'filterable', 'sortable'];

interface SchemaField {
  type: string;
  creatable?: boolean;
  updatable?: boolean;
  filterable?: boolean;
  sortable?: boolean;
}

interface SchemaResource {
  id: string;
  attributes: { actions: string[]; fields: Record<string, SchemaField>; relationships: Record<string, { creatable?: boolean; updatable?: boolean }> };
}

/**
 * Where the server differs from the schema on purpose, and why; `field: '*'` is the whole
 * resource. Each `type.field` is named in the README's "field flags" row.
 */
const exceptions: readonly { type: string; field: string; flags: readonly Flag[]; why: string }[] = [
  { type: 'orders', field: 'number', flags: ['creatable', 'updatable'], why: 'generated; custom numbers are an enterprise feature' },
  { type: 'orders', field: 'currency_code', flags: ['creatable', 'updatable'], why: 'no price lists: the order, not its market, has the currency' },
  { type: 'line_items', field: 'currency_code', flags: ['filterable', 'sortable'], why: "the order's, not stored on the line item" },
  { type: 'stripe_gateways', field: 'webhook_endpoint_secret', flags: ['creatable', 'updatable'], why: "write-only here; this server registers the gateway's endpoint itself" },
  ...['authorizations', 'captures', 'refunds', 'voids'].map((type) => ({
    type,
    field: 'succeeded',
    flags: ['updatable'] as Flag[],
    why: "set from Stripe's answer, not by a client",
  })),
  { type: 'applications', field: '*', flags, why: "API clients are managed through the API here, Commerce Layer's through its dashboard" },
  // Relationships.
  { type: 'orders', field: 'market', flags: ['updatable'], why: "set on create: an order's payment method and a sales channel's reach follow it" },
  { type: 'orders', field: 'customer', flags: ['updatable'], why: "set on create: a sales channel's reach follows it" },
  { type: 'orders', field: 'payment_source', flags: ['creatable', 'updatable'], why: 'a stripe payment links itself to its order when created' },
  { type: 'line_items', field: 'item', flags: ['creatable'], why: 'no SKUs, bundles or gift cards here' },
];

const schema = JSON.parse(readFileSync(schemaPath, 'utf8')) as SchemaResource[];
const schemaOf = new Map(schema.map((resource) => [`${resource.id}s`, resource.attributes]));
const served = resources.filter((declaration) => schemaOf.has(declaration.type));

let context: TestContext;

beforeAll(async () => {
  context = await startTestContext();
});
afterAll(async () => {
  await context?.close();
});

/** A value of the wrong type for the field: a field the server takes answers 422, and nothing is written. */
const wrongValue = (type: string) => (type === 'object' ? 'not an object' : { not: 'a value' });

/** A filter on the field that is valid for its type. */
function filterOf(field: string, type: string): string {
  const predicate: Record<string, string> = {
    string: 'eq]=x',
    integer: 'eq]=1',
    float: 'eq]=1.5',
    boolean: 'true]=true',
    datetime: 'gteq]=2024-01-01T00:00:00Z',
    object: 'jcont]={"a":1}',
  };
  return `filter[q][${field}_${predicate[type] ?? 'eq]=x'}`;
}

async function accepts(type: string, field: string, fieldType: string, flag: Flag): Promise<boolean> {
  const refusedParam = (response: { status: number; body: { errors?: { code: string; source?: { pointer?: string } }[] } }) =>
    response.status === 405 ||
    (response.status === 400 && response.body.errors?.some((error) => error.code === 'PARAM_NOT_ALLOWED' && error.source?.pointer === `/data/attributes/${field}`) === true);
  switch (flag) {
    case 'creatable': {
      const response = await api(context).post(`/api/${type}`, { data: { type, attributes: { [field]: wrongValue(fieldType) } } });
      if (response.status >= 500 || response.status === 201) throw new Error(`${type}.${field} create: ${response.status} ${response.text}`);
      return !refusedParam(response);
    }
    case 'updatable': {
      // Documents are checked before the record is looked for: an id that does not exist is enough.
      const response = await api(context).patch(`/api/${type}/flagcheck`, { data: { type, id: 'flagcheck', attributes: { [field]: wrongValue(fieldType) } } });
      if (response.status >= 500 || response.status === 200) throw new Error(`${type}.${field} update: ${response.status} ${response.text}`);
      return !refusedParam(response);
    }
    case 'filterable': {
      const response = await api(context).get(`/api/${type}?${filterOf(field, fieldType)}`);
      if (response.status !== 200 && response.status !== 400) throw new Error(`${type}.${field} filter: ${response.status} ${response.text}`);
      return response.status === 200;
    }
    case 'sortable': {
      const response = await api(context).get(`/api/${type}?sort=${field}`);
      if (response.status !== 200 && response.status !== 400) throw new Error(`${type}.${field} sort: ${response.status} ${response.text}`);
      return response.status === 200;
    }
  }
}

/** Whether a create or update takes the relationship: linked to a record that does not exist, so nothing is written. */
async function takesRelationship(type: string, name: string, linkedType: string, flag: 'creatable' | 'updatable'): Promise<boolean> {
  const relationships = { [name]: { data: { type: linkedType, id: 'flagcheck' } } };
  const response =
    flag === 'creatable'
      ? await api(context).post(`/api/${type}`, { data: { type, relationships } })
      : await api(context).patch(`/api/${type}/flagcheck`, { data: { type, id: 'flagcheck', relationships } });
  if (response.status >= 500 || response.status === 201 || response.status === 200) throw new Error(`${type}.${name} ${flag}: ${response.status} ${response.text}`);
  const refused = response.status === 405 || (response.status === 400 && response.body.errors?.some((error: { code: string; source?: { pointer?: string } }) => error.code === 'PARAM_NOT_ALLOWED' && error.source?.pointer === `/data/relationships/${name}`));
  return !refused;
}

function excepted(type: string, field: string, flag: Flag): boolean {
  return exceptions.some((exception) => exception.type === type && (exception.field === field || exception.field === '*') && exception.flags.includes(flag));
}

describe("Commerce Layer's field flags", () => {
  it('covers every served resource the schema has', () => {
    expect(served.map((declaration) => declaration.type)).toEqual(expect.arrayContaining(['orders', 'line_items', 'stripe_payments', 'payment_methods', 'stripe_gateways', 'payment_gateways', 'markets', 'customers']));
  });

  it.each(served.map((declaration) => [declaration.type, declaration] as const))('%s: the server takes what the schema says', async (type, declaration) => {
    const resource = schemaOf.get(type)!;
    const differences: string[] = [];
    const stale: string[] = [];
    for (const [field, schemaField] of Object.entries(resource.fields)) {
      if (!Object.hasOwn(declaration.attributes, field)) continue;
      for (const flag of flags) {
        const offered = flag === 'creatable' ? resource.actions.includes('create') : flag === 'updatable' ? resource.actions.includes('update') : true;
        const expected = offered && schemaField[flag] === true;
        const actual = await accepts(type, field, schemaField.type, flag);
        const documented = excepted(type, field, flag);
        if (actual !== expected && !documented) differences.push(`${field} ${flag}: schema ${expected}, server ${actual}`);
        if (actual === expected && documented && declaration.type !== 'applications') stale.push(`${field} ${flag}`);
      }
    }
    for (const [name, schemaRelationship] of Object.entries(resource.relationships)) {
      if (!Object.hasOwn(declaration.relationships, name)) continue;
      for (const flag of ['creatable', 'updatable'] as const) {
        const expected = resource.actions.includes(flag === 'creatable' ? 'create' : 'update') && schemaRelationship[flag] === true;
        const actual = await takesRelationship(type, name, declaration.relationships[name]!.types[0]!, flag);
        const documented = excepted(type, name, flag);
        if (actual !== expected && !documented) differences.push(`relationship ${name} ${flag}: schema ${expected}, server ${actual}`);
        if (actual === expected && documented && declaration.type !== 'applications') stale.push(`relationship ${name} ${flag}`);
      }
    }
    expect(differences, 'differences from the schema that are not documented').toEqual([]);
    expect(stale, 'documented exceptions the server no longer has: take them out, here and in the README').toEqual([]);
  });

  it('offers no shipping, taxes, promotions or gift cards: their order fields are refused on write and absent from responses', async () => {
    const outOfScope = ['shipping_amount_cents', 'total_tax_amount_cents', 'discount_amount_cents', 'coupon_code', 'gift_card_code', 'tax_included', 'shipping_country_code_lock'];
    const order = await api(context).post('/api/orders', { data: { type: 'orders', attributes: { currency_code: 'EUR' } } });
    expect(order.status).toBe(201);
    for (const field of outOfScope) {
      expect(order.body.data.attributes).not.toHaveProperty(field);
      const write = await api(context).patch(`/api/orders/${order.body.data.id}`, { data: { type: 'orders', id: order.body.data.id, attributes: { [field]: 'x' } } });
      expect(write.status, field).toBe(400);
      expect(write.body.errors[0]).toMatchObject({ code: 'PARAM_NOT_ALLOWED', source: { pointer: `/data/attributes/${field}` } });
    }
    for (const type of ['shipments', 'taxes', 'promotions', 'gift_cards', 'addresses', 'skus']) {
      expect((await api(context).get(`/api/${type}`)).status, type).toBe(404);
    }
  });

  it("lists exactly its exceptions in the README's compatibility table", () => {
    const readme = readFileSync(path.join(root, 'README.md'), 'utf8');
    const table = readme.slice(readme.indexOf('### Commerce Layer compatibility'), readme.indexOf('\n## ', readme.indexOf('### Commerce Layer compatibility')));
    const row = table.split('\n').find((line) => line.startsWith('| field flags'));
    expect(row, 'a "field flags" row in the compatibility table').toBeDefined();
    const named = new Set([...row!.matchAll(/`([a-z_]+(?:\.[a-z_]+)?)`/g)].map((match) => match[1]!).filter((name) => name.includes('.') || name === 'applications'));
    const documented = new Set(exceptions.map((exception) => (exception.field === '*' ? exception.type : `${exception.type}.${exception.field}`)));
    expect([...named].sort()).toEqual([...documented].sort());
  });
});
