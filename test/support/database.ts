// vitest globalSetup: one fresh, migrated database for the whole test run.
//
// With DATABASE_URL set, it is used as the admin URL of a server to create the database
// on (e.g. postgresql://postgres@127.0.0.1:5432/postgres); otherwise an embedded
// PostgreSQL is started in a temporary directory and removed afterwards.
// Tests read the URL with `inject('databaseUrl')` (also in process.env.TEST_DATABASE_URL,
// for code outside vitest's context such as a spawned server), and the admin URL, for
// tests that need more databases of their own, with `inject('databaseAdminUrl')`.
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
    /** A fresh database with every migration applied, dropped after the run. */
    databaseUrl: string;
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

    const database = await createTestDatabase(adminUrl);
    cleanups.push(() => database.drop());
    await applyMigrations(database.databaseUrl, { migrationsDir, schemaPath });

    project.provide('databaseUrl', database.databaseUrl);
    project.provide('databaseAdminUrl', adminUrl);
    project.provide('encryptionKey', randomBytes(32).toString('base64'));
    process.env.TEST_DATABASE_URL = database.databaseUrl;
  } catch (error) {
    await teardown().catch(() => {});
    throw error;
  }
  return teardown;
}
