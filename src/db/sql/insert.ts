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

/** The INSERT of `row` (fields named as Prisma names them) into `table`, RETURNING nothing, and its values. */
export function insertRow(table: string, row: Record<string, unknown>): { statement: Statement; values: unknown[] } {
  const fields = Object.keys(row).filter((field) => row[field] !== undefined);
  const casts = fields.map((field) => (row[field] instanceof Date ? '::timestamp(3)' : isJson(row[field]) ? '::jsonb' : ''));
  const key = `${table}(${fields.map((field, index) => `${field}${casts[index]}`).join(',')})`;
  let statement = statements.get(key);
  if (!statement) {
    const columns = fields.map((field) => quoted(columnOfField(field))).join(', ');
    const placeholders = fields.map((_, index) => `$${index + 1}${casts[index]}`).join(', ');
    statement = { name: `insert.${statements.size}`, text: `INSERT INTO ${quoted(table)} (${columns}) VALUES (${placeholders})` };
    statements.set(key, statement);
  }
  const values = fields.map((field) => {
    const value = row[field];
    if (value instanceof Date) return value.toISOString();
    return isJson(value) ? JSON.stringify(value) : value;
  });
  return { statement, values };
}
