// Migrations through Prisma's schema engine compiled to WebAssembly
// (@prisma/schema-engine-wasm, pinned to the engine hash of the installed prisma CLI):
// the native schema-engine binary that `prisma migrate` needs cannot be downloaded here.
// The engine reaches PostgreSQL through @prisma/adapter-pg, so it records applied
// migrations in `_prisma_migrations` exactly as `prisma migrate deploy` does.
import { fork } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, extname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PrismaPg } from '@prisma/adapter-pg';
import {
  bindMigrationAwareSqlAdapterFactory,
  ColumnTypeEnum,
  type SqlDriverAdapter,
  type SqlMigrationAwareDriverAdapterFactory,
  type SqlQuery,
  type SqlResultSet,
} from '@prisma/driver-adapter-utils';
import type { MigrationList, SchemaEngine, SchemaFilter } from '@prisma/schema-engine-wasm/schema_engine_bg';
import pg from 'pg';

type SchemaEngineModule = typeof import('@prisma/schema-engine-wasm/schema_engine_bg');

// The part of the WebAssembly API used here: the project's `lib` (ES2023, no DOM) and
// @types/node do not declare it.
type WasmImports = Record<string, unknown>;
interface WasmApi {
  instantiate(
    bytes: Uint8Array,
    imports: Record<string, WasmImports>,
  ): Promise<{ instance: { exports: Record<string, unknown> } }>;
}
const wasmApi = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

export interface ApplyMigrationsOptions {
  /** Folder in Prisma's layout: `<timestamp>_<name>/migration.sql` and `migration_lock.toml`. */
  migrationsDir: string;
  /** The Prisma schema; the engine wants a datamodel even though it applies SQL files. */
  schemaPath: string;
  log?: (line: string) => void;
}

const noFilters: SchemaFilter = { externalTables: [], externalEnums: [] };

let engineModule: Promise<SchemaEngineModule> | undefined;

// The engine races operations against timers and never clears them when the operation
// wins (applyMigrations leaves one of 10 s): left alone they keep the process alive
// after the work is done. Timers it starts are tracked and cleared once no engine is
// running; a dropped Rust future has no use for them.
const engineTimers = new Set<NodeJS.Timeout>();
let runningEngines = 0;

function clearEngineTimers(): void {
  for (const timer of engineTimers) clearTimeout(timer);
  engineTimers.clear();
}

/**
 * Instantiates the engine's WASM once per process. The package's main entry imports the
 * `.wasm` file as an ES module, which Node 20 cannot do, so the bindings module is
 * wired to the instance by hand: it is the instance's only import namespace.
 */
function loadSchemaEngine(): Promise<SchemaEngineModule> {
  engineModule ??= (async () => {
    const bindings = await import('@prisma/schema-engine-wasm/schema_engine_bg');
    const bindingsPath = createRequire(import.meta.url).resolve('@prisma/schema-engine-wasm/schema_engine_bg');
    const bytes = await readFile(join(dirname(bindingsPath), 'schema_engine_bg.wasm'));
    const imports: WasmImports = { ...bindings };
    const setTimeoutImport = Object.keys(imports).find((key) => key.startsWith('__wbg_setTimeout_'));
    if (setTimeoutImport !== undefined) {
      imports[setTimeoutImport] = (callback: () => void, ms: number) => {
        const timer = setTimeout(() => {
          engineTimers.delete(timer);
          callback();
        }, ms >>> 0);
        engineTimers.add(timer);
        return timer;
      };
    }
    const { instance } = await wasmApi.instantiate(bytes, { './schema_engine_bg.js': imports });
    bindings.__wbg_set_wasm(instance.exports);
    (instance.exports.__wbindgen_start as () => void)();
    return bindings;
  })();
  // A failed load (say, a missing file) should not poison every later call.
  engineModule.catch(() => {
    engineModule = undefined;
  });
  return engineModule;
}

