import { execFileSync, spawnSync } from 'node:child_process';
import { copyFile, chmod, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertPostgresUserCanReach, EmbeddedPostgresError } from '../src/db/embedded.ts';
import { listeningOrigin, projectRoot, spawnServer, type ServerProcess } from './support/server-process.ts';

// Every way `npm start` can fail before it serves: one line on stderr saying what failed
// and what to do, exit code 1, no stack trace, and nothing started or printed before.

// Each test starts a server process: on a loaded machine that takes more than 5 s.
const slow = { timeout: 60_000 };
const isRoot = process.getuid?.() === 0;
const folders: string[] = [];
async function folder(prefix: string, mode = 0o755): Promise<string> {
  const created = await mkdtemp(path.join(tmpdir(), prefix));
  folders.push(created);
  // As root the embedded server runs as the `postgres` user, which must reach its data folder.
  await chmod(created, mode);
  return created;
}
afterAll(async () => {
  for (const created of folders) await rm(created, { recursive: true, force: true });
});

async function failure(server: ServerProcess): Promise<string> {
  expect(await server.exitCode).toBe(1);
  const stderr = server.stderr();
  expect(stderr.split('\n')).toHaveLength(2); // one line and its newline
  expect(stderr).not.toMatch(/\n\s+at /);
  return stderr.trimEnd();
}

/** Until the server listens or stops. */
async function started(server: ServerProcess): Promise<void> {
  let exited = false;
  void server.exitCode.then(() => (exited = true));
  for (let waited = 0; !exited && !listeningOrigin(server.stdout()) && waited < 60_000; waited += 100) {
    await new Promise((done) => setTimeout(done, 100));
  }
}

function listen(server: Server): Promise<number> {
  return new Promise((done) => server.listen(0, '127.0.0.1', () => done((server.address() as { port: number }).port)));
}

describe('before anything starts', slow, () => {
  it('stops when its port is taken, before starting a database or printing credentials', async () => {
    const taken = createServer();
    const port = await listen(taken);
    try {
      const dataDir = await folder('payments-startup-port-');
      const server = spawnServer({ PORT: String(port), DATA_DIR: dataDir });
      expect(await failure(server)).toBe(
        `Port ${port} on 127.0.0.1 is already in use: stop the program listening there (another npm start?), or set PORT to a free port`,
      );
      expect(server.stdout()).toBe('');
      expect(await readdir(dataDir)).toEqual([]);
    } finally {
      taken.close();
    }
  });

  it('names every missing production variable in one line', async () => {
    const server = spawnServer({ NODE_ENV: 'production' });
    expect(await failure(server)).toBe(
      'Invalid configuration: DATABASE_URL is required when NODE_ENV=production; ENCRYPTION_KEY is required when NODE_ENV=production; STRIPE_API_URL is required when NODE_ENV=production',
    );
  });
});

describe('.env', slow, () => {
  it('is read when present, and the environment wins over it', async () => {
    const dir = await folder('payments-startup-env-');
    const file = path.join(dir, '.env');
    await writeFile(file, 'NODE_ENV=production\n');
    const fromFile = spawnServer({ ENV_FILE: file });
    expect(await failure(fromFile)).toMatch(/^Invalid configuration: DATABASE_URL is required when NODE_ENV=production/);

    const taken = createServer();
    const port = await listen(taken);
    try {
      // NODE_ENV from the environment: development, so the start goes on, to the port check.
      const overridden = spawnServer({ ENV_FILE: file, NODE_ENV: 'development', PORT: String(port), DATA_DIR: dir });
      expect(await failure(overridden)).toMatch(/^Port \d+ on 127\.0\.0\.1 is already in use/);
    } finally {
      taken.close();
    }
  });
});

describe('an external database', slow, () => {
  it('retries an unreachable server with backoff for DATABASE_CONNECT_TIMEOUT_SECONDS, then stops with one line', async () => {
    const closed = createServer();
    const port = await listen(closed);
    await new Promise((done) => closed.close(done));
    const server = spawnServer({
      DATABASE_URL: `postgresql://postgres:hunter2@127.0.0.1:${port}/payments`,
      STRIPE_API_URL: 'http://127.0.0.1:9',
      DATABASE_CONNECT_TIMEOUT_SECONDS: '1',
    });
    const line = await failure(server);
    expect(line).toBe(
      `Cannot reach the database "payments" on 127.0.0.1:${port} as postgres (ECONNREFUSED) after 1 s: start PostgreSQL or fix DATABASE_URL (DATABASE_CONNECT_TIMEOUT_SECONDS sets how long to wait)`,
    );
    expect(server.stdout()).toContain('Waiting for the database "payments"');
    expect(server.stdout() + line).not.toContain('hunter2');
  });
});

