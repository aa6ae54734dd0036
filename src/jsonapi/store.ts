import { tableColumns, tableColumnsStatement, type ColumnRow, type TableColumns } from '../db/sql/columns.ts';
import { compileCondition, type RowCondition } from '../db/sql/conditions.ts';
import { base } from '../db/sql/identifiers.ts';
import { idsByKey, idsWhere, joinedReadStatement, joinedSelection, type PreparedStatement } from '../db/sql/joined-read.ts';
import { cursorValue } from '../db/sql/keyset.ts';
import { cappedCount, estimatedRows, exactCountLimit, isStatementTimeout, pageAfter, pageByOffset, rowEstimate, statementTimeout, type ListSource } from '../db/sql/list.ts';
import type { Sql } from '../db/sql/values.ts';
import { encodeCursor } from './cursor.ts';
import { JsonApiError, recordNotFound } from './errors.ts';
import { compileFilter, type FilterTarget, type FilterableField } from './filter.ts';
import { listSort, sortKeyType, type ListQuery } from './query.ts';
import { camelCase, columnOf, sqlColumn, type AnyResource, type Row } from './resource.ts';

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
// Defined with the list statements; re-exported for openapi/schemas.ts and bench/run.ts.
export { exactCountLimit } from '../db/sql/list.ts';

export interface ListResult {
  rows: Row[];
  recordCount: number;
  /** recordCount is PostgreSQL's estimate: more than `exactCountLimit` rows match. */
  recordCountEstimated: boolean;
  /** With keyset paging, when more rows follow: the cursor of this page's last row. */
  nextCursor?: string;
}

/** A declaration's single-statement reads; each answers undefined when its table cannot be read this way. */
interface JoinedRead {
  /** The row of this id within `reach` (the caller's, when restricted), or null. */
  one(id: string, reach?: RowCondition): Promise<Row | null | undefined>;
  /** The rows whose `key` column (the id, a foreign key) holds one of `keys`, within `reach`, in no particular order. */
  many(key: string, keys: readonly string[], reach?: RowCondition): Promise<Row[] | undefined>;
}

/**
 * The single-statement reads of a declaration (src/db/sql/joined-read.ts) with its `load`,
 * rows shaped as Prisma's: fields by their Prisma names, each loaded relation nested (null
 * when absent). Null when the `load` is not made of to-one relationships' columns; the reads
 * answer undefined when the table has a column JSON cannot carry: Prisma reads those.
 */