/** Reads a migrations folder the way the Prisma CLI does: sorted directories, each with migration.sql. */
async function readMigrationsList(migrationsDir: string): Promise<MigrationList> {
  const baseDir = resolve(migrationsDir);
  const lockfileName = 'migration_lock.toml';
  const lockContent = await readFile(join(baseDir, lockfileName), 'utf8').catch(() => null);
  const entries = await readdir(baseDir, { withFileTypes: true }).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return [];
    throw error;
  });
  const names = entries
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort((a, b) => a.localeCompare(b));
  const migrationDirectories = await Promise.all(
    names.map(async (name) => {
      const content = await readFile(join(baseDir, name, 'migration.sql'), 'utf8').then(
        (value) => ({ tag: 'ok' as const, value }),
        (error: Error) => ({ tag: 'error' as const, value: error.message }),
      );
      return { path: name, migrationFile: { path: 'migration.sql', content } };
    }),
  );
  return {
    baseDir,
    lockfile: { path: lockfileName, content: lockContent },
    shadowDbInitScript: '',
    migrationDirectories,
  };
}

/**
 * Runs `work` with an engine bound to `factory`, then frees the engine. Errors thrown by
 * the adapter reach the engine as opaque ids ("External error id#N"); they are swapped
 * back for the original error so callers see e.g. the PostgreSQL message.
 */
async function withEngine<T>(
  datamodel: { path: string; content: string },
  factory: SqlMigrationAwareDriverAdapterFactory,
  log: ((line: string) => void) | undefined,
  work: (engine: SchemaEngine) => Promise<T>,
): Promise<T> {
  const { SchemaEngine } = await loadSchemaEngine();
  const bound = bindMigrationAwareSqlAdapterFactory(factory);
  const onEngineLog = (line: string): void => {
    if (log !== undefined) log(formatEngineLog(line));
  };
  let engine: SchemaEngine | undefined;
  runningEngines += 1;
  try {
    engine = await SchemaEngine.new({ datamodels: [[datamodel.path, datamodel.content]] }, onEngineLog, bound);
    return await work(engine);
  } catch (error) {
    const id = /External error id#(\d+)/.exec(error instanceof Error ? error.message : String(error))?.[1];
    const original = id === undefined ? undefined : bound.errorRegistry.consumeError(Number(id));
    if (original !== undefined) throw original.error;
    throw error;
  } finally {
    engine?.free();
    runningEngines -= 1;
    if (runningEngines === 0) clearEngineTimers();
  }
}

/** The engine logs JSON lines; keep them readable for humans. */
function formatEngineLog(line: string): string {
  try {
    const parsed = JSON.parse(line) as { level?: string; fields?: { message?: string } };
    const message = parsed.fields?.message;
    if (typeof message === 'string') return `schema-engine ${parsed.level ?? ''}: ${message}`.trim();
  } catch {
    // not JSON: pass it through as is
  }
  return `schema-engine: ${line}`;
}

/**
 * Applies the not yet applied migrations of `migrationsDir` to the database, as
 * `prisma migrate deploy` does: in order, each recorded in `_prisma_migrations` with its
 * checksum. A migration that fails stops the run and is recorded as failed.
 */
export async function applyMigrations(
  databaseUrl: string,
  options: ApplyMigrationsOptions,
): Promise<{ applied: string[] }> {
  const { log } = options;
  const migrationsList = await readMigrationsList(options.migrationsDir);
  const schema = await readFile(options.schemaPath, 'utf8');
  log?.(`${migrationsList.migrationDirectories.length} migration(s) found in ${migrationsList.baseDir}`);

  // One connection, like the native engine: its advisory lock and the migration
  // statements then share a session. The pool is ours, so we close it: the engine frees
  // its memory but does not end node-postgres pools.
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 1 });
  pool.on('error', (error) => log?.(`postgres connection error: ${error.message}`));
  try {
    const factory = new PrismaPg(pool);
    const output = await withEngine({ path: options.schemaPath, content: schema }, factory, log, (engine) =>
      engine.applyMigrations({ migrationsList, filters: noFilters }),
    );
    for (const name of output.appliedMigrationNames) log?.(`applied ${name}`);
    if (output.appliedMigrationNames.length === 0) log?.('no pending migrations');
    return { applied: output.appliedMigrationNames };
  } finally {
    await pool.end();
  }
}

/** What applyMigrationsInChild sends its process (src/db/migrate-child.ts). */
export interface MigrationRequest {
  databaseUrl: string;
  migrationsDir: string;
  schemaPath: string;
}

/** What the process answers: engine log lines, then the names applied or the error. */
export type MigrationResponse = { log: string } | { applied: string[] } | { error: { name: string; message: string; code?: string } };

/**
 * applyMigrations in a short-lived child process: the schema engine's memory (its
 * WebAssembly instance and heap, about 50 MiB that a process does not give back) leaves
 * with the process instead of staying in the server for as long as it runs. The child
 * runs this module's sibling as this module runs: compiled JavaScript from dist/ under
 * plain node, TypeScript sources under tsx. It fails as applyMigrations does, with the
 * error's name, message and code.
 */
