// filter[q] compilation: the SQL text and values each Ransack predicate family produces.
import { describe, expect, it } from 'vitest';
import { JsonApiError } from '../../src/jsonapi/errors.ts';
import { compileFilter, filterPredicates, maxFilterValues, type FilterTarget } from '../../src/jsonapi/filter.ts';

const orders: FilterTarget = {
  table: 'orders',
  fields: [
    { name: 'id', column: 'id', type: 'string' },
    { name: 'number', column: 'number', type: 'integer' },
    { name: 'status', column: 'status', type: 'string' },
    { name: 'customer_email', column: 'customer_email', type: 'string' },
    { name: 'total_amount_cents', column: 'total_amount_cents', type: 'integer' },
    { name: 'reference', column: 'reference', type: 'string' },
    { name: 'reference_origin', column: 'reference_origin', type: 'string' },
    { name: 'created_at', column: 'created_at', type: 'datetime' },
    { name: 'updated_at', column: 'updated_at', type: 'datetime' },
    { name: 'metadata', column: 'metadata', type: 'object' },
  ],
  relationships: {
    line_items: {
      table: 'line_items',
      kind: 'to_many',
      localColumn: 'id',
      remoteColumn: 'order_id',
      fields: [
        { name: 'id', column: 'id', type: 'string' },
        { name: 'sku_code', column: 'sku_code', type: 'string' },
        { name: 'quantity', column: 'quantity', type: 'integer' },
      ],
    },
    payment_method: {
      table: 'payment_methods',
      kind: 'to_one',
      localColumn: 'payment_method_id',
      remoteColumn: 'id',
      fields: [
        { name: 'name', column: 'name', type: 'string' },
        { name: 'moto', column: 'moto', type: 'boolean' },
        { name: 'price_amount_cents', column: 'price_amount_cents', type: 'integer' },
      ],
    },
  },
};

const stripePayments: FilterTarget = {
  table: 'stripe_payments',
  fields: [
    { name: 'amount_cents', column: 'amount_cents', type: 'integer' },
    { name: 'amount_float', column: 'amount_float', type: 'float' },
    { name: 'payment_method', column: 'payment_method', type: 'object' },
  ],
  relationships: {
    order: {
      table: 'orders',
      kind: 'to_one',
      localColumn: 'order_id',
      remoteColumn: 'id',
      fields: [
        { name: 'number', column: 'number', type: 'integer' },
        { name: 'reference', column: 'reference', type: 'string' },
      ],
    },
  },
};

const gateways: FilterTarget = {
  table: 'stripe_gateways',
  fields: [
    { name: 'name', column: 'name', type: 'string' },
    { name: 'force_payments', column: 'force_payments', type: 'boolean' },
    { name: 'disabled_at', column: 'disabled_at', type: 'datetime' },
  ],
  relationships: {},
};

function compile(params: Record<string, string | string[]>, target: FilterTarget = orders, firstParameter = 1) {
  return compileFilter(target, params, { alias: 't', firstParameter });
}

/** The JSON:API error a compile throws, for asserting code, detail and source. */
function failure(params: Record<string, string | string[]>, target: FilterTarget = orders) {
  try {
    compile(params, target);
  } catch (error) {
    expect(error).toBeInstanceOf(JsonApiError);
    const { status, errors } = error as JsonApiError;
    expect(status).toBe(400);
    expect(errors).toHaveLength(1);
    return errors[0]!;
  }
  throw new Error(`expected ${JSON.stringify(params)} to be refused`);
}

