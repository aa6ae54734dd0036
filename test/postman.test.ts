import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import newman, { type NewmanRunSummary } from 'newman';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestContext, type TestContext } from './support/context.ts';

const postmanDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'postman');

let context: TestContext;
beforeAll(async () => {
  context = await startTestContext();
});
afterAll(async () => {
  await context?.close();
});

function runCollection(baseUrl: string, credentials = { clientId: context.credentials.clientId, clientSecret: context.credentials.clientSecret }): Promise<NewmanRunSummary> {
  return new Promise((resolve, reject) => {
    newman.run(
      {
        collection: path.join(postmanDir, 'stripe-payments-api.postman_collection.json'),
        environment: path.join(postmanDir, 'local.postman_environment.json'),
        // The environment as shipped, pointed at this run's server and application.
        envVar: [
          { key: 'base_url', value: baseUrl },
          { key: 'client_id', value: credentials.clientId },
          { key: 'client_secret', value: credentials.clientSecret },
        ],
        reporters: [],
        timeoutRequest: 10_000,
      },
      (error, summary) => (error ? reject(error) : resolve(summary)),
    );
  });
}

describe('the Postman collection', () => {
  it('runs green with newman against a live server', async () => {
    const address = context.app.server.address();
    if (address === null || typeof address === 'string') throw new Error('the test server is not listening on TCP');
    const summary = await runCollection(`http://127.0.0.1:${address.port}`);

    const failures = summary.run.failures.map((failure) => `${failure.source?.name ?? '?'}: ${failure.error.test ?? failure.error.name}: ${failure.error.message}`);
    expect(failures).toEqual([]);
    const { requests, assertions } = summary.run.stats;
    expect(requests.failed).toBe(0);
    expect(assertions.failed).toBe(0);
    // Every request ran, each with at least its status assertion.
    expect(requests.total).toBeGreaterThanOrEqual(20);
    expect(assertions.total).toBeGreaterThan(requests.total);
    expect(summary.run.executions.find((execution) => execution.item.name === 'Create a stripe payment')?.response?.code).toBe(201);
  }, 60_000);

  it('stops with one clear failure when the credentials are missing', async () => {
    const address = context.app.server.address() as { port: number };
    const summary = await runCollection(`http://127.0.0.1:${address.port}`, { clientId: '', clientSecret: '' });
    expect(summary.run.failures.map((failure) => failure.error.message)).toEqual([
      'Set client_id and client_secret in the environment: the server prints them at its first start (or set API_CLIENT_ID and API_CLIENT_SECRET).',
    ]);
    // The run stopped at once: not a request was sent.
    expect(summary.run.executions.filter((execution) => execution.response)).toEqual([]);
  }, 60_000);

  it('gets its own token: a request sent first, without the token request, is authorized', async () => {
    const collection = JSON.parse(await readFile(path.join(postmanDir, 'stripe-payments-api.postman_collection.json'), 'utf8')) as {
      event: { listen: string; script: { exec: string[] } }[];
      item: { name: string; item: { name: string; request: { body?: { options?: { raw?: { language?: string } } } }; response?: unknown[] }[] }[];
    };
    expect(collection.event.map((event) => event.listen)).toEqual(['prerequest']);
    const requests = collection.item.flatMap((folder) => folder.item);
    // Every raw body is marked JSON, and every request has a saved example response.
    for (const request of requests) {
      if (request.request.body) expect(request.request.body.options?.raw?.language, request.name).toBe('json');
      expect(request.response, request.name).toHaveLength(1);
    }
    const address = context.app.server.address() as { port: number };
    const summary = await new Promise<NewmanRunSummary>((resolve, reject) =>
      newman.run(
        {
          collection: path.join(postmanDir, 'stripe-payments-api.postman_collection.json'),
          environment: path.join(postmanDir, 'local.postman_environment.json'),
          envVar: [
            { key: 'base_url', value: `http://127.0.0.1:${address.port}` },
            { key: 'client_id', value: context.credentials.clientId },
            { key: 'client_secret', value: context.credentials.clientSecret },
          ],
          reporters: [],
          // newman runs one folder (its types lack the option).
          ...({ folder: 'markets' } as object),
        },
        (error: Error | null, result: NewmanRunSummary) => (error ? reject(error) : resolve(result)),
      ),
    );
    expect(summary.run.failures.map((failure) => failure.error.message)).toEqual([]);
    expect(summary.run.executions.map((execution) => execution.response?.code)).not.toContain(401);
  }, 60_000);
});
