import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // The workspace packages' own tests run with the project's.
    include: ['test/**/*.test.ts', 'packages/*/test/**/*.test.ts'],
    // One fresh, migrated database for the run: see test/support/database.ts.
    globalSetup: ['test/support/database.ts'],
    // Two files at a time at least (vitest's default is one less than the cores: one on a
    // 2-core CI machine): most of a file's time is spent waiting on its servers, PostgreSQL
    // and timers, so the suite takes 5 minutes there instead of 8.5.
    maxWorkers: Math.max(2, availableParallelism() - 1),
    // Set-up and tear-down start and stop real servers; a loaded machine needs more than 10 s.
    hookTimeout: 30_000,
    // Every server of the run shares one job queue, so any may retry a webhook: all retry fast.
    env: { WEBHOOK_RETRY_BASE_MS: '10' },
  },
});
