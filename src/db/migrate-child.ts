// The process applyMigrationsInChild (migrations.ts) starts: applies the migrations it is
// sent over IPC, answers with the names applied or the error, and exits, taking Prisma's
// schema engine (WebAssembly, some 50 MiB) with it. The connection URL comes over IPC,
// not argv, so that its password never shows in a process list.
import { applyMigrations } from './migrations.ts';
import type { MigrationRequest, MigrationResponse } from './migrations.ts';

// The server stopped (a signal, a crash): nobody waits for the answer, and a migration cut
// here is one cut by the server's death, as when it ran in the server itself.
process.once('disconnect', () => process.exit(1));

const send = (message: MigrationResponse): Promise<void> => new Promise((done) => process.send!(message, () => done()));

process.once('message', async ({ databaseUrl, migrationsDir, schemaPath }: MigrationRequest) => {
  let answer: MigrationResponse;
  try {
    const { applied } = await applyMigrations(databaseUrl, { migrationsDir, schemaPath, log: (line) => void send({ log: line }) });
    answer = { applied };
  } catch (error) {
    const { name, message, code } = error instanceof Error ? (error as NodeJS.ErrnoException) : { name: 'Error', message: String(error), code: undefined };
    answer = { error: { name, message, ...(code === undefined ? {} : { code }) } };
  }
  await send(answer);
  process.exit(0);
});
