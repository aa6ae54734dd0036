/**
 * Values in SQL statements: always parameters ($1, $2, ...), never text. A value joins the
 * statement's `values` and the text gets its placeholder, with the cast that makes it
 * compare with its column whatever the value (an integer as bigint, a date-time as a
 * timestamp without a zone, as the columns hold UTC).
 */

/** A statement (or a piece of one) and its parameters, in placeholder order. */
export interface Sql {
  text: string;
  values: unknown[];
}

/** The types a declared field can have (the declarations' AttributeType), as SQL compares them. */
export type ValueType = 'string' | 'integer' | 'float' | 'boolean' | 'object' | 'array' | 'datetime';

/** The cast of a parameter compared with a column of each type (bigint, not int4, so an out-of-range number compares instead of erroring). */
export const parameterCasts: Readonly<Record<ValueType, string>> = {
  string: '',
  integer: '::bigint',
  float: '::double precision',
  boolean: '::boolean',
  datetime: '::timestamp',
  object: '::jsonb',
  array: '::jsonb',
};

/** PostgreSQL's wire protocol numbers parameters up to $65535. */
export const maxParameterNumber = 65_535;

/** Appends `value` to `values` and returns its placeholder, with `cast`. */
export function bind(values: unknown[], value: unknown, cast = ''): string {
  values.push(value);
  return `$${values.length}${cast}`;
}
