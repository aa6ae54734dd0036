import { Writable } from 'node:stream';
import pg from 'pg';
import { buildApp } from '../../src/app.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, jsonApi, startTestContext, type TestContext } from '../support/context.ts';
import { testDatabaseUrl } from '../support/test-database-url.ts';

let context: TestContext;
// Other test files share the database: only this app's connections may be cut.
const applicationName = `db-fault-${process.pid}-${Date.now()}`;
beforeAll(async () => {
  const url = new URL(testDatabaseUrl());
  url.searchParams.set('application_name', applicationName);
  context = await startTestContext({ databaseUrl: url.toString() });
});
afterAll(async () => {
  await context?.close();
});

describe('database faults', () => {
  it('recovers by itself after every connection is terminated, answering 503 at worst', async () => {
    expect((await api(context).get('/api/orders')).status).toBe(200);
    const admin = new pg.Client({ connectionString: testDatabaseUrl() });
    await admin.connect();
    try {
      const { rows } = await admin.query<{ terminated: boolean }>(
        'SELECT pg_terminate_backend(pid) AS terminated FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1',
        [applicationName],
      );
      expect(rows.length).toBeGreaterThan(0);
    } finally {
      await admin.end();
    }
    const statuses: number[] = [];
    for (let attempt = 0; attempt < 10; attempt += 1) {
      const response = await api(context).get('/api/orders');
      statuses.push(response.status);
      if (response.status === 200) break;
      expect(response.body.errors[0].code).toBe('SERVICE_UNAVAILABLE');
    }
    expect(statuses.at(-1)).toBe(200);
    expect(statuses.every((status) => status === 200 || status === 503)).toBe(true);
  });

  it('answers 503 quickly, not 500, while the database cannot be reached', async () => {
    const app = await buildApp({ ...context.config, databaseUrl: 'postgresql://postgres@127.0.0.1:9/payments' }, { logStream: new Writable({ write: (_c, _e, done) => done() }) });
    try {
      // The keys load from the database on first use: without one, even a good token gets a 503.
      const token = context.token;
      const started = Date.now();
      const response = await app.inject({ method: 'GET', url: '/api/orders', headers: { accept: jsonApi, authorization: `Bearer ${token}` } });
      expect(response.statusCode).toBe(503);
      expect(response.headers['retry-after']).toBeDefined();
      expect(JSON.parse(response.body).errors[0].code).toBe('SERVICE_UNAVAILABLE');
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      await app.close();
    }
  });
});
