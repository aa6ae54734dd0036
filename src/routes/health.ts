import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { PrismaClient } from '../db/client.ts';
import type { RateLimitStatus } from '../plugins/rate-limit.ts';

/** prisma/migrations beside src/, where the Dockerfile and the repository keep it. */
export const defaultMigrationsDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'prisma', 'migrations');

// A probe must answer even when the pool waits forever for a connection.
const checkTimeoutMs = 2_000;

/** The health responses; the OpenAPI document is generated from these. */
export const healthSchemas = {
  health_live: z.object({ status: z.literal('ok') }),
  health_ready: z.object({
    status: z.enum(['ok', 'unavailable']),
    database: z.enum(['ok', 'unreachable']),
    migrations: z.enum(['ok', 'pending', 'unknown']).describe('unknown: the database is unreachable or the migrations folder could not be read.'),
    pending_migrations: z.array(z.string()).optional().describe('Migrations in prisma/migrations not recorded as finished in _prisma_migrations.'),
    redis: z
      .enum(['ok', 'unreachable'])
      .optional()
      .describe(
        'With REDIS_URL only. unreachable: rate limits are counted per instance until Redis is back; the instance still serves, so status stays ok.',
      ),
  }),
};

type Ready = z.infer<typeof healthSchemas.health_ready>;

function withTimeout<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${checkTimeoutMs} ms`)), checkTimeoutMs);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Migration names on disk: directories of the migrations folder, as the migrator reads them. */
async function migrationNames(migrationsDir: string): Promise<string[]> {
  const entries = await readdir(migrationsDir, { withFileTypes: true });
  return entries.filter((entry) => entry.isDirectory()).map((entry) => entry.name).sort();
}

/**
 * GET /health/live (the process answers) and GET /health/ready (the database answers and
 * has every migration of this build applied). The migration list is read from disk once,
 * at start: a build's migrations do not change while it runs, so a probe costs two small
 * queries. Neither route needs a token, and neither counts against the rate limit.
 */
export async function registerHealthRoutes(app: FastifyInstance, db: PrismaClient, migrationsDir: string, rateLimit?: RateLimitStatus): Promise<void> {
  const expected = await migrationNames(migrationsDir).catch((error: Error) => {
    app.log.error({ err: { message: error.message }, migrationsDir }, 'cannot read the migrations folder: /health/ready will answer 503');
    return undefined;
  });
  const routeConfig = { config: { rateLimit: false as const } };

  app.get('/health/live', routeConfig, async (_request, reply) => {
    return reply.header('cache-control', 'no-store').send({ status: 'ok' });
  });

  app.get('/health/ready', routeConfig, async (request, reply) => {
    const result: Ready = { status: 'ok', database: 'ok', migrations: 'ok' };
    try {
      await withTimeout(db.$queryRaw`SELECT 1`, 'SELECT 1');
      if (!expected) {
        result.migrations = 'unknown';
      } else {
        const rows = await withTimeout(
          db.$queryRaw<{ migration_name: string }[]>`
            SELECT migration_name FROM _prisma_migrations WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL`,
          'migrations query',
        ).catch((error: unknown) => {
          // No _prisma_migrations table yet means nothing is applied.
          request.log.warn({ err: { message: (error as Error).message } }, 'readiness: cannot read _prisma_migrations');
          return [];
        });
        const applied = new Set(rows.map((row) => row.migration_name));
        const pending = expected.filter((name) => !applied.has(name));
        if (pending.length > 0) {
          result.migrations = 'pending';
          result.pending_migrations = pending;
        }
      }
    } catch (error) {
      // The reason stays in the log: it may name hosts or users a probe caller should not see.
      request.log.warn({ err: { message: (error as Error).message } }, 'readiness: database unreachable');
      result.database = 'unreachable';
      result.migrations = 'unknown';
    }
    if (result.database !== 'ok' || result.migrations !== 'ok') result.status = 'unavailable';
    // Said, but not a reason to take the instance out: its own limits still hold, and
    // every instance would be out at once.
    const redis = rateLimit?.redis();
    if (redis !== undefined) result.redis = redis;
    return reply
      .code(result.status === 'ok' ? 200 : 503)
      .header('cache-control', 'no-store')
      .send(result);
  });
}
