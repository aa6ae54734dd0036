import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient } from '../generated/prisma/client.ts';

// Re-exported so the rest of the app imports the database layer from one place;
// `Prisma` holds the error classes and input types.
export { PrismaClient };
export { Prisma } from '../generated/prisma/client.ts';

export interface PrismaClientOptions {
  /** Most connections the pool opens; pg's default (10) when omitted. */
  poolMax?: number;
  /** Called with every SQL statement sent (tests count them). */
  onQuery?: (sql: string) => void;
}

/**
 * A Prisma client that talks to PostgreSQL through node-postgres: Prisma 7 runs queries
 * through its WASM query compiler and this driver adapter, with no native engine.
 * Callers own it and must `$disconnect()` it, which also closes the pool.
 */
export function createPrismaClient(databaseUrl: string, options: PrismaClientOptions = {}): PrismaClient {
  const adapter = new PrismaPg({
    connectionString: databaseUrl,
    // Fail fast while the database is down or saturated instead of queueing requests forever.
    connectionTimeoutMillis: 5_000,
    ...(options.poolMax === undefined ? {} : { max: options.poolMax }),
  });
  if (!options.onQuery) return new PrismaClient({ adapter });
  const client = new PrismaClient({ adapter, log: [{ level: 'query', emit: 'event' }] });
  const onQuery = options.onQuery;
  client.$on('query', (event) => onQuery(event.query));
  return client;
}
