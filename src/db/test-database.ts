import { randomBytes } from 'node:crypto';
import pg from 'pg';

export interface TestDatabase {
  databaseUrl: string;
  /** Drops the database, closing any connection still open to it. */
  drop(): Promise<void>;
}

/**
 * Creates an empty database with a unique name (`payments_test_<random>`) on the server
 * of `adminUrl`, so a test run never depends on, nor disturbs, what other runs or
 * developers left on a shared server. `adminUrl` must name an existing database (e.g.
 * `postgres`) and a role allowed to create databases. With `copyOf`, the new database is a
 * copy of that one (which nobody may be connected to while it is copied).
 */
export async function createTestDatabase(adminUrl: string, options: { copyOf?: string } = {}): Promise<TestDatabase> {
  const name = `payments_test_${randomBytes(6).toString('hex')}`;
  await runAsAdmin(adminUrl, (client) => {
    const create = `CREATE DATABASE ${client.escapeIdentifier(name)}`;
    return options.copyOf === undefined ? create : `${create} TEMPLATE ${client.escapeIdentifier(options.copyOf)}`;
  });

  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  let dropping: Promise<void> | undefined;
  return {
    databaseUrl: url.toString(),
    drop() {
      // FORCE (PostgreSQL 13+): a pool someone forgot to close must not keep it alive.
      dropping ??= runAsAdmin(adminUrl, (client) => `DROP DATABASE IF EXISTS ${client.escapeIdentifier(name)} WITH (FORCE)`);
      return dropping;
    },
  };
}

async function runAsAdmin(adminUrl: string, statement: (client: pg.Client) => string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(statement(client));
  } finally {
    await client.end();
  }
}
