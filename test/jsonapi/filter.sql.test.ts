// filter[q] fragments run on the migrated database: the right rows, and no SQL error for any value.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JsonApiError } from '../../src/jsonapi/errors.ts';
import { compileFilter, filterPredicates, type FilterableField, type FilterTarget } from '../../src/jsonapi/filter.ts';
import { testDatabaseUrl } from '../support/test-database-url.ts';

const fields = (declared: Record<string, FilterableField['type']>): FilterableField[] =>
  Object.entries(declared).map(([name, type]) => ({ name, column: name, type }));

const lineItems = fields({ id: 'string', sku_code: 'string', quantity: 'integer' });
const paymentMethods = fields({ id: 'string', name: 'string', moto: 'boolean' });
const orderFields = fields({
  id: 'string',
  number: 'integer',
  status: 'string',
  customer_email: 'string',
  total_amount_cents: 'integer',
  reference: 'string',
  reference_origin: 'string',
  created_at: 'datetime',
  metadata: 'object',
});

const orders: FilterTarget = {
  table: 'orders',
  fields: orderFields,
  relationships: {
    line_items: { table: 'line_items', kind: 'to_many', localColumn: 'id', remoteColumn: 'order_id', fields: lineItems },
    payment_method: { table: 'payment_methods', kind: 'to_one', localColumn: 'payment_method_id', remoteColumn: 'id', fields: paymentMethods },
  },
};

const stripePayments: FilterTarget = {
  table: 'stripe_payments',
  fields: fields({ id: 'string', amount_cents: 'integer', payment_method: 'object' }),
  relationships: {
    order: { table: 'orders', kind: 'to_one', localColumn: 'order_id', remoteColumn: 'id', fields: orderFields },
  },
};

const hostile = `'; DROP TABLE orders; --`;

