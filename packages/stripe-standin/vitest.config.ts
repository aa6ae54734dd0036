import { defineConfig } from 'vitest/config';

// `npm test` in this package: its own tests, which need no database (the project's
// configuration, which vitest would otherwise find above, creates one).
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
  },
});
