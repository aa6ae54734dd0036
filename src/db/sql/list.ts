import { base, qualified, quoted } from './identifiers.ts';
import { keysetCondition, type PageCursor, type KeysetKey } from './keyset.ts';
import type { Sql } from './values.ts';

/**
 * The statements of a list over `<table> "t" WHERE <conditions>`: its page of ids (by
 * OFFSET, or by keyset after a cursor), its count capped at `exactCountLimit + 1`, the
 * planner's estimate above the cap, and the statement timeout they run under (in one
 * transaction). Always in a stable order: the sort keys, then the id.
 */

/** Up to this many matching rows a list's `record_count` is exact; above, it is estimated. */
export const exactCountLimit = 10_000;

/** The rows a list reads: `<table> "t"` where every condition (boolean SQL over "t"; '' or TRUE for none) holds. */
export interface ListSource {
  table: string;
  conditions: readonly string[];
  /** The conditions' parameters, in placeholder order. */
  values: readonly unknown[];
}

function from(source: ListSource, extra = ''): string {
  const conditions = [...source.conditions, extra].filter((condition) => condition !== '' && condition !== 'TRUE');
  const where = conditions.length === 1 ? conditions[0]! : conditions.map((condition) => `(${condition})`).join(' AND ');
  return `${quoted(source.table)} ${quoted(base)} ${where ? `WHERE ${where}` : ''}`;
}

function orderBy(keys: readonly KeysetKey[]): string {
  return [...keys.map(({ column, direction }) => `${qualified(base, column)} ${direction === 'desc' ? 'DESC' : 'ASC'}`), `${qualified(base, 'id')} ASC`].join(', ');
}

/** The ids of page `offset / size + 1`. */
export function pageByOffset(source: ListSource, keys: readonly KeysetKey[], size: number, offset: number): Sql {
  return { text: `SELECT ${qualified(base, 'id')} FROM ${from(source)} ORDER BY ${orderBy(keys)} LIMIT ${size} OFFSET ${offset}`, values: [...source.values] };
}

/**
 * The ids of the page after `cursor` (the first page for null) and one row more, which says
 * whether another page follows; with each sort key as text (`"k0"`, `"k1"`...), exactly as
 * the next cursor holds it (a timestamp's microseconds, a float's digits).
 */
export function pageAfter(source: ListSource, keys: readonly KeysetKey[], size: number, cursor: PageCursor | null): Sql {
  const values = [...source.values];
  const after = cursor ? keysetCondition(keys, cursor, values) : '';
  const selected = keys.map(({ column }, index) => `, ${qualified(base, column)}::text AS "k${index}"`).join('');
  return { text: `SELECT ${qualified(base, 'id')}${selected} FROM ${from(source, after)} ORDER BY ${orderBy(keys)} LIMIT ${size + 1}`, values };
}

/** Counts the matching rows, stopping after `exactCountLimit + 1`: a full count visits every one (hundreds of ms at a million). */
export function cappedCount(source: ListSource): Sql {
  return { text: `SELECT count(*)::int AS "count" FROM (SELECT 1 FROM ${from(source)} LIMIT ${exactCountLimit + 1}) AS "capped"`, values: [...source.values] };
}

/** The planner's row estimate for the same rows (`EXPLAIN (FORMAT JSON)`: planning only); read with `estimatedRows`. */
export function rowEstimate(source: ListSource): Sql {
  return { text: `EXPLAIN (FORMAT JSON) SELECT 1 FROM ${from(source)}`, values: [...source.values] };
}

/** The top plan node's row estimate from `EXPLAIN (FORMAT JSON)` (parsed or as text). */
export function estimatedRows(plan: unknown): number {
  const parsed = typeof plan === 'string' ? (JSON.parse(plan) as unknown) : plan;
  const rows = (parsed as [{ Plan?: { 'Plan Rows'?: unknown } }] | undefined)?.[0]?.Plan?.['Plan Rows'];
  return typeof rows === 'number' && Number.isFinite(rows) ? Math.round(rows) : 0;
}

/** Sets the statement timeout for the rest of the transaction: a list's first statement. */
export function statementTimeout(ms: number): Sql {
  return { text: `SELECT set_config('statement_timeout', $1, true)`, values: [String(ms)] };
}

/** PostgreSQL's query_canceled (57014), as Prisma's driver adapter reports it: the statement timeout fired. */
export function isStatementTimeout(error: unknown): boolean {
  const cause = (error as { meta?: { driverAdapterError?: { cause?: { originalCode?: unknown; code?: unknown } } } } | null)?.meta?.driverAdapterError?.cause;
  return cause?.originalCode === '57014' || cause?.code === '57014';
}
