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

/** `"alias"."column"`. */
export function qualified(alias: string, column: string): string {
  return `${quoted(alias)}.${quoted(column)}`;
}

/** The alias every read gives the table it reads: conditions and sort keys are written over it. */
export const base = 't';
