import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/app.ts';
import type { AppConfig } from '../../src/config.ts';
import { jsonApi } from './context.ts';

export interface CountedResponse {
  status: number;
  body: unknown;
  /** Every SQL statement the app sent while answering, in order, BEGIN and COMMIT included. */
  statements: string[];
  /** Those of them sent unnamed: parsed and planned by PostgreSQL each time. */
  unprepared: string[];
  /** How many transactions Prisma's engine began (its statements are named `prisma.<n> <text>`): 0 when every transaction was SQL. */
  prismaTransactions: number;
}

export interface CountingApp {
  /**
   * GET `url` with the bearer `token` until it answers without a server error (the warm-up,
   * up to 3 times; a 4xx may be what a test counts),
   * then once more, counting that one: the warm-up pays for what an app reads once (signing
   * keys, table columns, the token's revocation check). A failed read is not remembered, so
   * an uncounted failure would move those reads into the counted request.
   */
  get(url: string, token: string): Promise<CountedResponse>;
  /** Sends one request, counting it alone (warm the app up first with a request of the same kind). */
  send(method: 'POST' | 'PATCH' | 'DELETE', url: string, token: string, body: unknown): Promise<CountedResponse>;
  close(): Promise<void>;
}

/**
 * An app of its own over the test database that counts the SQL statements it sends, for
 * tests of what a request costs. It never listens, so nothing but the test talks to it: the
 * Stripe stand-in's webhooks go to the test context's app, and the work an app starts once
 * it listens (checking every gateway's webhook endpoint at Stripe, which in a database
 * shared with other test files re-registers theirs, two statements each) never runs. A
 * token is checked for revocation once for the whole test, not once a second. So what it
 * counts during a request is what that request sent.
 */
export async function countingApp(config: AppConfig): Promise<CountingApp> {
  let statements: string[] = [];
  let unprepared: string[] = [];
  let prismaTransactions = 0;
  const app: FastifyInstance = await buildApp(
    // No statement timeout to meet on a loaded machine: counts are not about speed.
    { ...config, tokenCheckCacheMs: 60 * 60_000, listStatementTimeoutMs: 600_000 },
    {
      logStream: new Writable({ write: (_chunk, _encoding, done) => done() }),
      onDatabaseQuery: (sql, prepared, name) => {
        statements.push(sql);
        if (!prepared) unprepared.push(sql);
        if (sql === 'BEGIN' && name?.startsWith('prisma.')) prismaTransactions += 1;
      },
    },
  );
  const counted = (response: { statusCode: number; body: string }): CountedResponse => {
    const result = { status: response.statusCode, body: response.body ? (JSON.parse(response.body) as unknown) : null, statements, unprepared, prismaTransactions };
    statements = [];
    unprepared = [];
    prismaTransactions = 0;
    return result;
  };
  const send = (url: string, token: string) => app.inject({ method: 'GET', url, headers: { accept: jsonApi, authorization: `Bearer ${token}` } });
  return {
    async get(url, token) {
      for (let attempt = 1; ; attempt += 1) {
        const warmUp = await send(url, token);
        if (warmUp.statusCode < 500) break;
        if (attempt === 3) throw new Error(`warm-up of ${url} answered ${warmUp.statusCode} ${attempt} times: ${warmUp.body.slice(0, 500)}`);
      }
      statements = [];
      unprepared = [];
      prismaTransactions = 0;
      const response = await send(url, token);
      return counted(response);
    },
    async send(method, url, token, body) {
      statements = [];
      unprepared = [];
      prismaTransactions = 0;
      const response = await app.inject({
        method,
        url,
        headers: { accept: jsonApi, 'content-type': jsonApi, authorization: `Bearer ${token}` },
        payload: JSON.stringify(body),
      });
      return counted(response);
    },
    close: () => app.close(),
  };
}
