// The migrations in prisma/migrations must build exactly the schema that
// prisma/schema.prisma describes (and that the snapshot used by db:new-migration
// claims they build). Each side is materialised in a fresh database and the two are
// compared: through the catalog always, and with `pg_dump --schema-only` too when the
// machine's pg_dump can read the server (pg_dump 15 cannot dump the embedded 18).
import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { applyMigrations, applyMigrationsInChild, diffSchemas } from '../../src/db/migrations.ts';
import { createTestDatabase, type TestDatabase } from '../../src/db/test-database.ts';
import { migrationsDir, schemaPath } from '../support/database.ts';

const run = promisify(execFile);
const adminUrl = inject('databaseAdminUrl');
const snapshotPath = join(migrationsDir, 'schema.prisma.snapshot');

const created: TestDatabase[] = [];

async function freshDatabase(): Promise<string> {
  const database = await createTestDatabase(adminUrl);
  created.push(database);
  return database.databaseUrl;
}

async function withClient<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** A fresh database built by running the SQL that creates `schema` from nothing. */
async function databaseFromSchema(schema: string): Promise<string> {
  const url = await freshDatabase();
  const sql = await diffSchemas(null, schema);
  await withClient(url, (client) => client.query(sql));
  return url;
}

async function databaseFromMigrations(): Promise<string> {
  const url = await freshDatabase();
  await applyMigrations(url, { migrationsDir, schemaPath });
  return url;
}

const userSchemas = `n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'`;

/**
 * What a database's schema consists of, as sorted lines. Columns are keyed by name, not
 * position: a column added by a later migration comes last in its table while a fresh
 * CREATE TABLE puts it where the model has it, and that difference is not drift.
 */
async function describeSchema(url: string): Promise<Record<string, string[]>> {
  const queries: Record<string, string> = {
    relations: `
      SELECT n.nspname || '.' || c.relname || ' kind=' || c.relkind::text
             || coalesce(' view=' || pg_get_viewdef(c.oid), '') AS line
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE ${userSchemas} AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')`,
    columns: `
      SELECT n.nspname || '.' || c.relname || '.' || a.attname
             || ' ' || format_type(a.atttypid, a.atttypmod)
             || CASE WHEN a.attnotnull THEN ' not null' ELSE ' null' END
             || coalesce(' default ' || pg_get_expr(d.adbin, d.adrelid), '')
             || CASE WHEN a.attidentity <> '' THEN ' identity=' || a.attidentity::text ELSE '' END
             || CASE WHEN a.attgenerated <> '' THEN ' generated=' || a.attgenerated::text ELSE '' END
             || CASE WHEN a.attcollation <> 0 AND a.attcollation <> t.typcollation
                     THEN ' collate ' || a.attcollation::regcollation::text ELSE '' END AS line
      FROM pg_attribute a
      JOIN pg_class c ON c.oid = a.attrelid
      JOIN pg_namespace n ON n.oid = c.relnamespace
      JOIN pg_type t ON t.oid = a.atttypid
      LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
      WHERE ${userSchemas} AND c.relkind IN ('r', 'p', 'v', 'm', 'f') AND a.attnum > 0 AND NOT a.attisdropped`,
    constraints: `
      SELECT n.nspname || '.' || c.relname || ' ' || con.conname || ' ' || pg_get_constraintdef(con.oid) AS line
      FROM pg_constraint con
      JOIN pg_class c ON c.oid = con.conrelid
      JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE ${userSchemas}`,
    indexes: `
      SELECT pg_get_indexdef(i.indexrelid) AS line
      FROM pg_index i
      JOIN pg_class c ON c.oid = i.indrelid
      JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE ${userSchemas}`,
    sequences: `
      SELECT n.nspname || '.' || c.relname || ' ' || format_type(s.seqtypid, NULL)
             || ' start ' || s.seqstart || ' increment ' || s.seqincrement
             || ' min ' || s.seqmin || ' max ' || s.seqmax || ' cycle ' || s.seqcycle::text
             || coalesce(' owned by ' || (
                  SELECT dc.relname || '.' || da.attname
                  FROM pg_depend dep
                  JOIN pg_class dc ON dc.oid = dep.refobjid
                  JOIN pg_attribute da ON da.attrelid = dep.refobjid AND da.attnum = dep.refobjsubid
                  WHERE dep.objid = c.oid AND dep.classid = 'pg_class'::regclass
                    AND dep.deptype IN ('a', 'i')), '') AS line
      FROM pg_sequence s
      JOIN pg_class c ON c.oid = s.seqrelid
      JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE ${userSchemas}`,
    enums: `
      SELECT n.nspname || '.' || t.typname || ' ' || string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder) AS line
      FROM pg_type t
      JOIN pg_enum e ON e.enumtypid = t.oid
      JOIN pg_namespace n ON n.oid = t.typnamespace
      GROUP BY n.nspname, t.typname`,
    functions: `
      SELECT pg_get_functiondef(p.oid) AS line
      FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
      WHERE ${userSchemas} AND p.prokind IN ('f', 'p')
        AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')`,
    triggers: `
      SELECT pg_get_triggerdef(tg.oid) AS line
      FROM pg_trigger tg
      JOIN pg_class c ON c.oid = tg.tgrelid
      JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE ${userSchemas} AND NOT tg.tgisinternal`,
    extensions: `SELECT extname || ' ' || extversion AS line FROM pg_extension`,
  };
  return withClient(url, async (client) => {
    const described: Record<string, string[]> = {};
    for (const [name, sql] of Object.entries(queries)) {
      const { rows } = await client.query<{ line: string }>(sql);
      described[name] = rows
        .map((row) => row.line)
        // Prisma's bookkeeping table exists only on the migrations side.
        .filter((line) => !line.includes('_prisma_migrations'))
        .sort();
    }
    return described;
  });
}

