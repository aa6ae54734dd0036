// npm run db:migrate: applies pending migrations to DATABASE_URL, like `prisma migrate deploy`.
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { applyMigrations } from '../src/db/migrations.ts';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const databaseUrl = process.env.DATABASE_URL;
if (databaseUrl === undefined || databaseUrl === '') {
  console.error('DATABASE_URL is not set: it names the database to migrate');
  process.exit(2);
}

try {
  const { applied } = await applyMigrations(databaseUrl, {
    migrationsDir: join(root, 'prisma', 'migrations'),
    schemaPath: join(root, 'prisma', 'schema.prisma'),
  });
  if (applied.length === 0) console.log('no pending migrations');
  for (const name of applied) console.log(`applied ${name}`);
} catch (error) {
  console.error(`migration failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
}