export function applyMigrationsInChild(databaseUrl: string, options: ApplyMigrationsOptions): Promise<{ applied: string[] }> {
  const self = fileURLToPath(import.meta.url);
  const extension = extname(self);
  const child = fork(join(dirname(self), `migrate-child${extension}`), [], {
    // Only the loader the sources need: the server's own flags (a young generation size, a
    // CPU profile, --trace-gc) are not the migration's.
    execArgv: extension === '.ts' ? ['--import', 'tsx'] : [],
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString('utf8')).slice(-4_000)));
  return new Promise((done, fail) => {
    let answered = false;
    child.on('message', (message: MigrationResponse) => {
      if ('log' in message) return options.log?.(message.log);
      answered = true;
      if ('applied' in message) return done({ applied: message.applied });
      fail(Object.assign(new Error(message.error.message), { name: message.error.name }, message.error.code === undefined ? {} : { code: message.error.code }));
    });
    child.once('error', (error) => {
      answered = true;
      fail(new Error(`Cannot start the migration process: ${error.message}`));
    });
    child.once('exit', (code, signal) => {
      if (answered) return;
      const line = stderr.trim().split('\n')[0];
      fail(new Error(`The migration process stopped (${signal ?? `exit code ${code}`}) before it answered${line ? `: ${line}` : ''}`));
    });
    const request: MigrationRequest = { databaseUrl, migrationsDir: options.migrationsDir, schemaPath: options.schemaPath };
    child.send(request);
  });
}

/**
 * The SQL script that turns a database shaped by datamodel `from` (null: an empty
 * database) into one shaped by `to`: the body of a new migration. An empty string when
 * they are equivalent. Needs no database: see offlineAdapterFactory.
 */
export async function diffSchemas(from: string | null, to: string): Promise<string> {
  const target = { tag: 'schemaDatamodel' as const, files: [{ path: 'schema.prisma', content: to }] };
  const source =
    from === null
      ? { tag: 'empty' as const }
      : { tag: 'schemaDatamodel' as const, files: [{ path: 'schema.prisma', content: from }] };
  const result = await withEngine({ path: 'schema.prisma', content: to }, offlineAdapterFactory(), undefined, (engine) =>
    engine.diff({ from: source, to: target, script: true, exitCode: true, filters: noFilters }),
  );
  // With exitCode requested the engine answers 2 for "there are differences", 0 for none.
  if (result.exitCode === 0) return '';
  return result.stdout ?? '';
}

/**
 * Diffing two datamodels is pure computation, but the engine opens a connection when it
 * starts and runs one probe query (schema exists, server version). This stand-in answers
 * that probe as a PostgreSQL 15 server would (the oldest server we support; the version
 * only distinguishes CockroachDB and introspection features, not the SQL a diff renders)
 * and refuses everything else, so any attempt to touch a database fails loudly.
 */
function offlineAdapterFactory(): SqlMigrationAwareDriverAdapterFactory {
  const refuse = (what: string): Promise<never> =>
    Promise.reject(new Error(`diffSchemas works without a database, but the schema engine tried to ${what}`));
  const adapter: SqlDriverAdapter = {
    provider: 'postgres',
    adapterName: 'offline',
    getConnectionInfo: () => ({ schemaName: 'public', supportsRelationJoins: true }),
    queryRaw(query: SqlQuery): Promise<SqlResultSet> {
      if (/\bversion\(\)/.test(query.sql) && /server_version_num/.test(query.sql)) {
        return Promise.resolve({
          columnNames: ['exists', 'version', 'numeric_version'],
          columnTypes: [ColumnTypeEnum.Boolean, ColumnTypeEnum.Text, ColumnTypeEnum.Int32],
          rows: [[true, 'PostgreSQL 15.0 (offline diff)', 150000]],
        });
      }
      return refuse(`run: ${query.sql}`);
    },
    executeRaw: (query) => refuse(`run: ${query.sql}`),
    executeScript: () => refuse('run a script'),
    startTransaction: () => refuse('start a transaction'),
    dispose: () => Promise.resolve(),
  };
  return {
    provider: 'postgres',
    adapterName: 'offline',
    connect: () => Promise.resolve(adapter),
    connectToShadowDb: () => Promise.resolve(adapter),
  };
}
