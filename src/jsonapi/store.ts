import { createHash } from 'node:crypto';
import { encodeCursor, type CursorValue, type PageCursor } from './cursor.ts';
import { JsonApiError, recordNotFound } from './errors.ts';
import { compileFilter, type FilterTarget, type FilterableField } from './filter.ts';
import { listSort, sortKeyType, type ListQuery } from './query.ts';
import { camelCase, columnOf, sqlColumn, type AnyResource, type AttributeType, type Row } from './resource.ts';

/** The slice of a Prisma model delegate the store uses; keeps jsonapi/ free of the generated client. */
export interface ModelDelegate {
  findFirst(args: { where: Record<string, unknown>; include?: Record<string, unknown> }): Promise<Row | null>;
  findMany(args: { where: Record<string, unknown>; include?: Record<string, unknown> }): Promise<Row[]>;
  create(args: { data: Record<string, unknown>; include?: Record<string, unknown> }): Promise<Row>;
  update(args: { where: { id: string }; data: Record<string, unknown>; include?: Record<string, unknown> }): Promise<Row>;
  delete(args: { where: { id: string } }): Promise<unknown>;
}

export interface Database {
  $queryRawUnsafe<T = unknown>(query: string, ...values: unknown[]): Promise<T>;
  /** Prisma's batch transaction: the statements in order on one connection, inside BEGIN ... COMMIT. */
  $transaction(statements: Promise<unknown>[]): Promise<unknown[]>;
}

/**
 * Sends SQL straight to the database's pool, past Prisma's query engine; a named statement
 * (unique per text) is parsed and planned once per connection. Rows come back as arrays of
 * column values. `connectDatabase` (src/db/client.ts) provides it.
 */
export type PreparedQuery = (statement: { name?: string; text: string }, values: readonly unknown[]) => Promise<unknown[][]>;

export interface StoreOptions {
  /** How long one list statement may run before PostgreSQL cancels it (ms); 5 s when unset. */
  listStatementTimeoutMs?: number;
  /** For reads of records by id (a record, the rows of a list's page), the most frequent; without it Prisma reads them. */
  query?: PreparedQuery;
}

export const defaultListStatementTimeoutMs = 5_000;

// Defined with the declarations; re-exported for the modules that imported them from here (engine.ts, bench/plans.ts).
export type { AnyResource, Row } from './resource.ts';

const identifier = /^[a-z_][a-z0-9_]*$/;
function quoted(name: string): string {
  if (!identifier.test(name)) throw new Error(`unsafe SQL identifier ${name}`);
  return `"${name}"`;
}

/** Up to this many matching rows a list's `record_count` is exact; above, it is estimated. */
export const exactCountLimit = 10_000;

export interface ListResult {
  rows: Row[];
  recordCount: number;
  /** recordCount is PostgreSQL's estimate: more than `exactCountLimit` rows match. */
  recordCountEstimated: boolean;
  /** With keyset paging, when more rows follow: the cursor of this page's last row. */
  nextCursor?: string;
}

/** SQL casts that give a cursor value its column's type (integers as bigint, so any value compares). */
const keysetCasts: Record<AttributeType, string> = {
  string: '',
  integer: '::bigint',
  float: '::double precision',
  boolean: '::boolean',
  datetime: '::timestamp',
  object: '::jsonb',
};

/** A sort value as PostgreSQL printed it, as the cursor holds it. */
function cursorValue(text: string | null, type: AttributeType): CursorValue {
  if (text === null) return null;
  if (type === 'integer' || type === 'float') return Number(text);
  if (type === 'boolean') return text === 'true';
  return text;
}

/**
 * The rows that sort after the cursor's row: for keys k1..kn and the id, rows where
 * (k1 after v1) or (k1 = v1 and k2 after v2) or ... or (all equal and id > the cursor's).
 * PostgreSQL puts NULLs last ascending and first descending; columns that cannot be NULL
 * get plain comparisons, and the first key a bound of its own, so that an index on it
 * starts the scan at the cursor. Values are appended to `values` as parameters.
 */
