import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // The workspace packages' own tests run with the project's.
    include: ['test/**/*.test.ts', 'packages/*/test/**/*.test.ts'],
    // One fresh, migrated database per worker: see test/support/database.ts.
    globalSetup: ['test/support/database.ts'],
    // Two files at a time, each worker on a database of its own: on 2 cores, half the time
    // of one at a time. `--maxWorkers=N` takes more (and makes N databases).
    maxWorkers: 2,
    // Set-up and tear-down start and stop real servers; a loaded machine needs more than 10 s.
    hookTimeout: 30_000,
    // Every server of a worker shares its database's job queue, so any may retry a webhook: all retry fast.
    env: { WEBHOOK_RETRY_BASE_MS: '10' },
  },
});
