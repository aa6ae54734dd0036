import { cp, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../src/app.ts';
import type { AppConfig } from '../src/config.ts';
import { defaultMigrationsDir } from '../src/routes/health.ts';
import { startTestContext, type TestContext } from './support/context.ts';

let context: TestContext;
let scratch: string;
beforeAll(async () => {
  context = await startTestContext();
  scratch = await mkdtemp(path.join(tmpdir(), 'health-test-'));
});
afterAll(async () => {
  await context?.close();
  await rm(scratch, { recursive: true, force: true });
});

const quiet = () => new Writable({ write: (_chunk, _encoding, done) => done() });

/** The same app on other settings, for the states a healthy test database cannot show. */
async function readiness(config: Partial<AppConfig>, migrationsDir?: string) {
  const app = await buildApp({ ...context.config, ...config }, { logStream: quiet(), ...(migrationsDir ? { migrationsDir } : {}) });
  try {
    const response = await app.inject({ method: 'GET', url: '/health/ready' });
    return { status: response.statusCode, body: response.json() };
  } finally {
    await app.close();
  }
}

describe('health', () => {
  it('live: 200 while the process runs, with no token', async () => {
    const response = await context.http.get('/health/live');
    expect(response.status).toBe(200);
    expect(response.body).toEqual({ status: 'ok' });
    expect(response.headers['cache-control']).toBe('no-store');
  });

  it('ready: 200 when the database answers and every migration is applied', async () => {
    const response = await context.http.get('/health/ready');
    expect(response.status).toBe(200);
    expect(response.body).toEqual({ status: 'ok', database: 'ok', migrations: 'ok' });
  });

  it('ready: 503 naming the migrations on disk that the database has not recorded', async () => {
    const migrationsDir = path.join(scratch, 'migrations');
    await cp(defaultMigrationsDir, migrationsDir, { recursive: true });
    await mkdir(path.join(migrationsDir, '29991231000000_not_yet_applied'));
    const { status, body } = await readiness({}, migrationsDir);
    expect(status).toBe(503);
    expect(body).toEqual({ status: 'unavailable', database: 'ok', migrations: 'pending', pending_migrations: ['29991231000000_not_yet_applied'] });
  });

  it('ready: 503 when the migrations folder cannot be read', async () => {
    const { status, body } = await readiness({}, path.join(scratch, 'nowhere'));
    expect(status).toBe(503);
    expect(body).toMatchObject({ status: 'unavailable', database: 'ok', migrations: 'unknown' });
  });

  it('ready: 503 when the database is unreachable, without saying where it is', async () => {
    const { status, body } = await readiness({ databaseUrl: 'postgresql://postgres:secret@127.0.0.1:1/payments' });
    expect(status).toBe(503);
    expect(body).toEqual({ status: 'unavailable', database: 'unreachable', migrations: 'unknown' });
  });
});
