import { base, qualified } from './identifiers.ts';
import { bind, parameterCasts, type ValueType } from './values.ts';

/**
 * Keyset paging in SQL: the condition for the rows that sort after a cursor's row, and the
 * sort values of a page's last row as the next cursor holds them. A cursor's values reach
 * SQL only as parameters cast to their key's type (the JSON:API layer checked the types).
 */

/** A sort key of a list over `"t"`; the id breaks ties, ascending. */
export interface KeysetKey {
  column: string;
  direction: 'asc' | 'desc';
  type: ValueType;
  /** The column cannot hold NULL: plain comparisons suffice. */
  notNull: boolean;
}

/** A sort key's value in a cursor; datetimes as PostgreSQL prints them. */
export type CursorValue = string | number | boolean | null;

/** Where a page starts: the sort values (in the sort's order) and id of the row before it. */
export interface PageCursor {
  values: readonly CursorValue[];
  id: string;
}

/**
 * The rows that sort after the cursor's row: for keys k1..kn and the id, rows where
 * (k1 after v1) or (k1 = v1 and k2 after v2) or ... or (all equal and id > the cursor's).
 * PostgreSQL puts NULLs last ascending and first descending; columns that cannot be NULL
 * get plain comparisons, and the first key a bound of its own, so that an index on it
 * starts the scan at the cursor. Values are appended to `values` as parameters.
 */
export function keysetCondition(keys: readonly KeysetKey[], cursor: PageCursor, values: unknown[]): string {
  const alternatives: string[] = [];
  const equal: string[] = [];
  let bound: string | undefined;
  keys.forEach(({ column: name, direction, type, notNull }, index) => {
    const column = qualified(base, name);
    const value = cursor.values[index] ?? null;
    if (value === null) {
      // Descending, NULLs come first: every non-NULL value follows. Ascending, NULLs come last: none does.
      if (direction === 'desc') alternatives.push([...equal, `${column} IS NOT NULL`].join(' AND '));
      else if (index === 0) bound = `${column} IS NULL`;
      equal.push(`${column} IS NULL`);
      return;
    }
    const at = bind(values, value, parameterCasts[type]);
    const after = direction === 'desc' ? `${column} < ${at}` : notNull ? `${column} > ${at}` : `(${column} > ${at} OR ${column} IS NULL)`;
    alternatives.push([...equal, after].join(' AND '));
    if (index === 0 && (direction === 'desc' || notNull)) bound = `${column} ${direction === 'desc' ? '<=' : '>='} ${at}`;
    equal.push(`${column} = ${at}`);
  });
  alternatives.push([...equal, `${qualified(base, 'id')} > ${bind(values, cursor.id)}`].join(' AND '));
  const after = `(${alternatives.map((alternative) => `(${alternative})`).join(' OR ')})`;
  return bound ? `${bound} AND ${after}` : after;
}

/**
 * A sort value as PostgreSQL printed it (page statements select each key `::text`, so that
 * a timestamp's microseconds and a float's digits survive), as the cursor holds it.
 */
export function cursorValue(text: string | null, type: ValueType): CursorValue {
  if (text === null) return null;
  if (type === 'integer' || type === 'float') return Number(text);
  if (type === 'boolean') return text === 'true';
  return text;
}
