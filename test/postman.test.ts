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

function runCollection(baseUrl: string): Promise<NewmanRunSummary> {
  return new Promise((resolve, reject) => {
    newman.run(
      {
        collection: path.join(postmanDir, 'stripe-payments-api.postman_collection.json'),
        environment: path.join(postmanDir, 'local.postman_environment.json'),
        // The environment as shipped, pointed at this run's server and application.
        envVar: [
          { key: 'base_url', value: baseUrl },
          { key: 'client_id', value: context.credentials.clientId },
          { key: 'client_secret', value: context.credentials.clientSecret },
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
});
