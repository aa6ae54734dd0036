import { base, qualified, quoted } from './identifiers.ts';
import { bind } from './values.ts';

/**
 * Conditions on a table's rows, as data, compiled to boolean SQL over its alias: what
 * every read adds besides the client's filter (the rows a resource shows, a related
 * list's owner) and what keeps a sales channel token to its market, customer and states
 * (built from the declarations by src/jsonapi/access.ts).
 *
 * Invariant: the text depends only on the condition's shape (its columns, whether a value
 * is NULL, how many values a list has), never on the values, which are parameters; so one
 * prepared statement serves every token of a kind (guest, customer) and every id.
 */
export type RowCondition =
  /** The column equals the value; IS NULL for null (as Prisma's `{ field: null }`). */
  | { column: string; is: string | number | boolean | null }
  /** The column is one of the values; no row for an empty list. */
  | { column: string; in: readonly string[] }
  /** Every condition holds; every row for an empty list. */
  | { and: readonly RowCondition[] }
  /** Some condition holds; no row for an empty list. */
  | { or: readonly RowCondition[] }
  /** A related row exists (joined as related.remoteColumn = row.localColumn) where the condition holds. */
  | { related: RelatedRows; where: RowCondition };

/** The rows of another table that belong to a row: `<table>.<remoteColumn> = <row>.<localColumn>`. */
export interface RelatedRows {
  table: string;
  localColumn: string;
  remoteColumn: string;
}

/** Every row. */
export const everyRow: RowCondition = { and: [] };
/** No row (a guest asking for customers). */
export const noRow: RowCondition = { or: [] };

/** ( a OR b ), parentheses only around more than one part. */
export function combine(parts: readonly string[], operator: 'AND' | 'OR'): string {
  return parts.length === 1 ? parts[0]! : `(${parts.join(` ${operator} `)})`;
}

/** `SELECT 1 FROM <related table> "<alias>" WHERE <alias>.<remote> = <outer>.<local>`: the subquery of EXISTS. */
export function relatedRowsQuery(related: RelatedRows, outer: string, alias: string): string {
  return `SELECT 1 FROM ${quoted(related.table)} ${quoted(alias)} WHERE ${qualified(alias, related.remoteColumn)} = ${qualified(outer, related.localColumn)}`;
}

/**
 * The condition as SQL over the table aliased `alias`, its values appended to `values`
 * (placeholders continue from `values.length`). Related rows are aliased "c1", "c2", ...
 * by depth, apart from the aliases of joins ("r0"...) and of filters ("r1"...).
 */
export function compileCondition(condition: RowCondition, values: unknown[], alias = base, depth = 0): string {
  if ('and' in condition || 'or' in condition) {
    const [parts, operator, neutral] = 'and' in condition ? [condition.and, 'AND' as const, 'TRUE'] : [condition.or, 'OR' as const, 'FALSE'];
    // A part that changes nothing (TRUE in AND, FALSE in OR) is left out; it has no parameters.
    const compiled = parts.map((part) => compileCondition(part, values, alias, depth)).filter((part) => part !== neutral);
    return compiled.length === 0 ? neutral : combine(compiled, operator);
  }
  if ('related' in condition) {
    const inner = `c${depth + 1}`;
    const where = compileCondition(condition.where, values, inner, depth + 1);
    return `EXISTS (${relatedRowsQuery(condition.related, alias, inner)}${where === 'TRUE' ? '' : ` AND ${where}`})`;
  }
  const column = qualified(alias, condition.column);
  if ('in' in condition) {
    if (condition.in.length === 0) return 'FALSE';
    return `${column} IN (${condition.in.map((value) => bind(values, value)).join(', ')})`;
  }
  return condition.is === null ? `${column} IS NULL` : `${column} = ${bind(values, condition.is)}`;
}
