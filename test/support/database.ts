// vitest globalSetup: fresh, migrated databases for the test run, one per worker.
//
// With DATABASE_URL set, it is used as the admin URL of a server to create the databases
// on (e.g. postgresql://postgres@127.0.0.1:5432/postgres); otherwise an embedded
// PostgreSQL is started in a temporary directory and removed afterwards.
// Files running at the same time never share a database: a file's webhooks, job queue and
// records meet only those of the files before it in the same worker, as in a serial run.
// Tests read their worker's URL with `testDatabaseUrl()` (test/support/test-database-url.ts),
// and the admin URL, for tests that need more databases of their own, with
// `inject('databaseAdminUrl')`.
import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';
import { startEmbeddedPostgres } from '../../src/db/embedded.ts';
import { applyMigrations } from '../../src/db/migrations.ts';
import { createTestDatabase } from '../../src/db/test-database.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Fresh databases with every migration applied, one per worker (`VITEST_POOL_ID`), dropped after the run. */
    databaseUrls: string[];
    /** Admin connection to the same server, to create further databases. */
    databaseAdminUrl: string;
    /** ENCRYPTION_KEY of every app in the run, base64: like instances of one deployment, they share it. */
    encryptionKey: string;
  }
}

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const migrationsDir = join(root, 'prisma', 'migrations');
export const schemaPath = join(root, 'prisma', 'schema.prisma');

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const cleanups: (() => Promise<void>)[] = [];
  const teardown = async (): Promise<void> => {
    // Newest first: the database before the server it lives on.
    for (const cleanup of cleanups.reverse()) await cleanup();
    cleanups.length = 0;
  };

  try {
    let adminUrl = process.env.DATABASE_URL;
    if (adminUrl === undefined || adminUrl === '') {
      const tempDir = await mkdtemp(join(tmpdir(), 'payments-test-pg-'));
      cleanups.push(() => rm(tempDir, { recursive: true, force: true }));
      // When run as root the server runs as the `postgres` user, which must be able to
      // enter the (0700) temporary directory to reach its data directory.
      await chmod(tempDir, 0o755);
      const embedded = await startEmbeddedPostgres({ dataDir: join(tempDir, 'data'), port: 0 });
      cleanups.push(() => embedded.stop());
      const url = new URL(embedded.databaseUrl);
      url.pathname = '/postgres';
      adminUrl = url.toString();
      console.log(`test database: embedded PostgreSQL on ${url.host}`);
    } else {
      console.log(`test database: on the server of DATABASE_URL (${new URL(adminUrl).host})`);
    }

    // Migrated once, then copied for each worker: a copy takes a fraction of a migration.
    const migrated = await createTestDatabase(adminUrl);
    cleanups.push(() => migrated.drop());
    await applyMigrations(migrated.databaseUrl, { migrationsDir, schemaPath });
    const workers = Math.max(1, project.config.maxWorkers);
    const databaseUrls: string[] = [];
    for (let worker = 0; worker < workers; worker++) {
      const copy = await createTestDatabase(adminUrl, { copyOf: new URL(migrated.databaseUrl).pathname.slice(1) });
      cleanups.push(() => copy.drop());
      databaseUrls.push(copy.databaseUrl);
    }

    project.provide('databaseUrls', databaseUrls);
    project.provide('databaseAdminUrl', adminUrl);
    project.provide('encryptionKey', randomBytes(32).toString('base64'));
  } catch (error) {
    await teardown().catch(() => {});
    throw error;
  }
  return teardown;
}
