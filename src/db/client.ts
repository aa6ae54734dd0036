import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { PrismaClient } from '../generated/prisma/client.ts';
import type { PreparedQuery } from '../jsonapi/store.ts';
import { sqlTransactions, type SqlTransactions } from './sql-transaction.ts';

// Re-exported so the rest of the app imports the database layer from one place;
// `Prisma` holds the error classes and input types.
export { PrismaClient };
export { Prisma } from '../generated/prisma/client.ts';

export interface PrismaClientOptions {
  /** Most connections the pool opens; pg's default (10) when omitted. */
  poolMax?: number;
  /** Called with every SQL statement sent to the server, whether it went by name, and the name (tests count them). */
  onQuery?: QueryListener;
  /**
   * `transaction`: the URL is a pooler in transaction mode, whose server connections change
   * between transactions: a named statement prepared on one is missing on the next (or
   * already there, prepared by another client), so statements go unnamed. Prisma's adapter
   * sends unnamed statements already; every session setting is `SET LOCAL` / set_config(…, true)
   * and every advisory lock transaction-scoped, so nothing else depends on the session.
   */
  pooler?: 'transaction' | undefined;
  /** How long a statement waits for a lock, ms (0: no limit); PostgreSQL's setting when omitted (scripts, tests). */
  lockTimeoutMs?: number;
}

/**
 * The server's, as long as Prisma lets an interactive transaction run: a statement that
 * waits longer for a lock (one held by a stuck or slow session) fails with 55P03, answered
 * 503, instead of keeping its request and its pool connection as long as the holder keeps it.
 */
export const defaultLockTimeoutMs = 5_000;

export type QueryListener = (sql: string, prepared: boolean, name?: string) => void;

export interface DatabaseClients {
  prisma: PrismaClient;
  /**
   * The same pool as Prisma's, without its query engine: the store's reads by id. Rows as
   * arrays of column values, typed as Prisma types them.
   */
  query: PreparedQuery;
  /** Transactions on the same pool, without Prisma's engine (src/db/sql-transaction.ts). */
  transactions: SqlTransactions;
  /** The pool itself (tests check out its connections). */
  pool: pg.Pool;
}

/**
 * Names for Prisma's statements, so that PostgreSQL parses and plans each text once per
 * connection instead of at every call: one name per text for the whole process (node-postgres
 * refuses a name reused for another text). Texts that vary with their arguments (an `IN` list
 * of any length) would name without end: past `limit` names, new texts go unnamed. A name
 * starts with its text (PostgreSQL keeps 63 bytes of it), so that what a connection sends
 * says what it runs, also when it sends only the name.
 */
export function statementNames(limit = 2_000): (query: { sql: string }) => string | undefined {
  const names = new Map<string, string>();
  return ({ sql }) => {
    let name = names.get(sql);
    if (name === undefined && names.size < limit) {
      name = `prisma.${names.size} ${sql.slice(0, 40)}`;
      names.set(sql, name);
    }
    return name;
  };
}

const timestampOid = 1114;

/** `timestamp(3)` columns hold UTC (as Prisma writes them): read them as UTC whatever the process's time zone. */
function utcTimestamp(text: string): Date {
  return new Date(`${text.replace(' ', 'T')}Z`);
}

// Asked once per column of every result: remembered per type (an array, indexed by oid, is the cheapest lookup).
const textParsers: ((text: string) => unknown)[] = [];
const columnTypes = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') => {
    if (format === 'binary') return pg.types.getTypeParser(oid, format);
    return (textParsers[oid] ??= oid === timestampOid ? utcTimestamp : pg.types.getTypeParser(oid, 'text'));
  }) as typeof pg.types.getTypeParser,
};

/**
 * One node-postgres pool shared by a Prisma client (which runs its queries through its
 * WASM query compiler and this driver adapter, with no native engine) and `query`, which
 * sends SQL straight to the pool. Callers own it and must `prisma.$disconnect()`, which
 * also closes the pool.
 */
export function connectDatabase(databaseUrl: string, options: PrismaClientOptions = {}): DatabaseClients {
  const named = options.pooler !== 'transaction';
  const { lockTimeoutMs } = options;
  const pool = new pg.Pool({
    connectionString: databaseUrl,
    // Fail fast while the database is down or saturated instead of queueing requests forever.
    connectionTimeoutMillis: 5_000,
    ...(options.poolMax === undefined ? {} : { max: options.poolMax }),
    // A setting of the session, sent when it starts: no statement per transaction. A
    // transaction pooler refuses it (and would lend the session to others): there the SQL
    // transactions set it for themselves, and Prisma's end at their own timeout.
    ...(named && lockTimeoutMs !== undefined ? { lock_timeout: lockTimeoutMs } : {}),
  });
  // An idle connection that dies (a restart, a failover) is dropped by the pool and the next
  // query opens another; requests see their own errors. Without a listener the pool's
  // 'error' event would end the process, and Prisma adds its own only once it connects.
  pool.on('error', () => {});
  // The same for a checked-out connection between two of its queries: node-postgres emits
  // its death as an 'error' on the client, and the pool listens only while it is idle. Found
  // by the soak with three instances (an instance ended with 57P01 when its connections were
  // terminated). The client is then not queryable: its next query fails as the database
  // being unavailable (a 503), and the pool drops it when it is released.
  pool.on('connect', (client) => client.on('error', () => {}));
  const onQuery = options.onQuery;
  if (onQuery) pool.on('connect', (client) => listenToQueries(client, onQuery));
  const adapter = new PrismaPg(pool, {
    disposeExternalPool: true,
    // The adapter's type says string; undefined is what it sends without a generator: unnamed.
    ...(named ? { statementNameGenerator: statementNames() as (query: { sql: string }) => string } : {}),
  });
  const prisma = new PrismaClient({ adapter });
  const query: PreparedQuery = async (statement, values) => {
    const config = { name: named ? statement.name : undefined, text: statement.text, values: values as unknown[], rowMode: 'array' as const, types: columnTypes };
    const result = await pool.query<unknown[]>(config);
    return result.rows;
  };
  const transactions = sqlTransactions(pool, { named, types: columnTypes, ...(named || !lockTimeoutMs ? {} : { lockTimeoutMs }) });
  return { prisma, query, transactions, pool };
}

/**
 * Every statement a connection sends, as node-postgres sends it: Prisma's (its transactions'
 * BEGIN included, which its own query log leaves out), the store's and the SQL transactions'.
 */
function listenToQueries(client: pg.PoolClient, onQuery: QueryListener): void {
  const send = client.query.bind(client) as (...args: unknown[]) => unknown;
  (client as unknown as { query: (...args: unknown[]) => unknown }).query = (config: unknown, ...rest: unknown[]) => {
    if (typeof config === 'string') onQuery(config, false);
    else if (config !== null && typeof config === 'object' && 'text' in config) {
      const { name } = config as { name?: unknown };
      onQuery(String(config.text), Boolean(name), typeof name === 'string' ? name : undefined);
    }
    return send(config, ...rest);
  };
}

/** A Prisma client over a pool of its own (scripts and tests that need nothing else). */
export function createPrismaClient(databaseUrl: string, options: PrismaClientOptions = {}): PrismaClient {
  return connectDatabase(databaseUrl, options).prisma;
}