function compileJoinedRead(
  declaration: AnyResource,
  registry: ReadonlyMap<string, AnyResource>,
  query: PreparedQuery,
  columnsOf: (table: string) => Promise<TableColumns>,
): JoinedRead | null {
  const relations: { name: string; table: string; foreignKey: string; fields: string[] }[] = [];
  for (const [name, args] of Object.entries(declaration.load ?? {})) {
    // A load names the Prisma relation: the camelCase of the relationship's name.
    const relationship = Object.entries(declaration.relationships).find(([relationshipName]) => camelCase(relationshipName) === name)?.[1];
    const select = (args as { select?: Record<string, unknown> } | null)?.select;
    const target = relationship?.types.length === 1 ? registry.get(relationship.types[0]!) : undefined;
    if (!relationship || relationship.kind !== 'to_one' || !relationship.foreignKey || !target || !select) return null;
    const fields = Object.entries(select).filter(([, wanted]) => wanted === true).map(([field]) => field);
    if (fields.length !== Object.keys(select).length) return null;
    relations.push({ name, table: target.table, foreignKey: relationship.foreignKey, fields });
  }
  const visible = visibleCondition(declaration);
  // $1 is the key: the conditions' parameters follow it.
  const bound: unknown[] = [null];
  const visibleText = compileCondition(visible, bound);
  const visibleValues = bound.slice(1);
  /** The conditions after the key and their parameters: the visible rows, within `reach` when there is one. */
  const where = (key: unknown, reach: RowCondition | undefined) => {
    if (!reach) return { conditions: visibleText, values: [key, ...visibleValues] };
    const values = [key];
    return { conditions: compileCondition({ and: [visible, reach] }, values), values };
  };

  const prepare = async () => {
    const joined = await Promise.all(
      relations.map(async ({ table, foreignKey, fields }) => ({ table, foreignKey: sqlColumn(foreignKey), columns: fields.map(sqlColumn), catalogue: await columnsOf(table) })),
    );
    const table = await columnsOf(declaration.table);
    const selection = joinedSelection({ name: declaration.table, columns: table }, joined);
    if (!selection) return null;
    const prefix = `read_${declaration.type}`;
    const fields = table.names.map(camelCase);
    const { decoders } = selection;
    const shape = (values: readonly unknown[]): Row => {
      const row: Record<string, unknown> = {};
      for (let index = 0; index < fields.length; index += 1) {
        const decode = decoders[index];
        row[fields[index]!] = decode ? decode(values[index]) : values[index];
      }
      let at = fields.length;
      for (const relation of relations) {
        let related: Record<string, unknown> | null = null;
        if (values[at] !== null) {
          related = {};
          for (let index = 0; index < relation.fields.length; index += 1) {
            const decode = decoders[at + 1 + index];
            const value = values[at + 1 + index];
            related[relation.fields[index]!] = decode ? decode(value) : value;
          }
        }
        row[relation.name] = related;
        at += 1 + relation.fields.length;
      }
      return row as Row;
    };
    // An integration's read by id, the most frequent, has its statement ready; other keys and reaches are made once each.
    const statements = new Map<string, PreparedStatement>();
    const statement = (key: string, many: boolean, conditions: string) => {
      const cacheKey = `${key} ${many} ${conditions}`;
      let made = statements.get(cacheKey);
      if (!made) {
        made = joinedReadStatement(selection, { column: key, many }, conditions, prefix);
        // Condition texts come from the declarations, so they are few; the cap holds should one ever vary with its values.
        if (statements.size < 100) statements.set(cacheKey, made);
      }
      return made;
    };
    return { byId: statement('id', false, visibleText), statement, shape };
  };

  let prepared: ReturnType<typeof prepare> | undefined;
  const plan = () =>
    (prepared ??= prepare().catch((error: unknown) => {
      // A failed read of the columns (the database away) is tried again by the next request.
      prepared = undefined;
      throw error;
    }));
  return {
    async one(id, reach) {
      const read = await plan();
      if (!read) return undefined;
      const { conditions, values } = where(id, reach);
      const [result] = await query(reach ? read.statement('id', false, conditions) : read.byId, values);
      return result ? read.shape(result[0] as unknown[]) : null;
    },
    async many(key, keys, reach) {
      const read = await plan();
      if (!read) return undefined;
      const { conditions, values } = where(keys, reach);
      const results = await query(read.statement(key, true, conditions), values);
      return results.map((result) => read.shape(result[0] as unknown[]));
    },
  };
}

