import { recordNotFound } from './errors.ts';
import { compileFilter, type FilterTarget, type FilterableField } from './filter.ts';
import type { ListQuery } from './query.ts';
import { columnOf, sqlColumn, type ResourceDeclaration } from './resource.ts';

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
}

// The engine handles declarations of any row type; handlers are typed at their declaration.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyResource = ResourceDeclaration<any, any>;
export type Row = { id: string } & Record<string, unknown>;

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
}

/** The top plan node's row estimate from `EXPLAIN (FORMAT JSON)` (parsed or as text). */
function estimatedRows(plan: unknown): number {
  const parsed = typeof plan === 'string' ? (JSON.parse(plan) as unknown) : plan;
  const rows = (parsed as [{ Plan?: { 'Plan Rows'?: unknown } }] | undefined)?.[0]?.Plan?.['Plan Rows'];
  return typeof rows === 'number' && Number.isFinite(rows) ? Math.round(rows) : 0;
}

/**
 * Reads declared resources. Primary lists run as one parameterised SQL query for the page's
 * ids plus one capped count (and above its cap an EXPLAIN), then one Prisma query loads those
 * rows: the same queries whatever the page size, with filters free to use SQL that Prisma's
 * where cannot express (ILIKE, EXISTS).
 */
export class ResourceStore {
  constructor(
    private readonly db: Database,
    readonly registry: ReadonlyMap<string, AnyResource>,
  ) {}

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
    return this.delegate(declaration).findFirst({ where: { id, ...declaration.visibleWhere, ...access }, ...this.loadArgs(declaration) });
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
   * `exactCountLimit`, PostgreSQL's estimate above (`recordCountEstimated`).
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
    const order = query.sort.map(({ field, direction }) => {
      const column = columnOf(field, declaration.attributes[field]!)!;
      return `"t".${quoted(sqlColumn(column))} ${direction === 'desc' ? 'DESC' : 'ASC'}`;
    });
    // A stable order makes pages deterministic: newest first by default, id as the tie-breaker.
    if (order.length === 0) order.push('"t"."created_at" DESC');
    order.push('"t"."id" ASC');
    const table = quoted(declaration.table);
    const offset = (query.page.number - 1) * query.page.size;
    const [idRows, count] = await Promise.all([
      this.db.$queryRawUnsafe<{ id: string }[]>(
        `SELECT "t"."id" FROM ${table} "t" ${where} ORDER BY ${order.join(', ')} LIMIT ${query.page.size} OFFSET ${offset}`,
        ...values,
      ),
      this.countMatching(`${table} "t" ${where}`, values),
    ]);
    const ids = idRows.map((row) => row.id);
    const rows = await this.findBy(declaration.type, 'id', ids);
    const byId = new Map(rows.map((row) => [row.id, row]));
    return { rows: ids.flatMap((id) => byId.get(id) ?? []), recordCount: count.count, recordCountEstimated: count.estimated };
  }

  /**
   * How many rows `source` (`<table> "t" WHERE ...`) holds. A full count visits every
   * matching row (hundreds of ms at a million), so it stops after `exactCountLimit + 1`
   * and, past the limit, takes the planner's estimate for the same WHERE: planning only.
   */
  private async countMatching(source: string, values: unknown[]): Promise<{ count: number; estimated: boolean }> {
    const [counted] = await this.db.$queryRawUnsafe<{ count: number }[]>(
      `SELECT count(*)::int AS "count" FROM (SELECT 1 FROM ${source} LIMIT ${exactCountLimit + 1}) AS "capped"`,
      ...values,
    );
    const count = counted?.count ?? 0;
    if (count <= exactCountLimit) return { count, estimated: false };
    const [explained] = await this.db.$queryRawUnsafe<{ 'QUERY PLAN': unknown }[]>(`EXPLAIN (FORMAT JSON) SELECT 1 FROM ${source}`, ...values);
    // The estimate can be stale or off for a complex filter; it is never below what was counted.
    return { count: Math.max(exactCountLimit + 1, estimatedRows(explained?.['QUERY PLAN'])), estimated: true };
  }
}