describe('compileFilter on PostgreSQL', () => {
  const client = new pg.Client({ connectionString: testDatabaseUrl() });
  // Unique ids keep this file's rows apart from other test files sharing the database.
  const prefix = `flt_${randomBytes(4).toString('hex')}_`;
  const id = (name: string) => `${prefix}${name}`;
  const numbers = new Map<string, number>();

  beforeAll(async () => {
    await client.connect();
    await client.query(
      `INSERT INTO stripe_gateways (id, name, login_encrypted, updated_at) VALUES ($1, 'Stripe', 'x', now())`,
      [id('gw')],
    );
    await client.query(
      `INSERT INTO payment_methods (id, name, payment_source_type, currency_code, payment_gateway_id, moto, updated_at)
       VALUES ($1, 'Stripe card', 'stripe_payments', 'EUR', $3, true, now()), ($2, NULL, 'stripe_payments', 'EUR', $3, false, now())`,
      [id('pm1'), id('pm2'), id('gw')],
    );
    const rows: [string, Record<string, unknown>][] = [
      ['o1', { status: 'placed', reference: 'ref-1', reference_origin: null, customer_email: 'a@gmail.com', total_amount_cents: 1000, created_at: '2024-01-10T00:00:00Z', metadata: { channel: 'web', tags: ['a'] }, payment_method_id: id('pm1') }],
      ['o2', { status: 'draft', reference: '', reference_origin: 'ref-1', customer_email: 'b@hotmail.com', total_amount_cents: 2500, created_at: '2024-02-10T00:00:00Z', metadata: { channel: 'pos' }, payment_method_id: id('pm2') }],
      ['o3', { status: 'approved', reference: '50%_off', reference_origin: null, customer_email: null, total_amount_cents: 0, created_at: '2024-03-10T00:00:00Z', metadata: {}, payment_method_id: null }],
      ['o4', { status: 'placed', reference: '500 off', reference_origin: hostile, customer_email: null, total_amount_cents: 0, created_at: '2024-04-10T00:00:00Z', metadata: {}, payment_method_id: null }],
    ];
    for (const [name, row] of rows) {
      const result = await client.query<{ number: number }>(
        `INSERT INTO orders (id, status, reference, reference_origin, customer_email, total_amount_cents, created_at, metadata, payment_method_id, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, now()) RETURNING number`,
        [id(name), row.status, row.reference, row.reference_origin, row.customer_email, row.total_amount_cents, row.created_at, JSON.stringify(row.metadata), row.payment_method_id],
      );
      numbers.set(name, result.rows[0]!.number);
    }
    const items: [string, string, string | null, number][] = [
      ['li1', 'o1', 'TSHIRT-M', 2],
      ['li2', 'o1', 'MUG', 1],
      ['li3', 'o2', 'MUG', 3],
      ['li4', 'o4', null, 1],
    ];
    for (const [name, order, sku, quantity] of items) {
      await client.query(
        `INSERT INTO line_items (id, order_id, sku_code, quantity, unit_amount_cents, total_amount_cents, updated_at) VALUES ($1, $2, $3, $4, 100, $4 * 100, now())`,
        [id(name), id(order), sku, quantity],
      );
    }
    for (const [name, order] of [['sp1', 'o1'], ['sp2', 'o3']] as const) {
      await client.query(
        `INSERT INTO stripe_payments (id, order_id, payment_gateway_id, amount_cents, currency_code, updated_at) VALUES ($1, $2, $3, 1000, 'EUR', now())`,
        [id(name), id(order), id('gw')],
      );
    }
  });

  afterAll(async () => {
    // Children first; line items and payments would also go with their orders' cascade.
    await client.query('DELETE FROM stripe_payments WHERE id LIKE $1', [`${prefix}%`]);
    await client.query('DELETE FROM line_items WHERE id LIKE $1', [`${prefix}%`]);
    await client.query('DELETE FROM orders WHERE id LIKE $1', [`${prefix}%`]);
    await client.query('DELETE FROM payment_methods WHERE id LIKE $1', [`${prefix}%`]);
    await client.query('DELETE FROM stripe_gateways WHERE id LIKE $1', [`${prefix}%`]);
    await client.end();
  });

  /** The names of this file's rows the filter selects; $1 is the id prefix, so the filter starts at $2. */
  async function select(params: Record<string, string | string[]>, target: FilterTarget = orders): Promise<string[]> {
    const fragment = compileFilter(target, params, { alias: 't', firstParameter: 2 });
    const where = fragment.text ? ` AND (${fragment.text})` : '';
    const result = await client.query<{ id: string }>(
      `SELECT "t"."id" FROM ${target.table} "t" WHERE "t"."id" LIKE $1${where} ORDER BY "t"."id"`,
      [`${prefix}%`, ...fragment.values],
    );
    return result.rows.map((row) => row.id.slice(prefix.length));
  }

  it.each<[Record<string, string | string[]>, string[]]>([
    [{}, ['o1', 'o2', 'o3', 'o4']],
    [{ reference_or_reference_origin_eq: 'ref-1' }, ['o1', 'o2']],
    [{ status_in: 'placed,approved' }, ['o1', 'o3', 'o4']],
    [{ status_not_in: ['placed', 'approved'] }, ['o2']],
    [{ status_eq: 'placed', total_amount_cents_gt: '0' }, ['o1']],
    // Escaped: only the literal "50%" and "%_", not any "50" followed by something.
    [{ reference_cont: '50%' }, ['o3']],
    [{ reference_cont: '%_' }, ['o3']],
    // A matches value is the pattern itself.
    [{ reference_matches: '50%' }, ['o3', 'o4']],
    [{ reference_start_any: 'REF,500' }, ['o1', 'o4']],
    [{ customer_email_end: 'GMAIL.COM' }, ['o1']],
    // NULL emails match neither side, as in SQL (and Ransack).
    [{ customer_email_not_end: 'gmail.com' }, ['o2']],
    [{ total_amount_cents_gteq: '1000' }, ['o1', 'o2']],
    // Beyond the int4 column's range, still a comparison rather than an error.
    [{ total_amount_cents_lt: '9007199254740991' }, ['o1', 'o2', 'o3', 'o4']],
    [{ created_at_gt: '2024-02-10' }, ['o3', 'o4']],
    [{ created_at_lt: '2024-02-10T01:00:00+02:00' }, ['o1']],
    [{ created_at_gteq_all: '2024-01-01,2024-03-01' }, ['o3', 'o4']],
    [{ metadata_jcont: '{"channel":"web"}' }, ['o1']],
    [{ metadata_jcont: '{"tags":["a"]}' }, ['o1']],
    [{ reference_null: 'false' }, ['o1', 'o2', 'o3', 'o4']],
    [{ reference_blank: 'true' }, ['o2']],
    [{ reference_origin_present: 'false' }, ['o1', 'o3']],
    [{ line_items_sku_code_eq: 'MUG' }, ['o1', 'o2']],
    [{ line_items_sku_code_not_eq: 'MUG' }, ['o3', 'o4']],
    [{ line_items_sku_code_not_in: 'MUG,TSHIRT-M' }, ['o3', 'o4']],
    [{ line_items_sku_code_not_cont: 'shirt' }, ['o2', 'o3', 'o4']],
    [{ line_items_quantity_gt: '2' }, ['o2']],
    [{ line_items_id_null: 'true' }, ['o3']],
    [{ line_items_id_not_null: 'true' }, ['o1', 'o2', 'o4']],
    [{ payment_method_name_cont: 'stripe' }, ['o1']],
    [{ payment_method_name_null: 'true' }, ['o2', 'o3', 'o4']],
    [{ payment_method_moto_false: 'true' }, ['o2']],
    [{ payment_method_id_null: 'false' }, ['o1', 'o2']],
    [{ status_or_line_items_sku_code_start: 'dra' }, ['o2']],
    [{ reference_origin_eq: hostile }, ['o4']],
    [{ reference_cont: hostile, status_eq: hostile }, []],
  ])('orders %j', async (params, expected) => {
    expect(await select(params)).toEqual(expected);
  });

  it('filters stripe payments through their order', async () => {
    expect(await select({ order_reference_eq: 'ref-1' }, stripePayments)).toEqual(['sp1']);
    expect(await select({ order_number_eq: String(numbers.get('o3')) }, stripePayments)).toEqual(['sp2']);
    expect(await select({ order_id_eq: id('o1') }, stripePayments)).toEqual(['sp1']);
    expect(await select({ order_status_not_eq: 'placed' }, stripePayments)).toEqual(['sp2']);
  });

  it('left the tables alone after the hostile values', async () => {
    const result = await client.query<{ count: number }>('SELECT count(*)::int AS count FROM orders WHERE id LIKE $1', [`${prefix}%`]);
    expect(result.rows[0]!.count).toBe(4);
  });

  it('runs every predicate it compiles without a database error', async () => {
    const names = ['status', 'number', 'created_at', 'metadata', 'line_items_quantity', 'payment_method_moto', 'reference_or_line_items_sku_code'];
    const samples = ['x', '1', 'false', '2024-01-01T00:00:00.123456+05:30', '{"a":[1,{"b":null}]}', '9007199254740991,-1', '%_\\\\', hostile];
    let compiled = 0;
    for (const predicate of filterPredicates) {
      for (const name of names) {
        for (const value of samples) {
          let params: Record<string, string>;
          try {
            params = { [`${name}_${predicate}`]: value };
            compileFilter(orders, params, { alias: 't', firstParameter: 2 });
          } catch (error) {
            expect(error).toBeInstanceOf(JsonApiError);
            continue;
          }
          await select(params);
          compiled += 1;
        }
      }
    }
    // Most combinations are type errors; enough must have compiled for this to mean something.
    expect(compiled).toBeGreaterThan(300);
  });
});