function keysetCondition(
  keys: readonly { column: string; direction: 'asc' | 'desc'; type: AttributeType; notNull: boolean }[],
  cursor: PageCursor,
  values: unknown[],
): string {
  const parameter = (value: unknown, type: AttributeType) => {
    values.push(value);
    return `$${values.length}${keysetCasts[type]}`;
  };
  const alternatives: string[] = [];
  const equal: string[] = [];
  let bound: string | undefined;
  keys.forEach(({ column, direction, type, notNull }, index) => {
    const value = cursor.values[index] ?? null;
    if (value === null) {
      // Descending, NULLs come first: every non-NULL value follows. Ascending, NULLs come last: none does.
      if (direction === 'desc') alternatives.push([...equal, `${column} IS NOT NULL`].join(' AND '));
      else if (index === 0) bound = `${column} IS NULL`;
      equal.push(`${column} IS NULL`);
      return;
    }
    const at = parameter(value, type);
    const after = direction === 'desc' ? `${column} < ${at}` : notNull ? `${column} > ${at}` : `(${column} > ${at} OR ${column} IS NULL)`;
    alternatives.push([...equal, after].join(' AND '));
    if (index === 0 && (direction === 'desc' || notNull)) bound = `${column} ${direction === 'desc' ? '<=' : '>='} ${at}`;
    equal.push(`${column} = ${at}`);
  });
  alternatives.push([...equal, `"t"."id" > ${parameter(cursor.id, 'string')}`].join(' AND '));
  const after = `(${alternatives.map((alternative) => `(${alternative})`).join(' OR ')})`;
  return bound ? `${bound} AND ${after}` : after;
}

/** A table's columns in their order, their types (PostgreSQL oids) and which cannot hold NULL. */
interface TableColumns {
  names: readonly string[];
  types: ReadonlyMap<string, number>;
  notNull: ReadonlySet<string>;
}

/** Reads by id; undefined when this table cannot be read this way. */
interface JoinedRead {
  /** The row, or null when there is none. */
  one(id: string): Promise<Row | null | undefined>;
  /** The rows of these ids that exist, in no particular order. */
  many(ids: readonly string[]): Promise<Row[] | undefined>;
}

