// What a list request costs in PostgreSQL: the SQL the app's own store generates for a
// query string (captured, not copied), run under EXPLAIN ANALYZE on the bench database.
import pg from 'pg';
import { encodeCursor } from '../src/jsonapi/cursor.ts';
import { listSort, parseQuery } from '../src/jsonapi/query.ts';
import { ResourceStore, type AnyResource } from '../src/jsonapi/store.ts';
import { resources } from '../src/resources/index.ts';

export interface Statement {
  sql: string;
  values: unknown[];
}

const registry = () => new Map((resources as readonly AnyResource[]).map((resource) => [resource.type, resource]));

/**
 * The raw SQL statements ResourceStore.list sends for `type` and `queryString` (page ids,
 * count), captured through a stand-in database object; the Prisma load that follows is
 * by primary key and left out. The catalog read keyset paging makes (which columns are
 * NOT NULL) goes to `client` and is not listed.
 */
export async function listStatements(type: string, queryString: string, client?: pg.Client): Promise<Statement[]> {
  const captured: Statement[] = [];
  const types = registry();
  const declaration = types.get(type);
  if (!declaration) throw new Error(`no resource ${type}`);
  const recorder = {
    async $queryRawUnsafe(sql: string, ...values: unknown[]) {
      if (client && /"pg_attribute"/.test(sql)) return (await client.query(sql, values)).rows;
      // The list's statement timeout is not a statement of the list.
      if (/^SELECT set_config\('statement_timeout'/.test(sql)) return [];
      captured.push({ sql, values });
      return /count\(/i.test(sql) ? [{ count: 0 }] : [];
    },
    $transaction: (statements: Promise<unknown>[]) => Promise.all(statements),
    [declaration.model]: { findMany: async () => [] },
  };
  const store = new ResourceStore(recorder as never, types);
  const raw = Object.fromEntries(new URLSearchParams(queryString));
  await store.list(declaration, parseQuery(raw, declaration, types, 'list'));
  return captured;
}

interface PlanNode {
  'Node Type': string;
  'Index Name'?: string;
  'Relation Name'?: string;
  Plans?: PlanNode[];
}

export interface Explained {
  /** Median execution time over the runs, ms. */
  executionMs: number;
  planningMs: number;
  jitMs: number;
  /** The plan's spine, top down: e.g. "Limit > Incremental Sort > Index Scan Backward(stripe_payments_created_at_idx)". */
  shape: string;
}

function shapeOf(node: PlanNode): string {
  const here = `${node['Node Type']}${node['Index Name'] ? `(${node['Index Name']})` : node['Relation Name'] ? `(${node['Relation Name']})` : ''}`;
  const children = node.Plans ?? [];
  if (children.length === 0) return here;
  if (children.length === 1) return `${here} > ${shapeOf(children[0]!)}`;
  return `${here} > [${children.map(shapeOf).join(', ')}]`;
}

/** EXPLAIN (ANALYZE) `runs` times; the first run also warms the cache, so the median is reported. */
export async function explain(client: pg.Client, statement: Statement, runs = 3): Promise<Explained> {
  const results: Explained[] = [];
  for (let run = 0; run < runs; run += 1) {
    const { rows } = await client.query(`EXPLAIN (ANALYZE, FORMAT JSON) ${statement.sql}`, statement.values);
    const [report] = rows[0]['QUERY PLAN'] as [{ Plan: PlanNode; 'Execution Time': number; 'Planning Time': number; JIT?: { Timing?: { Total?: number } } }];
    results.push({
      executionMs: report['Execution Time'],
      planningMs: report['Planning Time'],
      jitMs: report.JIT?.Timing?.Total ?? 0,
      shape: shapeOf(report.Plan),
    });
  }
  results.sort((a, b) => a.executionMs - b.executionMs);
  return results[Math.floor(results.length / 2)]!;
}

// --------------------------------------------------------------------------------------
// Beside the store's own statements: what it would cost without them, on the same rows.
// Built from the captured statements, so they filter exactly as the app does; undefined
// when the store's SQL no longer has the shape assumed.

/** `"stripe_payments" "t" WHERE ...` of the store's capped count, `SELECT count(*) FROM (SELECT 1 FROM ... LIMIT n) ...`. */
function countSource(count: Statement): string | undefined {
  return /^SELECT count\(\*\)::int AS "count" FROM \(SELECT 1 FROM (.+) LIMIT \d+\) AS "capped"$/s.exec(count.sql.trim())?.[1];
}

/** The full count the store no longer runs: every matching row visited. */
export async function explainFullCount(client: pg.Client, count: Statement): Promise<Explained | undefined> {
  const source = countSource(count);
  if (!source) return undefined;
  return explain(client, { sql: `SELECT count(*)::int AS "count" FROM ${source}`, values: count.values });
}

/**
 * The planner's row estimate the store reads above the cap (EXPLAIN without ANALYZE): what
 * it costs, and how close it is to a full count.
 */
export async function plannerEstimate(client: pg.Client, count: Statement): Promise<{ planningMs: number; estimatedRows: number; actualRows: number } | undefined> {
  const source = countSource(count);
  if (!source) return undefined;
  const timings: number[] = [];
  let estimatedRows = 0;
  for (let run = 0; run < 3; run += 1) {
    const { rows } = await client.query(`EXPLAIN (SUMMARY, FORMAT JSON) SELECT 1 FROM ${source}`, count.values);
    const [report] = rows[0]['QUERY PLAN'] as [{ Plan: { 'Plan Rows': number }; 'Planning Time': number }];
    timings.push(report['Planning Time']);
    estimatedRows = report.Plan['Plan Rows'];
  }
  const { rows } = await client.query<{ count: number }>(`SELECT count(*)::int AS "count" FROM ${source}`, count.values);
  timings.sort((a, b) => a - b);
  return { planningMs: timings[1]!, estimatedRows, actualRows: rows[0]!.count };
}

/**
 * The `page[after]` cursor of the same deep page: the last row of the page before it,
 * read with the captured OFFSET statement, encoded as the API encodes it.
 */
export async function deepPageCursor(client: pg.Client, type: string, queryString: string, deep: Statement): Promise<string | undefined> {
  const match = /^SELECT "t"\."id" FROM (.+?) ORDER BY "t"\."created_at" DESC, "t"\."id" ASC LIMIT (\d+) OFFSET (\d+)$/s.exec(deep.sql.trim());
  if (!match) return undefined;
  const [, source, , offset] = match as unknown as [string, string, string, string];
  if (Number(offset) === 0) return undefined;
  const { rows } = await client.query<{ id: string; created_at: string }>(
    `SELECT "t"."id", "t"."created_at"::text AS "created_at" FROM ${source} ORDER BY "t"."created_at" DESC, "t"."id" ASC LIMIT 1 OFFSET ${Number(offset) - 1}`,
    deep.values,
  );
  const row = rows[0];
  if (!row) return undefined;
  const types = registry();
  const query = parseQuery(Object.fromEntries(new URLSearchParams(queryString)), types.get(type)!, types, 'list');
  return encodeCursor(listSort(query), { values: [row.created_at], id: row.id });
}

/** The same statement with PostgreSQL's JIT compiler off for the session. */
export async function explainWithoutJit(client: pg.Client, statement: Statement): Promise<Explained> {
  await client.query('SET jit = off');
  try {
    return await explain(client, statement);
  } finally {
    await client.query('RESET jit');
  }
}
