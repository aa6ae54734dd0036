import type { Sql } from './values.ts';

/**
 * What PostgreSQL's catalogue says of a table's columns: their order, their types (oids)
 * and which cannot hold NULL. Reads list a table's columns from it instead of `*`, and
 * keyset conditions skip NULL handling for NOT NULL sort keys. Read once per table; the
 * schema changes only with a migration, which restarts the server.
 */

export interface TableColumns {
  names: readonly string[];
  types: ReadonlyMap<string, number>;
  notNull: ReadonlySet<string>;
}

export interface ColumnRow {
  name: string;
  type: number;
  notNull: boolean;
}

/** The statement reading a table's columns, in their order, as `ColumnRow`s. */
export function tableColumnsStatement(table: string): Sql {
  return {
    text: `SELECT "attname"::text AS "name", "atttypid"::int AS "type", "attnotnull" AS "notNull" FROM "pg_attribute"
           WHERE "attrelid" = $1::regclass AND "attnum" > 0 AND NOT "attisdropped" ORDER BY "attnum"`,
    values: [table],
  };
}

export function tableColumns(rows: readonly ColumnRow[]): TableColumns {
  return {
    names: rows.map((row) => row.name),
    types: new Map(rows.map((row) => [row.name, row.type])),
    notNull: new Set(rows.filter((row) => row.notNull).map((row) => row.name)),
  };
}