describe('the embedded database', slow, () => {
  let dataDir: string;
  let first: ServerProcess;
  let postgres: { port: number; password: string };
  beforeAll(async () => {
    dataDir = path.join(await folder('payments-startup-embedded-'), 'data');
    const temp = await folder('payments-startup-tmp-');
    first = spawnServer({ DATA_DIR: dataDir, TMPDIR: temp, LOG_LEVEL: 'info' });
    await started(first);
    if (!listeningOrigin(first.stdout())) throw new Error(`the first server did not start: ${first.stderr()}`);
    expect(await readdir(temp)).not.toContainEqual(expect.stringMatching(/^pg-password-/));
    const pid = await readFile(path.join(dataDir, 'postgres', 'postmaster.pid'), 'utf8');
    const { password } = JSON.parse(await readFile(path.join(dataDir, 'postgres', 'embedded-postgres.json'), 'utf8')) as { password: string };
    postgres = { port: Number(pid.split('\n')[3]), password };
  }, 90_000);
  afterAll(async () => {
    first?.stop();
    await first?.exitCode;
  });

  it('says where the docs and the database are, without the password; npm run db:psql connects', async () => {
    const origin = listeningOrigin(first.stdout())!;
    expect(first.stdout()).toContain(`API docs (Swagger UI): ${origin}/docs`);
    expect(first.stdout()).toContain(`Embedded PostgreSQL: postgresql://postgres@127.0.0.1:${postgres.port}/payments (npm run db:psql opens psql on it;`);
    expect(first.stdout()).not.toContain(postgres.password);
    if (spawnSync('psql', ['--version']).status !== 0) return console.warn('psql is not installed: npm run db:psql is not tried');
    const psql = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/db-psql.ts', '-tAc', 'SELECT count(*) FROM _prisma_migrations'], {
      cwd: projectRoot,
      env: { PATH: process.env.PATH ?? '', ENV_FILE: '/nonexistent', DATA_DIR: dataDir },
      encoding: 'utf8',
    });
    expect(psql.stderr).toBe('');
    expect(Number(psql.stdout.trim())).toBeGreaterThan(0);
  });

  it('refuses a second server on the same data folder', async () => {
    const second = spawnServer({ DATA_DIR: dataDir });
    expect(await failure(second)).toMatch(
      new RegExp(`^The embedded PostgreSQL of ${dataDir}/postgres is in use by another server \\(process \\d+\\): stop that server first, or give this one another DATA_DIR$`),
    );
    expect(second.stdout()).not.toContain('client_secret');
  });

  it('names wrong credentials in one line, without the password', async () => {
    const server = spawnServer({
      DATABASE_URL: `postgresql://postgres:wrong-password@127.0.0.1:${postgres.port}/payments`,
      STRIPE_API_URL: 'http://127.0.0.1:9',
    });
    const line = await failure(server);
    expect(line).toBe(
      `The database server refused the password for the database "payments" on 127.0.0.1:${postgres.port} as postgres: fix the user and password in DATABASE_URL`,
    );
  });

  it('creates a missing database, as prisma migrate deploy does, and starts', async () => {
    const name = `payments_created_${randomBytes(4).toString('hex')}`;
    const server = spawnServer({
      DATABASE_URL: `postgresql://postgres:${encodeURIComponent(postgres.password)}@127.0.0.1:${postgres.port}/${name}`,
      STRIPE_API_URL: 'http://127.0.0.1:9',
      DATA_DIR: await folder('payments-startup-created-'),
      LOG_LEVEL: 'info',
    });
    try {
      await started(server);
      expect(server.stderr()).toBe('');
      expect(server.stdout()).toContain(`Created the database "${name}"`);
      expect(server.stdout()).toContain('Applied migrations: ');
    } finally {
      server.stop();
      await server.exitCode;
    }
  });
});

describe.runIf(isRoot)('as root, where the postgres user cannot reach', slow, () => {
  it('a data folder: one line saying so, and no password file left in the temp folder', async () => {
    const temp = await folder('payments-startup-tmp-');
    const hidden = await folder('payments-startup-hidden-', 0o700);
    const server = spawnServer({ DATA_DIR: path.join(hidden, 'data'), TMPDIR: temp });
    expect(await failure(server)).toBe(
      `Embedded PostgreSQL runs as the OS user "postgres" when the server runs as root, and that user cannot enter ${hidden}: set DATA_DIR to a folder it can reach (e.g. /var/lib/payments), or set DATABASE_URL to a PostgreSQL server of your own`,
    );
    // (tsx keeps its cache there too)
    expect(await readdir(temp)).not.toContainEqual(expect.stringMatching(/^pg-password-|^payments-initdb-/));
  });

  it('the binaries (a clone in root\'s home folder): one line, not an unhandled spawn EACCES', async () => {
    const hidden = await folder('payments-startup-bin-', 0o700);
    const binary = path.join(hidden, 'initdb');
    await copyFile('/bin/true', binary);
    await chmod(binary, 0o755);
    const user = { uid: Number(execFileSync('id', ['-u', 'postgres']).toString()), gid: Number(execFileSync('id', ['-g', 'postgres']).toString()) };
    await expect(assertPostgresUserCanReach(user, await folder('payments-startup-data-'), [binary])).rejects.toThrowError(
      new EmbeddedPostgresError(
        `Embedded PostgreSQL runs as the OS user "postgres" when the server runs as root, and that user cannot run ${binary} (EACCES): clone the project into a folder every user can read (e.g. under /srv or /opt), or set DATABASE_URL to a PostgreSQL server of your own`,
      ),
    );
  });
});