/** How a value comes out of `json_build_array` for the column types a read can hold, by oid. */
const fromJson: ReadonlyMap<number, ((value: unknown) => unknown) | null> = new Map<number, ((value: unknown) => unknown) | null>([
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

/**
 * The single-statement reads of `joinedRead`: `SELECT json_build_array("t".<columns>,
 * <loaded columns>) FROM <table> "t" LEFT JOIN <related> "r0" ON ... WHERE "t"."id" = $1
 * AND <visible>` (or `= ANY($1)` for a list's page), sent as prepared statements.
 * - One JSON value instead of a column per field: node-postgres describes, slices and
 *   parses every column of every result (a tenth of a GET by id's CPU with 30 columns);
 *   JSON.parse of one value is native.
 * - Columns are listed, not `"t".*`: a column added by a later migration would change what
 *   `*` returns, and PostgreSQL refuses to run a prepared statement whose result changed.
 * Null when the declaration's `load` is not made of to-one relationships' columns; the
 * read answers undefined when a column has a type JSON cannot carry exactly (bigint,
 * numeric, bytes): Prisma reads those tables.
 */
function compileJoinedRead(
  declaration: AnyResource,
  registry: ReadonlyMap<string, AnyResource>,
  query: PreparedQuery,
  columnsOf: (table: string) => Promise<TableColumns>,
): JoinedRead | null {
  const relations: { name: string; alias: string; table: string; foreignKey: string; fields: string[] }[] = [];
  for (const [name, args] of Object.entries(declaration.load ?? {})) {
    // A load names the Prisma relation: the camelCase of the relationship's name.
    const relationship = Object.entries(declaration.relationships).find(([relationshipName]) => camelCase(relationshipName) === name)?.[1];
    const select = (args as { select?: Record<string, unknown> } | null)?.select;
    const target = relationship?.types.length === 1 ? registry.get(relationship.types[0]!) : undefined;
    if (!relationship || relationship.kind !== 'to_one' || !relationship.foreignKey || !target || !select) return null;
    const fields = Object.entries(select).filter(([, wanted]) => wanted === true).map(([field]) => field);
    if (fields.length !== Object.keys(select).length) return null;
    relations.push({ name, alias: `r${relations.length}`, table: target.table, foreignKey: relationship.foreignKey, fields });
  }
  const visibleValues = Object.values(declaration.visibleWhere ?? {});

  const prepare = async () => {
    const table = await columnsOf(declaration.table);
    const selected: string[] = [];
    const converters: (((value: unknown) => unknown) | null)[] = [];
    const select = (alias: string, column: string, type: number | undefined) => {
      const converter = type === undefined ? undefined : fromJson.get(type);
      if (converter === undefined) return false;
      selected.push(`"${alias}".${quoted(column)}`);
      converters.push(converter);
      return true;
    };
    for (const column of table.names) if (!select('t', column, table.types.get(column))) return null;
    const joins: string[] = [];
    for (const { alias, table: relatedTable, foreignKey, fields } of relations) {
      const related = await columnsOf(relatedTable);
      if (!select(alias, 'id', related.types.get('id'))) return null;
      for (const field of fields) if (!select(alias, sqlColumn(field), related.types.get(sqlColumn(field)))) return null;
      joins.push(` LEFT JOIN ${quoted(relatedTable)} "${alias}" ON "${alias}"."id" = "t".${quoted(sqlColumn(foreignKey))}`);
    }
    // json_build_array takes at most 100 arguments.
    if (selected.length > 100) return null;
    const visible = Object.keys(declaration.visibleWhere ?? {}).map((field, index) => ` AND "t".${quoted(sqlColumn(field))} = $${index + 2}`);
    const statement = (byId: string, limit: string) => {
      const text = `SELECT json_build_array(${selected.join(', ')}) FROM ${quoted(declaration.table)} "t"${joins.join('')} WHERE ${byId}${visible.join('')}${limit}`;
      return { name: `read_${declaration.type}_${createHash('sha256').update(text).digest('hex').slice(0, 12)}`, text };
    };
    const fields = table.names.map(camelCase);
    const value = (values: readonly unknown[], index: number) => {
      const convert = converters[index];
      return convert ? convert(values[index]) : values[index];
    };
    // Rows shaped as Prisma's: fields by their Prisma names, each loaded relation nested (null when absent).
    const shape = (values: readonly unknown[]): Row => {
      const row: Record<string, unknown> = {};
      for (let index = 0; index < fields.length; index += 1) row[fields[index]!] = value(values, index);
      let at = fields.length;
      for (const relation of relations) {
        let related: Record<string, unknown> | null = null;
        if (values[at] !== null) {
          related = {};
          for (let index = 0; index < relation.fields.length; index += 1) related[relation.fields[index]!] = value(values, at + 1 + index);
        }
        row[relation.name] = related;
        at += 1 + relation.fields.length;
      }
      return row as Row;
    };
    return { one: statement('"t"."id" = $1', ' LIMIT 1'), many: statement('"t"."id" = ANY($1::text[])', ''), shape };
  };

  let prepared: ReturnType<typeof prepare> | undefined;
  const plan = () =>
    (prepared ??= prepare().catch((error: unknown) => {
      // A failed read of the columns (the database away) is tried again by the next request.
      prepared = undefined;
      throw error;
    }));
  return {
    async one(id) {
      const read = await plan();
      if (!read) return undefined;
      const [result] = await query(read.one, [id, ...visibleValues]);
      return result ? read.shape(result[0] as unknown[]) : null;
    },
    async many(ids) {
      const read = await plan();
      if (!read) return undefined;
      const results = await query(read.many, [ids, ...visibleValues]);
      return results.map((result) => read.shape(result[0] as unknown[]));
    },
  };
}

/** Counts the rows of `source` (`<table> "t" WHERE ...`), stopping after `exactCountLimit + 1`. */
function cappedCount(source: string): string {
  return `SELECT count(*)::int AS "count" FROM (SELECT 1 FROM ${source} LIMIT ${exactCountLimit + 1}) AS "capped"`;
}

/** PostgreSQL's query_canceled (57014), as Prisma's driver adapter reports it: the statement timeout fired. */
function isStatementTimeout(error: unknown): boolean {
  const cause = (error as { meta?: { driverAdapterError?: { cause?: { originalCode?: unknown; code?: unknown } } } } | null)?.meta?.driverAdapterError?.cause;
  return cause?.originalCode === '57014' || cause?.code === '57014';
}

function listTimedOut(timeoutMs: number): JsonApiError {
  return new JsonApiError(
    503,
    [
      {
        title: 'Service unavailable',
        detail: `The list took longer than ${timeoutMs / 1000} s to read and was stopped. Retry shortly, narrow the filter, or page with page[after].`,
        code: 'SERVICE_UNAVAILABLE',
      },
    ],
    { 'retry-after': '2' },
  );
}

/** The top plan node's row estimate from `EXPLAIN (FORMAT JSON)` (parsed or as text). */
function estimatedRows(plan: unknown): number {
  const parsed = typeof plan === 'string' ? (JSON.parse(plan) as unknown) : plan;
  const rows = (parsed as [{ Plan?: { 'Plan Rows'?: unknown } }] | undefined)?.[0]?.Plan?.['Plan Rows'];
  return typeof rows === 'number' && Number.isFinite(rows) ? Math.round(rows) : 0;
}

/**
 * Reads declared resources. Primary lists run as one parameterised SQL query for the page's
 * ids plus one capped count, in a transaction with a statement timeout (and above the cap an
 * EXPLAIN), then one Prisma query loads those rows: the same queries whatever the page size,
 * with filters free to use SQL that Prisma's where cannot express (ILIKE, EXISTS).
 */
export class ResourceStore {
  private readonly columnsByTable = new Map<string, Promise<TableColumns>>();
  private readonly joinedReads = new Map<string, JoinedRead | null>();
  private readonly listStatementTimeoutMs: number;
  private readonly query: PreparedQuery | undefined;

  constructor(
    private readonly db: Database,
    readonly registry: ReadonlyMap<string, AnyResource>,
    options: StoreOptions = {},
  ) {
    this.listStatementTimeoutMs = options.listStatementTimeoutMs ?? defaultListStatementTimeoutMs;
    this.query = options.query;
  }

  declaration(type: string): AnyResource {
    const declaration = this.registry.get(type);
    if (!declaration) throw new Error(`unknown resource type ${type}`);
    return declaration;
  }

  delegate(declaration: AnyResource): ModelDelegate {
    const delegate = (this.db as unknown as Record<string, ModelDelegate | undefined>)[declaration.model];
    if (!delegate) throw new Error(`no database model ${declaration.model} for ${declaration.type}`);
    return delegate;
  }

  private loadArgs(declaration: AnyResource) {
    return declaration.load ? { include: declaration.load } : {};
  }

  /** One visible record (within `access`, the caller's reach), or null. */
  async findOne(type: string, id: string, access?: Record<string, unknown>): Promise<Row | null> {
    const declaration = this.declaration(type);
    const joined = access === undefined ? this.joinedRead(declaration) : null;
    if (joined) {
      const row = await joined.one(id);
      if (row !== undefined) return row;
    }
    return this.delegate(declaration).findFirst({ where: { id, ...declaration.visibleWhere, ...access }, ...this.loadArgs(declaration) });
  }

  /**
   * Reads of rows by id with their `load`, each a single prepared statement, rows shaped as
   * Prisma's (fields by their Prisma names, the loaded relation nested, null when absent),
   * or null when the load is not made of to-one relationships' columns (Prisma then loads it).
   * Prisma's findFirst with an include is two statements and its query interpreter twice;
   * its raw queries still cost a GET by id an eighth of its CPU (docs/benchmarks.md).
   */
  private joinedRead(declaration: AnyResource): JoinedRead | null {
    if (!this.query) return null;
    let read = this.joinedReads.get(declaration.type);
    if (read === undefined) {
      read = compileJoinedRead(declaration, this.registry, this.query, (table) => this.tableColumns(table));
      this.joinedReads.set(declaration.type, read);
    }
    return read;
  }

  /** One visible record (within `access`), or the JSON:API 404. */
  async find(type: string, id: string, access?: Record<string, unknown>): Promise<Row> {
    const row = await this.findOne(type, id, access);
    if (!row) throw recordNotFound();
    return row;
  }

  /** Visible records of one type (within `access`), by id or by a foreign key, in one query. */
  async findBy(type: string, field: string, values: readonly string[], access?: Record<string, unknown>): Promise<Row[]> {
    if (values.length === 0) return [];
    const declaration = this.declaration(type);
    const joined = field === 'id' && access === undefined ? this.joinedRead(declaration) : null;
    if (joined) {
      const rows = await joined.many([...new Set(values)]);
      if (rows !== undefined) return rows;
    }
    return this.delegate(declaration).findMany({
      where: { [field]: { in: [...new Set(values)] }, ...declaration.visibleWhere, ...access },
      ...this.loadArgs(declaration),
    });
  }

  filterTarget(declaration: AnyResource): FilterTarget {
    const fieldsOf = (resource: AnyResource): FilterableField[] =>
      Object.entries(resource.attributes).flatMap(([name, attribute]) => {
        const column = columnOf(name, attribute);
        return attribute.filterable && column !== null
          ? [{ name, column: sqlColumn(column), type: attribute.columnType ?? attribute.type }]
          : [];
      });
    const relationships: FilterTarget['relationships'] = {};
    for (const [name, relationship] of Object.entries(declaration.relationships)) {
      const target = relationship.types.length === 1 ? this.registry.get(relationship.types[0]!) : undefined;
      if (!target) continue;
      // Only the related resource's visible rows count (one table can hold several resources).
      const scope = Object.entries(target.visibleWhere ?? {}).map(([field, value]) => ({ column: sqlColumn(field), value }));
      const common = { table: target.table, fields: fieldsOf(target), scope };
      if (relationship.kind === 'to_one' && relationship.foreignKey) {
        relationships[name] = { ...common, kind: 'to_one', localColumn: sqlColumn(relationship.foreignKey), remoteColumn: 'id' };
      } else if (relationship.kind === 'to_many' && relationship.inverseKey) {
        relationships[name] = { ...common, kind: 'to_many', localColumn: 'id', remoteColumn: sqlColumn(relationship.inverseKey) };
      }
    }
    return { table: declaration.table, fields: fieldsOf(declaration), relationships };
  }

  /**
   * A page of visible records matching the query, and how many match in all: exactly up to
   * `exactCountLimit`, PostgreSQL's estimate above (`recordCountEstimated`). Paged by
   * `page[number]` (OFFSET) or, when the query has a cursor, by keyset: the rows after the
   * cursor's, found through an index on the first sort key, whatever the page's depth.
   */
  async list(declaration: AnyResource, query: ListQuery, scope: Record<string, string> = {}): Promise<ListResult> {
    const values: unknown[] = [];
    const conditions: string[] = [];
    for (const [field, value] of Object.entries({ ...declaration.visibleWhere, ...scope })) {
      values.push(value);
      conditions.push(`"t".${quoted(sqlColumn(field))} = $${values.length}`);
    }
    const filter = compileFilter(this.filterTarget(declaration), query.filter, { alias: 't', firstParameter: values.length + 1 });
    if (filter.text) {
      conditions.push(`(${filter.text})`);
      values.push(...filter.values);
    }
    const where = conditions.length > 0 ? `WHERE ${conditions.join(' AND ')}` : '';
    const sort = listSort(query);
    const keys = sort.map(({ field, direction }) => {
      const attribute = Object.hasOwn(declaration.attributes, field) ? declaration.attributes[field] : undefined;
      const column = sqlColumn((attribute && columnOf(field, attribute)) ?? camelCase(field));
      return { column: `"t".${quoted(column)}`, name: column, direction, type: sortKeyType(declaration, field) };
    });
    // A stable order makes pages deterministic: newest first by default, id as the tie-breaker.
    const order = [...keys.map(({ column, direction }) => `${column} ${direction === 'desc' ? 'DESC' : 'ASC'}`), '"t"."id" ASC'].join(', ');
    const table = quoted(declaration.table);
    const source = `${table} "t" ${where}`;

    if (query.after === undefined) {
      const offset = (query.page.number - 1) * query.page.size;
      const [idRows, capped] = await this.withStatementTimeout<[{ id: string }[], { count: number }[]]>([
        this.db.$queryRawUnsafe(`SELECT "t"."id" FROM ${source} ORDER BY ${order} LIMIT ${query.page.size} OFFSET ${offset}`, ...values),
        this.db.$queryRawUnsafe(cappedCount(source), ...values),
      ]);
      const counted = await this.recordCount(capped, source, values);
      return { rows: await this.rowsInOrder(declaration, idRows), recordCount: counted.count, recordCountEstimated: counted.estimated };
    }

    // Keyset: the sort values come back as text so that the cursor holds them exactly (a
    // timestamp's microseconds, a float's digits), and go back with their column's type.
    const pageValues = [...values];
    let keyset = '';
    if (query.after) {
      const { notNull } = await this.tableColumns(declaration.table);
      keyset = keysetCondition(
        keys.map((key) => ({ ...key, notNull: notNull.has(key.name) })),
        query.after,
        pageValues,
      );
    }
    const pageWhere = keyset ? (where ? `${where} AND ${keyset}` : `WHERE ${keyset}`) : where;
    const selected = keys.map(({ column }, index) => `, ${column}::text AS "k${index}"`).join('');
    const [pageRows, capped] = await this.withStatementTimeout<[({ id: string } & Record<string, string | null>)[], { count: number }[]]>([
      // One row more than the page says whether there is a next page.
      this.db.$queryRawUnsafe(`SELECT "t"."id"${selected} FROM ${table} "t" ${pageWhere} ORDER BY ${order} LIMIT ${query.page.size + 1}`, ...pageValues),
      this.db.$queryRawUnsafe(cappedCount(source), ...values),
    ]);
    const counted = await this.recordCount(capped, source, values);
    const more = pageRows.length > query.page.size;
    const page = more ? pageRows.slice(0, query.page.size) : pageRows;
    const last = page.at(-1);
    const nextCursor =
      more && last
        ? encodeCursor(sort, { values: keys.map(({ type }, index) => cursorValue(last[`k${index}`] ?? null, type)), id: last.id })
        : undefined;
    return {
      rows: await this.rowsInOrder(declaration, page),
      recordCount: counted.count,
      recordCountEstimated: counted.estimated,
      ...(nextCursor ? { nextCursor } : {}),
    };
  }

  /** The visible rows of these ids, loaded in one query, in the ids' order. */
  private async rowsInOrder(declaration: AnyResource, idRows: readonly { id: string }[]): Promise<Row[]> {
    const ids = idRows.map((row) => row.id);
    const rows = await this.findBy(declaration.type, 'id', ids);
    const byId = new Map(rows.map((row) => [row.id, row]));
    return ids.flatMap((id) => byId.get(id) ?? []);
  }

  /** A table's columns, read once: keyset conditions skip NULL handling for NOT NULL ones, reads list them. */
  private tableColumns(table: string): Promise<TableColumns> {
    let columns = this.columnsByTable.get(table);
    if (!columns) {
      columns = this.db
        .$queryRawUnsafe<{ name: string; type: number; notNull: boolean }[]>(
          `SELECT "attname"::text AS "name", "atttypid"::int AS "type", "attnotnull" AS "notNull" FROM "pg_attribute"
           WHERE "attrelid" = $1::regclass AND "attnum" > 0 AND NOT "attisdropped" ORDER BY "attnum"`,
          table,
        )
        .then((rows) => ({
          names: rows.map((row) => row.name),
          types: new Map(rows.map((row) => [row.name, row.type])),
          notNull: new Set(rows.filter((row) => row.notNull).map((row) => row.name)),
        }));
      // A failed read is not remembered.
      columns.catch(() => this.columnsByTable.delete(table));
      this.columnsByTable.set(table, columns);
    }
    return columns;
  }

  /**
   * Runs a list's statements in one transaction whose statements PostgreSQL cancels after
   * `listStatementTimeoutMs`: a filter that scans for long (a pattern no index serves, a
   * deep OFFSET) cannot hold a pool connection, which writes are waiting for, beyond that.
   * A cancelled list is a 503, like a database that does not answer.
   */
  private async withStatementTimeout<T extends unknown[]>(statements: Promise<unknown>[]): Promise<T> {
    try {
      const [, ...results] = await this.db.$transaction([
        this.db.$queryRawUnsafe(`SELECT set_config('statement_timeout', $1, true)`, String(this.listStatementTimeoutMs)),
        ...statements,
      ]);
      return results as T;
    } catch (error) {
      if (isStatementTimeout(error)) throw listTimedOut(this.listStatementTimeoutMs);
      throw error;
    }
  }

  /**
   * record_count from the capped count: a full count visits every matching row (hundreds
   * of ms at a million), so it stops after `exactCountLimit + 1`; past the limit, the
   * planner's estimate for the same WHERE (`source`: `<table> "t" WHERE ...`), planning only.
   */
  private async recordCount(capped: { count: number }[], source: string, values: unknown[]): Promise<{ count: number; estimated: boolean }> {
    const count = capped[0]?.count ?? 0;
    if (count <= exactCountLimit) return { count, estimated: false };
    const [explained] = await this.db.$queryRawUnsafe<{ 'QUERY PLAN': unknown }[]>(`EXPLAIN (FORMAT JSON) SELECT 1 FROM ${source}`, ...values);
    // The estimate can be stale or off for a complex filter; it is never below what was counted.
    return { count: Math.max(exactCountLimit + 1, estimatedRows(explained?.['QUERY PLAN'])), estimated: true };
  }
}
