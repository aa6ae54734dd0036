import { createHash } from 'node:crypto';
import type { TableColumns } from './columns.ts';
import { base, qualified, quoted } from './identifiers.ts';

/**
 * The one-statement read of rows by a key (a record by id, a list page's rows by their
 * ids, an include's rows by a foreign key) with the to-one related columns its resource
 * loads: `SELECT json_build_array("t".<columns>, "r0".<columns>...) FROM <table> "t"
 * LEFT JOIN <related> "r0" ON "r0"."id" = "t".<foreign key> ... WHERE <key> AND <conditions>`,
 * sent as a named (prepared) statement.
 * - One JSON value per row instead of a column per field: node-postgres describes, slices
 *   and parses every column of every result (a tenth of a GET by id's CPU with 30
 *   columns); JSON.parse of one value is native.
 * - Columns are listed, not `"t".*`: a column added by a later migration would change what
 *   `*` returns, and PostgreSQL refuses to run a prepared statement whose result changed.
 * - Only columns whose type JSON carries exactly: a table with another (bigint, numeric,
 *   bytes) has no joined read, and neither has one with more than json_build_array's 100
 *   arguments.
 */

export type Decoder = (value: unknown) => unknown;

/** How a value comes out of `json_build_array` for the column types a read can hold, by oid (null: as JSON has it). */
const decoders: ReadonlyMap<number, Decoder | null> = new Map<number, Decoder | null>([
  [16, null], // boolean
  [21, null], // smallint
  [23, null], // integer
  [25, null], // text
  [1043, null], // varchar
  [114, null], // json
  [3802, null], // jsonb
  // timestamp(3): ISO 8601 without a zone, holding UTC as Prisma writes it.
  [1114, (value) => (typeof value === 'string' ? new Date(`${value}Z`) : value)],
  [1184, (value) => (typeof value === 'string' ? new Date(value) : value)], // timestamptz
]);

/** A to-one related row read with the row: `<table> "r<n>"` joined on its id = the row's `foreignKey`. */
export interface JoinedRelation {
  table: string;
  foreignKey: string;
  /** Its columns to read after its id. */
  columns: readonly string[];
}

/** What a joined read selects: the array's values in order, and how each comes out of JSON. */
export interface JoinedSelection {
  /** `json_build_array(...) FROM <table> "t" LEFT JOIN ...`. */
  from: string;
  /** Per value of the array, in order: the row's columns, then per relation its id and columns. */
  decoders: readonly (Decoder | null)[];
}

/** The selection of every column of `table` and of each relation's columns; null when JSON cannot carry one of them. */
export function joinedSelection(
  table: { name: string; columns: TableColumns },
  relations: readonly (JoinedRelation & { catalogue: TableColumns })[],
): JoinedSelection | null {
  const selected: string[] = [];
  const chosen: (Decoder | null)[] = [];
  const select = (alias: string, column: string, type: number | undefined) => {
    const decoder = type === undefined ? undefined : decoders.get(type);
    if (decoder === undefined) return false;
    selected.push(qualified(alias, column));
    chosen.push(decoder);
    return true;
  };
  for (const column of table.columns.names) if (!select(base, column, table.columns.types.get(column))) return null;
  const joins: string[] = [];
  for (const [index, relation] of relations.entries()) {
    const alias = `r${index}`;
    if (!select(alias, 'id', relation.catalogue.types.get('id'))) return null;
    for (const column of relation.columns) if (!select(alias, column, relation.catalogue.types.get(column))) return null;
    joins.push(` LEFT JOIN ${quoted(relation.table)} ${quoted(alias)} ON ${qualified(alias, 'id')} = ${qualified(base, relation.foreignKey)}`);
  }
  // json_build_array takes at most 100 arguments.
  if (selected.length > 100) return null;
  return { from: `json_build_array(${selected.join(', ')}) FROM ${quoted(table.name)} ${quoted(base)}${joins.join('')}`, decoders: chosen };
}

/** A named statement: PostgreSQL parses and plans it once per connection. */
export interface PreparedStatement {
  name: string;
  text: string;
}

/**
 * The read of the rows whose `key` column is $1 (one row: `LIMIT 1`) or one of the text
 * array $1 (`many`), where `conditions` (boolean SQL over "t", parameters from $2) hold.
 * Its name is `<prefix>_` and a digest of the text: one name per text, as PostgreSQL needs.
 */
export function joinedReadStatement(
  selection: JoinedSelection,
  key: { column: string; many: boolean },
  conditions: string,
  prefix: string,
): PreparedStatement {
  const byKey = key.many ? `${qualified(base, key.column)} = ANY($1::text[])` : `${qualified(base, key.column)} = $1`;
  const text = `SELECT ${selection.from} WHERE ${byKey}${conditions === 'TRUE' ? '' : ` AND ${conditions}`}${key.many ? '' : ' LIMIT 1'}`;
  return { name: `${prefix}_${createHash('sha256').update(text).digest('hex').slice(0, 12)}`, text };
}

/**
 * The ids of the rows whose `key` column is one of the text array $1, where `conditions`
 * (parameters from $2) hold: for a table without a joined read, whose rows Prisma then
 * loads by these ids.
 */
export function idsByKey(table: string, key: string, conditions: string): string {
  return `SELECT ${qualified(base, 'id')} FROM ${quoted(table)} ${quoted(base)} WHERE ${qualified(base, key)} = ANY($1::text[])${conditions === 'TRUE' ? '' : ` AND ${conditions}`}`;
}

/** The ids of the rows meeting `conditions` (a relationship matched by fields rather than a key). */
export function idsWhere(table: string, conditions: string): string {
  return `SELECT ${qualified(base, 'id')} FROM ${quoted(table)} ${quoted(base)} WHERE ${conditions}`;
}
