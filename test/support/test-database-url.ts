import { inject } from 'vitest';

/**
 * This worker's migrated database (test/support/database.ts). Files in one worker run one
 * after another, so a file shares its database only with the files before it.
 */
export function testDatabaseUrl(): string {
  const urls = inject('databaseUrls');
  const worker = Number(process.env.VITEST_POOL_ID ?? '1');
  return urls[(worker - 1) % urls.length] as string;
}