describe('compileFilter', () => {
  it('is empty without filters', () => {
    expect(compile({})).toEqual({ text: '', values: [] });
  });

  describe('equality and order', () => {
    it.each([
      ['status_eq', 'placed', '"t"."status" = $1', ['placed']],
      ['status_not_eq', 'draft', '"t"."status" <> $1', ['draft']],
      ['total_amount_cents_lt', '2000', '"t"."total_amount_cents" < $1::bigint', [2000]],
      ['total_amount_cents_lteq', '2000', '"t"."total_amount_cents" <= $1::bigint', [2000]],
      ['total_amount_cents_gt', '-5', '"t"."total_amount_cents" > $1::bigint', [-5]],
      ['total_amount_cents_gteq', '0', '"t"."total_amount_cents" >= $1::bigint', [0]],
    ])('%s', (key, value, text, values) => {
      expect(compile({ [key]: value })).toEqual({ text, values });
    });

    it('takes lists for in, not_in, eq_any and not_eq_all', () => {
      expect(compile({ status_in: 'placed,approved' })).toEqual({ text: '"t"."status" IN ($1, $2)', values: ['placed', 'approved'] });
      expect(compile({ status_eq_any: 'placed' })).toEqual({ text: '"t"."status" IN ($1)', values: ['placed'] });
      expect(compile({ status_not_in: 'draft,cancelled' })).toEqual({ text: '"t"."status" NOT IN ($1, $2)', values: ['draft', 'cancelled'] });
      expect(compile({ number_not_eq_all: '1,2' })).toEqual({ text: '"t"."number" NOT IN ($1::bigint, $2::bigint)', values: [1, 2] });
    });

    it('ORs the _any forms and ANDs the _all forms', () => {
      expect(compile({ total_amount_cents_lt_any: '1500,700' })).toEqual({
        text: '("t"."total_amount_cents" < $1::bigint OR "t"."total_amount_cents" < $2::bigint)',
        values: [1500, 700],
      });
      expect(compile({ total_amount_cents_gteq_all: '1500,700' }).text).toBe(
        '("t"."total_amount_cents" >= $1::bigint AND "t"."total_amount_cents" >= $2::bigint)',
      );
      expect(compile({ status_eq_all: 'a,b' }).text).toBe('("t"."status" = $1 AND "t"."status" = $2)');
      expect(compile({ status_not_eq_any: 'a,b' }).text).toBe('("t"."status" <> $1 OR "t"."status" <> $2)');
    });

    it('accepts a repeated key as a list, and splits each of its values on commas', () => {
      expect(compile({ status_in: ['placed,approved', 'draft'] }).values).toEqual(['placed', 'approved', 'draft']);
    });

    it('passes datetimes as UTC strings cast to timestamptz', () => {
      expect(compile({ created_at_gt: '2019-01-01T01:00:00.000Z', updated_at_lteq: '2024-03-01T10:30:00+02:00' })).toEqual({
        text: '"t"."created_at" > $1::timestamp AND "t"."updated_at" <= $2::timestamp',
        values: ['2019-01-01T01:00:00.000Z', '2024-03-01T08:30:00Z'],
      });
      // Commerce Layer's own example filters by a bare date.
      expect(compile({ created_at_gt: '2018-01-01' }).values).toEqual(['2018-01-01T00:00:00Z']);
      expect(compile({ created_at_gt: '2024-02-29T23:59:59.123456-01:30' }).values).toEqual(['2024-03-01T01:29:59.123456Z']);
    });

    it('parses booleans and floats', () => {
      expect(compile({ force_payments_eq: 'f' }, gateways)).toEqual({ text: '"t"."force_payments" = $1::boolean', values: [false] });
      expect(compile({ amount_float_gt: '12.5' }, stripePayments)).toEqual({
        text: '"t"."amount_float" > $1::double precision',
        values: [12.5],
      });
    });

    it('filters by id on the target', () => {
      expect(compile({ id_in: 'ord_1,ord_2' })).toEqual({ text: '"t"."id" IN ($1, $2)', values: ['ord_1', 'ord_2'] });
      // Also when the declaration leaves `id` out.
      expect(compile({ id_eq: 'gw_1' }, gateways)).toEqual({ text: '"t"."id" = $1', values: ['gw_1'] });
    });
  });

  describe('string matching', () => {
    it.each([
      ['customer_email_cont', 'gmail', `"t"."customer_email" ILIKE $1 ESCAPE '\\'`, '%gmail%'],
      ['customer_email_not_cont', 'gmail', `"t"."customer_email" NOT ILIKE $1 ESCAPE '\\'`, '%gmail%'],
      ['customer_email_start', 'patrick', `"t"."customer_email" ILIKE $1 ESCAPE '\\'`, 'patrick%'],
      ['customer_email_not_start', 'mary', `"t"."customer_email" NOT ILIKE $1 ESCAPE '\\'`, 'mary%'],
      ['customer_email_end', '.com', `"t"."customer_email" ILIKE $1 ESCAPE '\\'`, '%.com'],
      ['customer_email_not_end', '.it', `"t"."customer_email" NOT ILIKE $1 ESCAPE '\\'`, '%.it'],
      ['customer_email_matches', '%@gmail.com', '"t"."customer_email" ILIKE $1', '%@gmail.com'],
      ['customer_email_does_not_match', '%@hotmail.com', '"t"."customer_email" NOT ILIKE $1', '%@hotmail.com'],
    ])('%s', (key, value, text, parameter) => {
      expect(compile({ [key]: value })).toEqual({ text, values: [parameter] });
    });

    it('handles the list forms', () => {
      expect(compile({ status_cont_any: 'black,white' })).toEqual({
        text: `("t"."status" ILIKE $1 ESCAPE '\\' OR "t"."status" ILIKE $2 ESCAPE '\\')`,
        values: ['%black%', '%white%'],
      });
      expect(compile({ status_cont_all: 'black,sleeve' }).text).toBe(`("t"."status" ILIKE $1 ESCAPE '\\' AND "t"."status" ILIKE $2 ESCAPE '\\')`);
      expect(compile({ status_not_cont_all: 'a,b' }).text).toBe(`("t"."status" NOT ILIKE $1 ESCAPE '\\' AND "t"."status" NOT ILIKE $2 ESCAPE '\\')`);
      expect(compile({ status_start_any: 'pat,mary' }).values).toEqual(['pat%', 'mary%']);
      expect(compile({ status_end_any: '.com,.it' }).values).toEqual(['%.com', '%.it']);
      expect(compile({ status_matches_any: '%a,b%' }).text).toBe('("t"."status" ILIKE $1 OR "t"."status" ILIKE $2)');
      expect(compile({ status_matches_all: '%a,b%' }).text).toBe('("t"."status" ILIKE $1 AND "t"."status" ILIKE $2)');
      expect(compile({ status_does_not_match_all: '%a,b%' }).text).toBe('("t"."status" NOT ILIKE $1 AND "t"."status" NOT ILIKE $2)');
    });

    it('escapes LIKE wildcards in cont, start and end values', () => {
      expect(compile({ reference_cont: '50%_off\\' }).values).toEqual(['%50\\%\\_off\\\\%']);
      expect(compile({ reference_start: '_x' }).values).toEqual(['\\_x%']);
      expect(compile({ reference_end: '%' }).values).toEqual(['%\\%']);
    });

    it('takes a matches value as the pattern, as is', () => {
      expect(compile({ reference_matches: 'a\\%b_%' }).values).toEqual(['a\\%b_%']);
    });

    it('refuses string matching on other types', () => {
      expect(failure({ total_amount_cents_cont: '5' })).toMatchObject({ code: 'FILTER_NOT_ALLOWED', detail: '_cont does not apply to total_amount_cents (integer)' });
      expect(failure({ created_at_start: '2024' }).code).toBe('FILTER_NOT_ALLOWED');
    });
  });

  describe('null, present, blank, true and false', () => {
    it.each([
      ['reference_null', 'true', '"t"."reference" IS NULL'],
      ['reference_null', 'false', '"t"."reference" IS NOT NULL'],
      ['reference_not_null', 'true', '"t"."reference" IS NOT NULL'],
      ['reference_not_null', '0', '"t"."reference" IS NULL'],
      ['reference_present', 'true', `("t"."reference" IS NOT NULL AND "t"."reference" <> '')`],
      ['reference_present', 'false', `("t"."reference" IS NULL OR "t"."reference" = '')`],
      ['reference_blank', 't', `("t"."reference" IS NULL OR "t"."reference" = '')`],
      ['reference_blank', 'FALSE', `("t"."reference" IS NOT NULL AND "t"."reference" <> '')`],
      // Only text has an empty value.
      ['created_at_blank', 'true', '"t"."created_at" IS NULL'],
      ['total_amount_cents_present', '1', '"t"."total_amount_cents" IS NOT NULL'],
    ])('%s=%s', (key, value, text) => {
      expect(compile({ [key]: value })).toEqual({ text, values: [] });
    });

    it.each([
      ['force_payments_true', 'true', '"t"."force_payments" = TRUE'],
      ['force_payments_true', 'false', '"t"."force_payments" <> TRUE'],
      ['force_payments_false', 'true', '"t"."force_payments" = FALSE'],
      ['force_payments_false', 'false', '"t"."force_payments" <> FALSE'],
    ])('%s=%s', (key, value, text) => {
      expect(compile({ [key]: value }, gateways)).toEqual({ text, values: [] });
    });

    it('wants a boolean value', () => {
      expect(failure({ reference_null: 'yes' })).toMatchObject({ code: 'INVALID_FILTER_VALUE', detail: '"yes" is not true or false' });
    });

    it('applies _true and _false to booleans only', () => {
      expect(failure({ reference_true: 'true' }).code).toBe('FILTER_NOT_ALLOWED');
    });
  });

  describe('metadata', () => {
    it('compiles jcont to jsonb containment', () => {
      expect(compile({ metadata_jcont: '{"foo":"bar","n":[1,2]}' })).toEqual({
        text: '"t"."metadata" @> $1::jsonb',
        values: ['{"foo":"bar","n":[1,2]}'],
      });
    });

    it('wants a JSON object PostgreSQL can store', () => {
      for (const value of ['[1]', '"x"', 'null', '{"a":', '{"a":"\\u0000"}', '{"a":"\\ud800"}', `${'{"a":'.repeat(40)}1${'}'.repeat(40)}`]) {
        expect(failure({ metadata_jcont: value }).code).toBe('INVALID_FILTER_VALUE');
      }
    });

    it('refuses other predicates on objects, and jcont on anything else', () => {
      expect(failure({ metadata_eq: '{}' }).code).toBe('FILTER_NOT_ALLOWED');
      expect(failure({ metadata_null: 'true' }).code).toBe('FILTER_NOT_ALLOWED');
      expect(failure({ reference_jcont: '{}' }).code).toBe('FILTER_NOT_ALLOWED');
    });
  });

  describe('attributes', () => {
    it('ORs attributes joined by _or_, sharing the parameter', () => {
      expect(compile({ reference_or_reference_origin_eq: 'x', created_at_gteq: '2024-01-01T00:00:00Z' })).toEqual({
        text: '("t"."reference" = $1 OR "t"."reference_origin" = $1) AND "t"."created_at" >= $2::timestamp',
        values: ['x', '2024-01-01T00:00:00Z'],
      });
    });

    it('parses the value per attribute type when OR-ing', () => {
      expect(compile({ reference_or_number_eq: '42' })).toEqual({
        text: '("t"."reference" = $1 OR "t"."number" = $2::bigint)',
        values: ['42', 42],
      });
      expect(failure({ reference_or_number_eq: 'abc' }).code).toBe('INVALID_FILTER_VALUE');
    });

    it('resolves underscored names against the declarations, never guessing', () => {
      const target: FilterTarget = {
        table: 'things',
        fields: [
          { name: 'color_or_size', column: 'color_or_size', type: 'string' },
          { name: 'color', column: 'color', type: 'string' },
          { name: 'size_not', column: 'size_not', type: 'string' },
        ],
        relationships: {},
      };
      // A whole declared name wins over a split.
      expect(compile({ color_or_size_eq: 'x' }, target).text).toBe('"t"."color_or_size" = $1');
      expect(compile({ color_or_color_or_size_eq: 'x' }, target).text).toBe('("t"."color" = $1 OR "t"."color_or_size" = $1)');
      // The longest predicate first, then a shorter one if the attribute only fits that way.
      expect(compile({ size_not_null: 'true' }, target).text).toBe('"t"."size_not" IS NULL');
      expect(compile({ color_not_null: 'true' }, target).text).toBe('"t"."color" IS NOT NULL');
    });

    it('prefers the longest suffix: not_eq_all, not_null, not_in', () => {
      expect(compile({ status_not_eq_all: 'a' }).text).toBe('"t"."status" NOT IN ($1)');
      expect(compile({ reference_not_null: 'true' }).text).toBe('"t"."reference" IS NOT NULL');
      expect(compile({ status_not_in: 'a' }).text).toBe('"t"."status" NOT IN ($1)');
    });

    it('ANDs separate filters in the order given', () => {
      expect(compile({ status_eq: 'placed', total_amount_cents_gt: '0', reference_null: 'false' }).text).toBe(
        '"t"."status" = $1 AND "t"."total_amount_cents" > $2::bigint AND "t"."reference" IS NOT NULL',
      );
    });
  });

  describe('relationships', () => {
    it('filters through a to-one relationship with EXISTS', () => {
      expect(compile({ order_number_eq: '1001' }, stripePayments)).toEqual({
        text: 'EXISTS (SELECT 1 FROM "orders" "r1" WHERE "r1"."id" = "t"."order_id" AND "r1"."number" = $1::bigint)',
        values: [1001],
      });
      expect(compile({ payment_method_moto_true: 'true' }).text).toBe(
        'EXISTS (SELECT 1 FROM "payment_methods" "r1" WHERE "r1"."id" = "t"."payment_method_id" AND "r1"."moto" = TRUE)',
      );
    });

    it('keeps negation inside EXISTS on a to-one relationship, as the join would', () => {
      expect(compile({ order_reference_not_eq: 'x' }, stripePayments).text).toBe(
        'EXISTS (SELECT 1 FROM "orders" "r1" WHERE "r1"."id" = "t"."order_id" AND "r1"."reference" <> $1)',
      );
    });

    it('filters through a to-many relationship with EXISTS', () => {
      expect(compile({ line_items_sku_code_eq: 'TSHIRT' })).toEqual({
        text: 'EXISTS (SELECT 1 FROM "line_items" "r1" WHERE "r1"."order_id" = "t"."id" AND "r1"."sku_code" = $1)',
        values: ['TSHIRT'],
      });
      expect(compile({ line_items_quantity_gteq_any: '2,5' }).text).toBe(
        'EXISTS (SELECT 1 FROM "line_items" "r1" WHERE "r1"."order_id" = "t"."id" AND ("r1"."quantity" >= $1::bigint OR "r1"."quantity" >= $2::bigint))',
      );
    });

    it('negates a to-many predicate as "no related row matches"', () => {
      const related = 'SELECT 1 FROM "line_items" "r1" WHERE "r1"."order_id" = "t"."id"';
      expect(compile({ line_items_sku_code_not_eq: 'A' }).text).toBe(`NOT EXISTS (${related} AND "r1"."sku_code" = $1)`);
      expect(compile({ line_items_sku_code_not_in: 'A,B' }).text).toBe(`NOT EXISTS (${related} AND "r1"."sku_code" IN ($1, $2))`);
      expect(compile({ line_items_sku_code_not_cont: 'A' }).text).toBe(`NOT EXISTS (${related} AND "r1"."sku_code" ILIKE $1 ESCAPE '\\')`);
      expect(compile({ line_items_sku_code_does_not_match: 'A%' }).text).toBe(`NOT EXISTS (${related} AND "r1"."sku_code" ILIKE $1)`);
      // Contains none of them: no line item contains any of them.
      expect(compile({ line_items_sku_code_not_cont_all: 'A,B' }).text).toBe(
        `NOT EXISTS (${related} AND ("r1"."sku_code" ILIKE $1 ESCAPE '\\' OR "r1"."sku_code" ILIKE $2 ESCAPE '\\'))`,
      );
    });

    it('compares a to-one id with the foreign key itself', () => {
      expect(compile({ payment_method_id_eq: 'pm_1' })).toEqual({ text: '"t"."payment_method_id" = $1', values: ['pm_1'] });
      expect(compile({ payment_method_id_null: 'true' }).text).toBe('"t"."payment_method_id" IS NULL');
      expect(compile({ order_id_in: 'o1,o2' }, stripePayments).text).toBe('"t"."order_id" IN ($1, $2)');
    });

    it('filters by to-many ids', () => {
      expect(compile({ line_items_id_in: 'li_1,li_2' }).text).toBe(
        'EXISTS (SELECT 1 FROM "line_items" "r1" WHERE "r1"."order_id" = "t"."id" AND "r1"."id" IN ($1, $2))',
      );
    });

    it('lets a null test match a missing related row, as the LEFT JOIN behind Ransack does', () => {
      const related = 'SELECT 1 FROM "line_items" "r1" WHERE "r1"."order_id" = "t"."id"';
      expect(compile({ line_items_id_null: 'true' }).text).toBe(`(EXISTS (${related} AND "r1"."id" IS NULL) OR NOT EXISTS (${related}))`);
      expect(compile({ line_items_id_not_null: 'true' }).text).toBe(`EXISTS (${related} AND "r1"."id" IS NOT NULL)`);
      expect(compile({ payment_method_name_present: 'false' }).text).toBe(
        '(EXISTS (SELECT 1 FROM "payment_methods" "r1" WHERE "r1"."id" = "t"."payment_method_id" AND ("r1"."name" IS NULL OR "r1"."name" = \'\')) ' +
          'OR NOT EXISTS (SELECT 1 FROM "payment_methods" "r1" WHERE "r1"."id" = "t"."payment_method_id"))',
      );
    });

    it('ORs relationship and own attributes, one alias per subquery', () => {
      expect(compile({ reference_or_line_items_sku_code_or_payment_method_name_start: 'TSHIRT' })).toEqual({
        text:
          `("t"."reference" ILIKE $1 ESCAPE '\\' OR ` +
          `EXISTS (SELECT 1 FROM "line_items" "r1" WHERE "r1"."order_id" = "t"."id" AND "r1"."sku_code" ILIKE $1 ESCAPE '\\') OR ` +
          `EXISTS (SELECT 1 FROM "payment_methods" "r2" WHERE "r2"."id" = "t"."payment_method_id" AND "r2"."name" ILIKE $1 ESCAPE '\\'))`,
        values: ['TSHIRT%'],
      });
    });

    it('does not clash with a base alias named like a related one', () => {
      const fragment = compileFilter(orders, { line_items_sku_code_eq: 'A' }, { alias: 'r1', firstParameter: 1 });
      expect(fragment.text).toBe('EXISTS (SELECT 1 FROM "line_items" "r2" WHERE "r2"."order_id" = "r1"."id" AND "r2"."sku_code" = $1)');
    });

    it('refuses undeclared relationship attributes', () => {
      expect(failure({ line_items_name_eq: 'x' })).toMatchObject({ code: 'FILTER_NOT_ALLOWED', detail: 'line_items_name is not a filterable attribute' });
      expect(failure({ order_line_items_sku_code_eq: 'x' }, stripePayments).code).toBe('FILTER_NOT_ALLOWED');
    });
  });

  describe('parameters', () => {
    it('numbers placeholders from firstParameter', () => {
      expect(compile({ status_in: 'a,b', line_items_sku_code_eq: 'c', total_amount_cents_gt: '1' }, orders, 4)).toEqual({
        text:
          '"t"."status" IN ($4, $5) AND EXISTS (SELECT 1 FROM "line_items" "r1" WHERE "r1"."order_id" = "t"."id" AND "r1"."sku_code" = $6) ' +
          'AND "t"."total_amount_cents" > $7::bigint',
        values: ['a', 'b', 'c', 1],
      });
    });

    it('keeps values out of the SQL text', () => {
      const hostile = `'; DROP TABLE orders; --`;
      const fragment = compile({ reference_eq: hostile, status_cont: hostile, customer_email_matches: hostile, metadata_jcont: JSON.stringify({ k: hostile }) });
      expect(fragment.text).not.toContain('DROP');
      // The matches pattern is the eq value, so it reuses $1.
      expect(fragment.text).toBe(
        `"t"."reference" = $1 AND "t"."status" ILIKE $2 ESCAPE '\\' AND "t"."customer_email" ILIKE $1 AND "t"."metadata" @> $3::jsonb`,
      );
      expect(fragment.values).toEqual([hostile, `%${hostile}%`, JSON.stringify({ k: hostile })]);
    });

    it('ignores blank values, as Ransack does, but still checks the name', () => {
      expect(compile({ status_eq: '', status_in: ',,', reference_null: '' })).toEqual({ text: '', values: [] });
      expect(compile({ status_in: 'a,,b' }).values).toEqual(['a', 'b']);
      expect(failure({ nope_eq: '' }).code).toBe('FILTER_NOT_ALLOWED');
    });

    it(`takes at most ${maxFilterValues} values`, () => {
      const values = Array.from({ length: maxFilterValues }, (_, index) => `v${index}`);
      expect(compile({ id_in: values.join(',') }).values).toHaveLength(maxFilterValues);
      expect(failure({ id_in: [...values, 'one-more'].join(',') })).toMatchObject({ code: 'INVALID_FILTER_VALUE', source: { parameter: 'filter[q][id_in]' } });
    });

    it('wants a single value for single-value predicates', () => {
      expect(failure({ status_eq: ['a', 'b'] }).code).toBe('INVALID_FILTER_VALUE');
      // A comma is part of an eq value.
      expect(compile({ status_eq: 'a,b' }).values).toEqual(['a,b']);
    });
  });

  describe('errors', () => {
    it('refuses an unknown predicate', () => {
      expect(failure({ status_like: 'x' })).toEqual({
        title: 'Invalid filter',
        detail: 'status_like does not end with a known predicate such as _eq, _in or _cont',
        code: 'FILTER_NOT_ALLOWED',
        status: '400',
        source: { parameter: 'filter[q][status_like]' },
      });
      for (const key of ['eq', '_eq', 'status', 's', '__proto__', 'constructor_eq', 'toString_eq', 'status_or_eq', '_or_status_eq']) {
        expect(failure({ [key]: 'x' }).code).toBe('FILTER_NOT_ALLOWED');
      }
    });

    it('refuses an unknown or non-filterable attribute', () => {
      // payment_source_type exists on the table but is not declared filterable.
      expect(failure({ payment_source_type_eq: 'x' })).toMatchObject({
        code: 'FILTER_NOT_ALLOWED',
        detail: 'payment_source_type is not a filterable attribute',
        source: { parameter: 'filter[q][payment_source_type_eq]' },
      });
      expect(failure({ status_or_nope_eq: 'x' }).detail).toBe('status_or_nope does not name filterable attributes');
    });

    it.each([
      ['total_amount_cents_eq', '12.5'],
      ['total_amount_cents_eq', ' 12'],
      ['total_amount_cents_eq', '1e3'],
      ['total_amount_cents_eq', '9007199254740993'],
      ['total_amount_cents_in', '1,x'],
      ['created_at_gt', 'yesterday'],
      ['created_at_gt', '2024-02-30'],
      ['created_at_gt', '2023-02-29T00:00:00Z'],
      ['created_at_gt', '2024-01-01T24:00:00Z'],
      ['created_at_gt', '0000-01-01'],
      ['created_at_gt', '0001-01-01T00:00:00+01:00'],
      // A "+" sent unencoded in a query string arrives as a space.
      ['created_at_gt', '2024-01-01T10:00:00 02:00'],
      ['reference_eq', 'a\u0000b'],
      ['reference_eq', 'a\uD800b'],
      ['reference_matches', 'ends with an escape \\'],
    ])('refuses %s=%j as INVALID_FILTER_VALUE', (key, value) => {
      expect(failure({ [key]: value })).toMatchObject({ code: 'INVALID_FILTER_VALUE', source: { parameter: `filter[q][${key}]` } });
    });

    it('refuses floats that are not finite numbers', () => {
      for (const value of ['NaN', 'Infinity', '1e400', '0x10']) {
        expect(failure({ amount_float_gt: value }, stripePayments).code).toBe('INVALID_FILTER_VALUE');
      }
    });

    it('refuses a value that is not a string', () => {
      const params = { status_eq: { nested: 'x' } } as unknown as Record<string, string>;
      expect(failure(params).code).toBe('INVALID_FILTER_VALUE');
    });

    it('answers every predicate with SQL or a 400, whatever the value', () => {
      const samples = ['x', '', '1', 'true', '2024-01-01', '{"a":1}', 'a,b', '%_\\', `'; DROP TABLE orders; --`];
      const names = ['status', 'total_amount_cents', 'created_at', 'metadata', 'line_items_sku_code', 'payment_method_moto'];
      for (const predicate of filterPredicates) {
        for (const name of names) {
          for (const value of samples) {
            try {
              const { text, values } = compile({ [`${name}_${predicate}`]: value });
              expect(text).not.toContain('DROP');
              expect(text.match(/\$\d+/g)?.map((placeholder) => Number(placeholder.slice(1))).every((n) => n >= 1 && n <= values.length) ?? true).toBe(true);
            } catch (error) {
              expect(error).toBeInstanceOf(JsonApiError);
              expect((error as JsonApiError).status).toBe(400);
            }
          }
        }
      }
    });

    it('refuses an unsafe identifier in the declaration as a programming error', () => {
      const target: FilterTarget = { table: 'orders', fields: [{ name: 'bad', column: 'bad"; --', type: 'string' }], relationships: {} };
      expect(() => compile({ bad_eq: 'x' }, target)).toThrow(/unsafe SQL identifier/);
      expect(() => compileFilter(orders, {}, { alias: 'T', firstParameter: 1 })).toThrow(/unsafe SQL identifier/);
    });
  });
});
