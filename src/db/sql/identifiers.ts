/**
 * Table and column names in SQL text. Every name comes from code (the resource
 * declarations, PostgreSQL's catalogue), never from a request; anything but lower-case
 * snake_case is refused, so a mistake in a declaration fails loudly instead of reaching SQL.
 */

const identifier = /^[a-z_][a-z0-9_]*$/;

/** `"name"`; throws for a name that is not a plain lower-case identifier. */
export function quoted(name: string): string {
  if (!identifier.test(name)) throw new Error(`unsafe SQL identifier ${JSON.stringify(name)}`);
  return `"${name}"`;
}

// Asked for every field of every row the payment path reads: remembered (the fields are the models', a fixed set).
const columns = new Map<string, string>();

/** The column of a Prisma field: the schema maps every field to its snake_case (`paymentStatus` is `payment_status`). */
export function columnOfField(field: string): string {
  let column = columns.get(field);
  if (column === undefined) {
    column = field.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`);
    columns.set(field, column);
  }
  return column;
}

/** `"alias"."column"`. */
export function qualified(alias: string, column: string): string {
  return `${quoted(alias)}.${quoted(column)}`;
}

/** The alias every read gives the table it reads: conditions and sort keys are written over it. */
export const base = 't';
