// Prisma 7 reads the CLI's settings from here (the schema's datasource block no longer
// holds a URL). The URL is optional so that `prisma generate` works without a database;
// migrations are applied by src/db/migrations.ts, not by the Prisma CLI.
import { defineConfig } from 'prisma/config';

const url = process.env.DATABASE_URL;

export default defineConfig({
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations' },
  ...(url === undefined || url === '' ? {} : { datasource: { url } }),
});