/** The newest pg_dump on the machine, if any. */
async function findPgDump(): Promise<{ path: string; major: number } | undefined> {
  const candidates = ['pg_dump'];
  const versions = await readdir('/usr/lib/postgresql').catch(() => [] as string[]);
  for (const version of versions.sort((a, b) => Number(b) - Number(a))) {
    candidates.push(`/usr/lib/postgresql/${version}/bin/pg_dump`);
  }
  let best: { path: string; major: number } | undefined;
  for (const path of candidates) {
    const output = await run(path, ['--version']).then(
      (result) => result.stdout,
      () => '',
    );
    const major = Number(/(\d+)(?:\.\d+)?/.exec(output)?.[1]);
    if (Number.isInteger(major) && (best === undefined || major > best.major)) best = { path, major };
  }
  return best;
}

async function serverMajor(url: string): Promise<number> {
  return withClient(url, async (client) => {
    const { rows } = await client.query<{ server_version_num: string }>('SHOW server_version_num');
    return Math.floor(Number(rows[0]?.server_version_num) / 10_000);
  });
}

/**
 * `pg_dump --schema-only` without what legitimately differs: comments, the random
 * \restrict key of recent pg_dump releases, and the order of columns in CREATE TABLE.
 */
async function dumpSchema(pgDump: string, url: string): Promise<string> {
  const { stdout } = await run(
    pgDump,
    ['--schema-only', '--no-owner', '--no-privileges', '--exclude-table=_prisma_migrations', `--dbname=${url}`],
    { maxBuffer: 64 * 1024 * 1024 },
  );
  const lines = stdout.split('\n').filter((line) => line.trim() !== '' && !line.startsWith('--') && !/^\\(un)?restrict\b/.test(line));
  const normalised: string[] = [];
  let tableBody: string[] | undefined;
  for (const line of lines) {
    if (tableBody === undefined) {
      normalised.push(line);
      if (/^CREATE (UNLOGGED )?TABLE .*\($/.test(line)) tableBody = [];
    } else if (line.startsWith(')')) {
      normalised.push(...tableBody.map((column) => column.replace(/,$/, '')).sort(), line);
      tableBody = undefined;
    } else {
      tableBody.push(line);
    }
  }
  return normalised.join('\n');
}

describe('migrations', { timeout: 60_000 }, () => {
  const schema = readFile(schemaPath, 'utf8');
  let migrated: string;

  beforeAll(async () => {
    migrated = await databaseFromMigrations();
  }, 60_000);

  afterAll(async () => {
    await Promise.all(created.map((database) => database.drop()));
  }, 60_000);

  it('build exactly the schema that schema.prisma describes (catalog)', async () => {
    const expected = await databaseFromSchema(await schema);
    expect(
      await describeSchema(migrated),
      'prisma/schema.prisma and prisma/migrations disagree: run `npm run db:new-migration -- <name>`',
    ).toEqual(await describeSchema(expected));
  });

  it('build exactly the schema that schema.prisma describes (pg_dump)', async (context) => {
    const pgDump = await findPgDump();
    const server = await serverMajor(migrated);
    if (pgDump === undefined || pgDump.major < server) {
      context.skip(`no pg_dump able to read a PostgreSQL ${server} server`);
      return;
    }
    const expected = await databaseFromSchema(await schema);
    expect(await dumpSchema(pgDump.path, migrated)).toEqual(await dumpSchema(pgDump.path, expected));
  });

  it('match the snapshot that db:new-migration diffs against', async () => {
    const fromSnapshot = await databaseFromSchema(await readFile(snapshotPath, 'utf8'));
    expect(
      await describeSchema(migrated),
      `${snapshotPath} no longer describes what the migrations build`,
    ).toEqual(await describeSchema(fromSnapshot));
  });

  it('the comparison fails when the schema and the migrations disagree', async () => {
    const original = await schema;
    // A new column and a new model: the kinds of edits one forgets to migrate.
    const drifted = `${original.replace('model Order {', 'model Order {\n  driftNote String? @map("drift_note")')}
model DriftProbe {
  id String @id
  @@map("drift_probes")
}
`;
    expect(drifted).toContain('drift_note');
    // Compared with the schema as it is (not with the migrations) so that this test
    // checks the comparison alone, whatever state the repository is in.
    const baseline = await databaseFromSchema(original);
    const actual = await describeSchema(await databaseFromSchema(drifted));
    const expected = await describeSchema(baseline);
    expect(actual).not.toEqual(expected);
    expect(actual.columns?.filter((line) => !expected.columns?.includes(line))).toEqual([
      'public.drift_probes.id text not null',
      'public.orders.drift_note text null',
    ]);
    expect(actual.relations?.filter((line) => !expected.relations?.includes(line))).toEqual([
      'public.drift_probes kind=r',
    ]);

    const pgDump = await findPgDump();
    if (pgDump !== undefined && pgDump.major >= (await serverMajor(baseline))) {
      const driftedDatabase = await databaseFromSchema(drifted);
      expect(await dumpSchema(pgDump.path, driftedDatabase)).not.toEqual(await dumpSchema(pgDump.path, baseline));
    }
  });

  it('do not count column order as drift', async () => {
    // What a later migration adding a column mid-model looks like: ALTER TABLE appends
    // it, while a fresh CREATE TABLE puts it in model order.
    const original = await schema;
    const extended = original.replace('model Order {', 'model Order {\n  laterNote String? @map("later_note")');
    expect(extended).toContain('later_note');
    const alter = await diffSchemas(original, extended);
    expect(alter).toContain('ADD COLUMN');
    const altered = await databaseFromSchema(original);
    await withClient(altered, (client) => client.query(alter));
    const fresh = await databaseFromSchema(extended);
    expect(await describeSchema(altered)).toEqual(await describeSchema(fresh));

    const pgDump = await findPgDump();
    if (pgDump !== undefined && pgDump.major >= (await serverMajor(altered))) {
      expect(await dumpSchema(pgDump.path, altered)).toEqual(await dumpSchema(pgDump.path, fresh));
    }
  });

  it('apply nothing the second time, and record each one as prisma migrate deploy does', async () => {
    expect(await applyMigrations(migrated, { migrationsDir, schemaPath })).toEqual({ applied: [] });

    const directories = (await readdir(migrationsDir, { withFileTypes: true }))
      .filter((entry) => entry.isDirectory())
      .map((entry) => entry.name)
      .sort();
    expect(directories.length).toBeGreaterThan(0);
    const expectedRows = await Promise.all(
      directories.map(async (name) => ({
        migration_name: name,
        checksum: createHash('sha256')
          .update(await readFile(join(migrationsDir, name, 'migration.sql')))
          .digest('hex'),
        finished: true,
        rolled_back: false,
        applied_steps_count: 1,
      })),
    );
    const { rows } = await withClient(migrated, (client) =>
      client.query(`
        SELECT migration_name, checksum, finished_at IS NOT NULL AS finished,
               rolled_back_at IS NOT NULL AS rolled_back, applied_steps_count
        FROM _prisma_migrations ORDER BY migration_name`),
    );
    expect(rows).toEqual(expectedRows);
  });

  it('are all applied to every worker\'s database (globalSetup)', async () => {
    for (const url of inject('databaseUrls')) expect(await applyMigrations(url, { migrationsDir, schemaPath })).toEqual({ applied: [] });
  });
});

// The server applies them in a child process of its own (the schema engine's memory goes
// with it): several instances starting at once on an empty database, and failures as they
// were in the server's own process.
describe('migrations in a child process', { timeout: 60_000 }, () => {
  let database: TestDatabase | undefined;
  afterAll(async () => {
    await database?.drop();
  }, 60_000);

  it('applied by three at once on an empty database: one applies every migration, the others none', async () => {
    database = await createTestDatabase(adminUrl);
    const url = database.databaseUrl;
    const logged: string[] = [];
    const results = await Promise.all([0, 1, 2].map(() => applyMigrationsInChild(url, { migrationsDir, schemaPath, log: (line) => logged.push(line) })));
    const directories = (await readdir(migrationsDir, { withFileTypes: true })).filter((entry) => entry.isDirectory()).map((entry) => entry.name).sort();
    expect(results.map(({ applied }) => applied.length).sort((a, b) => a - b)).toEqual([0, 0, directories.length]);
    expect(results.flatMap(({ applied }) => applied)).toEqual(directories);
    expect(logged).toContainEqual(expect.stringMatching(/ migration\(s\) found in /));
    expect(await applyMigrations(url, { migrationsDir, schemaPath })).toEqual({ applied: [] });
  });

  it('fail with the error the server’s own process had: its name, message and code', async () => {
    const url = new URL(adminUrl);
    url.pathname = `/missing_${Date.now()}`;
    const inProcess = await applyMigrations(url.toString(), { migrationsDir, schemaPath }).then(
      () => undefined,
      (error: NodeJS.ErrnoException) => error,
    );
    expect(inProcess?.message).toMatch(/does not exist/);
    const inChild = await applyMigrationsInChild(url.toString(), { migrationsDir, schemaPath }).then(
      () => undefined,
      (error: NodeJS.ErrnoException) => error,
    );
    expect(inChild).toBeInstanceOf(Error);
    expect({ name: inChild!.name, message: inChild!.message, code: inChild!.code }).toEqual({ name: inProcess!.name, message: inProcess!.message, code: inProcess!.code });
  });
});

describe('migration files', () => {
  it('follow the layout of prisma migrate', async () => {
    expect(await readFile(join(migrationsDir, 'migration_lock.toml'), 'utf8')).toMatch(/^provider = "postgresql"$/m);
    for (const entry of await readdir(migrationsDir, { withFileTypes: true })) {
      if (!entry.isDirectory()) continue;
      expect(entry.name).toMatch(/^\d{14}_[a-z0-9_]+$/);
      expect(await readdir(join(migrationsDir, entry.name))).toEqual(['migration.sql']);
    }
  });
});
