import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // The workspace packages' own tests run with the project's.
    include: ['test/**/*.test.ts', 'packages/*/test/**/*.test.ts'],
    // One fresh, migrated database for the run: see test/support/database.ts.
    globalSetup: ['test/support/database.ts'],
    // Set-up and tear-down start and stop real servers; a loaded machine needs more than 10 s.
    hookTimeout: 30_000,
    // Every server of the run shares one job queue, so any may retry a webhook: all retry fast.
    env: { WEBHOOK_RETRY_BASE_MS: '10' },
  },
});
