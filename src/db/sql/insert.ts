import type { Statement } from '../sql-transaction.ts';
import { columnOfField, quoted } from './identifiers.ts';

/**
 * A row inserted by a named statement: one statement per table and set of columns, named
 * briefly (PostgreSQL keeps 63 bytes of a statement's name). Values are bound as the
 * columns take them: objects and arrays as JSON text cast to jsonb (node-postgres would send
 * an array as a PostgreSQL array), dates as ISO 8601 text cast to `timestamp(3)` (UTC, as
 * Prisma writes them, whatever the session's time zone).
 */

const statements = new Map<string, Statement>();

function isJson(value: unknown): boolean {
  return value !== null && typeof value === 'object' && !(value instanceof Date);
}

/**
 * The columns, placeholders (from `$first`) and bound values of `row` (fields named as
 * Prisma names them), and a key naming that shape: statements that insert `row` among other
 * things are prepared once per key.
 */
export function rowValues(row: Record<string, unknown>, first = 1): { key: string; fields: string[]; columns: string[]; placeholders: string[]; values: unknown[] } {
  const fields = Object.keys(row).filter((field) => row[field] !== undefined);
  const casts = fields.map((field) => (row[field] instanceof Date ? '::timestamp(3)' : isJson(row[field]) ? '::jsonb' : ''));
  return {
    key: fields.map((field, index) => `${field}${casts[index]}`).join(','),
    fields,
    columns: fields.map((field) => quoted(columnOfField(field))),
    placeholders: fields.map((_, index) => `$${index + first}${casts[index]}`),
    values: fields.map((field) => {
      const value = row[field];
      if (value instanceof Date) return value.toISOString();
      return isJson(value) ? JSON.stringify(value) : value;
    }),
  };
}

/** The INSERT of `row` (fields named as Prisma names them) into `table`, RETURNING nothing, and its values. */
export function insertRow(table: string, row: Record<string, unknown>): { statement: Statement; values: unknown[] } {
  const { key, columns, placeholders, values } = rowValues(row);
  const shape = `${table}(${key})`;
  let statement = statements.get(shape);
  if (!statement) {
    statement = { name: `insert.${statements.size}`, text: `INSERT INTO ${quoted(table)} (${columns.join(', ')}) VALUES (${placeholders.join(', ')})` };
    statements.set(shape, statement);
  }
  return { statement, values };
}