/** The rows a declaration shows (`visibleWhere`: field = value), as a condition on its table. */
function visibleCondition(declaration: AnyResource, scope: Record<string, string> = {}): RowCondition {
  return { and: Object.entries({ ...declaration.visibleWhere, ...scope }).map(([field, value]) => ({ column: sqlColumn(field), is: value })) };
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

/**
 * Reads declared resources: picks the statement for a read (src/db/sql), runs it, shapes
 * its rows. A read by id (a record, the rows of a list's page) is one prepared statement
 * with the resource's loaded relations. A list is one statement for the page's ids plus
 * one capped count, in a transaction with a statement timeout (and above the cap an
 * EXPLAIN), then the read of those ids: the same statements whatever the page size, with
 * filters free to use SQL that Prisma's where cannot express (ILIKE, EXISTS).
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

  /** One visible record (within `access`, the caller's reach: accessWhere in access.ts), or null. */
  async findOne(type: string, id: string, access?: RowCondition): Promise<Row | null> {
    const declaration = this.declaration(type);
    const joined = this.joinedRead(declaration);
    if (joined) {
      const row = await joined.one(id, access);
      if (row !== undefined) return row;
    }
    const [row] = await this.prismaRows(declaration, 'id', [id], access);
    return row ?? null;
  }

  /**
   * The joined read of a declaration, made once; null without the prepared query option or
   * when its `load` is not made of to-one relationships' columns (Prisma then loads it).
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
  async find(type: string, id: string, access?: RowCondition): Promise<Row> {
    const row = await this.findOne(type, id, access);
    if (!row) throw recordNotFound();
    return row;
  }

  /** Visible records of one type (within `access`), by id or by a foreign key holding ids, in one query. */
  async findBy(type: string, field: string, values: readonly string[], access?: RowCondition): Promise<Row[]> {
    if (values.length === 0) return [];
    const declaration = this.declaration(type);
    const keys = [...new Set(values)];
    const joined = this.joinedRead(declaration);
    if (joined) {
      const rows = await joined.many(sqlColumn(field), keys, access);
      if (rows !== undefined) return rows;
    }
    return this.prismaRows(declaration, field, keys, access);
  }

  /** Visible records of one type meeting `condition` (and within `access`): their ids in one query, then their rows in one. */
  async findWhere(type: string, condition: RowCondition, access?: RowCondition): Promise<Row[]> {
    const declaration = this.declaration(type);
    const values: unknown[] = [];
    const conditions = compileCondition({ and: [visibleCondition(declaration), condition, ...(access ? [access] : [])] }, values);
    const ids = await this.run<{ id: string }[]>({ text: idsWhere(declaration.table, conditions), values });
    return this.findBy(type, 'id', ids.map((row) => row.id));
  }

  /**
   * Rows through Prisma, for a table without a joined read (a to-many load, a column JSON
   * cannot carry, a store without the prepared query). The caller's reach is SQL: with one,
   * the ids come from SQL first and Prisma loads those.
   */
  private async prismaRows(declaration: AnyResource, field: string, values: readonly string[], access: RowCondition | undefined): Promise<Row[]> {
    const delegate = this.delegate(declaration);
    if (access === undefined) {
      return delegate.findMany({ where: { [field]: { in: [...values] }, ...declaration.visibleWhere }, ...this.loadArgs(declaration) });
    }
    const bound: unknown[] = [values];
    const conditions = compileCondition({ and: [visibleCondition(declaration), access] }, bound);
    const ids = await this.run<{ id: string }[]>({ text: idsByKey(declaration.table, sqlColumn(field), conditions), values: bound });
    if (ids.length === 0) return [];
    return delegate.findMany({ where: { id: { in: ids.map((row) => row.id) } }, ...this.loadArgs(declaration) });
  }

  filterTarget(declaration: AnyResource): FilterTarget {
    const fieldsOf = (resource: AnyResource): FilterableField[] =>
      Object.entries(resource.attributes).flatMap(([name, attribute]) => {
        const column = columnOf(name, attribute);
        return attribute.filterable && column !== null
          ? // Filters take the API's type: a string shown over another column type is compared as text.
            [{ name, column: sqlColumn(column), type: attribute.type, ...(attribute.type === 'string' && attribute.columnType && attribute.columnType !== 'string' ? { asText: true } : {}) }]
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
  async list(declaration: AnyResource, query: ListQuery, scope: Record<string, string> = {}, where?: RowCondition): Promise<ListResult> {
    const values: unknown[] = [];
    const visible = compileCondition(where ? { and: [visibleCondition(declaration, scope), where] } : visibleCondition(declaration, scope), values);
    const filter = compileFilter(this.filterTarget(declaration), query.filter, { alias: base, firstParameter: values.length + 1 });
    const source: ListSource = { table: declaration.table, conditions: [visible, filter.text], values: [...values, ...filter.values] };
    const sort = listSort(query);
    const keys = sort.map(({ field, direction }) => {
      const attribute = Object.hasOwn(declaration.attributes, field) ? declaration.attributes[field] : undefined;
      return { column: sqlColumn((attribute && columnOf(field, attribute)) ?? camelCase(field)), direction, type: sortKeyType(declaration, field), notNull: false };
    });

    if (query.after === undefined) {
      const offset = (query.page.number - 1) * query.page.size;
      const [idRows, capped] = await this.withStatementTimeout<[{ id: string }[], { count: number }[]]>([
        this.run(pageByOffset(source, keys, query.page.size, offset)),
        this.run(cappedCount(source)),
      ]);
      const counted = await this.recordCount(capped, source);
      return { rows: await this.rowsInOrder(declaration, idRows), recordCount: counted.count, recordCountEstimated: counted.estimated };
    }

    if (query.after) {
      const { notNull } = await this.tableColumns(declaration.table);
      for (const key of keys) key.notNull = notNull.has(key.column);
    }
    const [pageRows, capped] = await this.withStatementTimeout<[({ id: string } & Record<string, string | null>)[], { count: number }[]]>([
      this.run(pageAfter(source, keys, query.page.size, query.after)),
      this.run(cappedCount(source)),
    ]);
    const counted = await this.recordCount(capped, source);
    const more = pageRows.length > query.page.size;
    const page = more ? pageRows.slice(0, query.page.size) : pageRows;
    const last = page.at(-1);
    const nextCursor =
      more && last ? encodeCursor(sort, { values: keys.map(({ type }, index) => cursorValue(last[`k${index}`] ?? null, type)), id: last.id }) : undefined;
    return {
      rows: await this.rowsInOrder(declaration, page),
      recordCount: counted.count,
      recordCountEstimated: counted.estimated,
      ...(nextCursor ? { nextCursor } : {}),
    };
  }

  /** Sends a statement through Prisma (inside a `$transaction` batch when given to one). */
  private run<T = unknown>(statement: Sql): Promise<T> {
    return this.db.$queryRawUnsafe<T>(statement.text, ...statement.values);
  }

  /** The visible rows of these ids, loaded in one query, in the ids' order. */
  private async rowsInOrder(declaration: AnyResource, idRows: readonly { id: string }[]): Promise<Row[]> {
    const ids = idRows.map((row) => row.id);
    const rows = await this.findBy(declaration.type, 'id', ids);
    const byId = new Map(rows.map((row) => [row.id, row]));
    return ids.flatMap((id) => byId.get(id) ?? []);
  }

  /** A table's columns, read once: reads list them, keyset conditions skip NULL handling for NOT NULL ones. */
  private tableColumns(table: string): Promise<TableColumns> {
    let columns = this.columnsByTable.get(table);
    if (!columns) {
      columns = this.run<ColumnRow[]>(tableColumnsStatement(table)).then(tableColumns);
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
      const [, ...results] = await this.db.$transaction([this.run(statementTimeout(this.listStatementTimeoutMs)), ...statements]);
      return results as T;
    } catch (error) {
      if (isStatementTimeout(error)) throw listTimedOut(this.listStatementTimeoutMs);
      throw error;
    }
  }

  /**
   * record_count from the capped count: exact up to `exactCountLimit`; past it, the
   * planner's estimate for the same rows, planning only.
   */
  private async recordCount(capped: { count: number }[], source: ListSource): Promise<{ count: number; estimated: boolean }> {
    const count = capped[0]?.count ?? 0;
    if (count <= exactCountLimit) return { count, estimated: false };
    const [explained] = await this.run<{ 'QUERY PLAN': unknown }[]>(rowEstimate(source));
    // The estimate can be stale or off for a complex filter; it is never below what was counted.
    return { count: Math.max(exactCountLimit + 1, estimatedRows(explained?.['QUERY PLAN'])), estimated: true };
  }
}
