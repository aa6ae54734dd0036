// Row conditions as SQL: the text over the table's alias, the values only as parameters.
import { describe, expect, it } from 'vitest';
import { compileCondition, everyRow, noRow, type RowCondition } from '../../../src/db/sql/conditions.ts';

const compile = (condition: RowCondition, values: unknown[] = []) => ({ text: compileCondition(condition, values), values });

describe('compileCondition', () => {
  it('compares a column with a parameter, and with NULL as IS NULL', () => {
    expect(compile({ column: 'market_id', is: 'mkt1' })).toEqual({ text: '"t"."market_id" = $1', values: ['mkt1'] });
    expect(compile({ column: 'customer_id', is: null })).toEqual({ text: '"t"."customer_id" IS NULL', values: [] });
    expect(compile({ column: 'status', in: ['draft', 'placed'] })).toEqual({ text: '"t"."status" IN ($1, $2)', values: ['draft', 'placed'] });
  });

  it('numbers its parameters after those already in the statement', () => {
    expect(compile({ column: 'market_id', is: 'mkt1' }, ['the id'])).toEqual({ text: '"t"."market_id" = $2', values: ['the id', 'mkt1'] });
  });

  it('combines with AND and OR, leaving out what changes nothing', () => {
    expect(compile(everyRow).text).toBe('TRUE');
    expect(compile(noRow).text).toBe('FALSE');
    expect(compile({ column: 'status', in: [] }).text).toBe('FALSE');
    expect(compile({ and: [everyRow, { column: 'a', is: 1 }] }).text).toBe('"t"."a" = $1');
    expect(compile({ or: [noRow, { column: 'a', is: 1 }, { column: 'a', is: null }] }).text).toBe('("t"."a" = $1 OR "t"."a" IS NULL)');
    // A part that is FALSE in an AND stays: the whole is FALSE, with no parameter left over.
    expect(compile({ and: [{ column: 'a', is: 1 }, noRow] })).toEqual({ text: '("t"."a" = $1 AND FALSE)', values: [1] });
  });

  it('reaches related rows through EXISTS, aliased by depth', () => {
    const order = { table: 'orders', localColumn: 'order_id', remoteColumn: 'id' };
    const market = { table: 'markets', localColumn: 'market_id', remoteColumn: 'id' };
    expect(compile({ related: order, where: { and: [{ column: 'market_id', is: 'mkt1' }, { related: market, where: { column: 'disabled_at', is: null } }] } })).toEqual({
      text:
        'EXISTS (SELECT 1 FROM "orders" "c1" WHERE "c1"."id" = "t"."order_id" AND ("c1"."market_id" = $1 AND ' +
        'EXISTS (SELECT 1 FROM "markets" "c2" WHERE "c2"."id" = "c1"."market_id" AND "c2"."disabled_at" IS NULL)))',
      values: ['mkt1'],
    });
    expect(compile({ related: order, where: everyRow }).text).toBe('EXISTS (SELECT 1 FROM "orders" "c1" WHERE "c1"."id" = "t"."order_id")');
  });

  it('writes the same text whatever the values: one prepared statement serves every token of a kind', () => {
    const reach = (market: string, customer: string) => compile({ and: [{ column: 'market_id', is: market }, { column: 'customer_id', is: customer }] });
    const [first, second] = [reach('mkt1', 'cus1'), reach("x'; DROP TABLE orders; --", 'cus2')];
    expect(second.text).toBe(first.text);
    expect(second.values).toEqual(["x'; DROP TABLE orders; --", 'cus2']);
  });

  it('refuses a column name that is not a plain identifier', () => {
    expect(() => compile({ column: 'market_id"; --', is: 'x' })).toThrow(/unsafe SQL identifier/);
  });
});
