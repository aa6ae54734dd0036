import Fastify, { type FastifyInstance } from 'fastify';
import type { DestinationStream } from 'pino';
import { SigningKeys } from './auth/signing-keys.ts';
import { purgeExpiredTokenRecords, RecentTokenChecks, tokenIssuer } from './auth/tokens.ts';
import type { AppConfig } from './config.ts';
import { createSecretBox } from './crypto/secret-box.ts';
import { connectDatabase } from './db/client.ts';
import { purgeExpiredIdempotencyKeys, useIdempotencyKeys } from './plugins/idempotency.ts';
import { ResourceEngine } from './jsonapi/engine.ts';
import { useAccessToken } from './plugins/access-token.ts';
import { useCors } from './plugins/cors.ts';
import { useErrorHandler } from './plugins/error-handler.ts';
import { useJsonApiMediaType } from './plugins/json-api-media-type.ts';
import { useGracefulClose } from './plugins/graceful-close.ts';
import { loggingOptions, useRequestIdHeader } from './plugins/logging.ts';
import { useRateLimit } from './plugins/rate-limit.ts';
import { useSecurityHeaders } from './plugins/security-headers.ts';
import { resources } from './resources/index.ts';
import { defaultMigrationsDir, registerHealthRoutes } from './routes/health.ts';
import { registerDocsRoutes } from './routes/docs.ts';
import { registerOAuthRoutes } from './routes/oauth.ts';
import { registerRootRoute } from './routes/root.ts';
import type { Services } from './services.ts';
import { StripeClients } from './stripe/client.ts';
import { registerStripeWebhooks, type StripeWebhookOptions } from './webhooks/stripe.ts';

export interface BuildOptions {
  /** Where log lines go (tests capture them); defaults to stdout. */
  logStream?: DestinationStream;
  /** Sees every SQL statement the app sends (tests count them). */
  onDatabaseQuery?: (sql: string) => void;
  /** prisma/migrations, which /health/ready compares with _prisma_migrations; defaults to the repository's. */
  migrationsDir?: string;
  /** Stripe webhooks: public URL, signature tolerance, reconciliation timer (src/webhooks/stripe.ts). */
  stripeWebhooks?: StripeWebhookOptions;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Signs and verifies access tokens; tests use it to make expired or foreign tokens. */
    signingKeys: SigningKeys;
  }
}

/** Builds the whole application without listening: tests inject requests into it. */
export async function buildApp(config: AppConfig, options: BuildOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    ...loggingOptions(config, options.logStream),
    bodyLimit: config.bodyLimit,
    trustProxy: config.trustProxy,
    routerOptions: { ignoreTrailingSlash: true },
  });

  const { prisma: db, query } = connectDatabase(config.databaseUrl, {
    poolMax: config.databasePoolMax,
    ...(options.onDatabaseQuery ? { onQuery: options.onDatabaseQuery } : {}),
  });
  const recentTokenChecks = new RecentTokenChecks(config.tokenCheckCacheMs);
  const services: Services = {
    db,
    stripe: new StripeClients(config.stripe),
    secretBox: createSecretBox(config.encryptionKey),
    logger: app.log as unknown as Services['logger'],
    tokenChecks: recentTokenChecks,
  };
  // Expired Idempotency-Keys, revocations and refresh tokens are purged in the background; the timer never keeps the process alive.
  const purgeTimer = setInterval(() => {
    purgeExpiredIdempotencyKeys(db).catch((err: unknown) => app.log.warn({ err }, 'idempotency key purge failed'));
    purgeExpiredTokenRecords(db).catch((err: unknown) => app.log.warn({ err }, 'token record purge failed'));
  }, 10 * 60_000).unref();
  app.addHook('onClose', async () => {
    clearInterval(purgeTimer);
    await db.$disconnect();
  });

  useRequestIdHeader(app);
  useGracefulClose(app);
  useErrorHandler(app);

  await useSecurityHeaders(app);
  await useCors(app, config);
  await useRateLimit(app, config);
  const signingKeys = new SigningKeys(db, services.secretBox, {
    rotationSeconds: config.signingKeyRotationSeconds,
    tokenTtlSeconds: config.tokenTtlSeconds,
    issuer: tokenIssuer,
    onRotationError: (err) => app.log.error({ err }, 'signing key rotation failed; the current key keeps signing'),
  });
  app.decorate('signingKeys', signingKeys);

  registerRootRoute(app);
  // Health probes, then the OpenAPI document and /docs (which also start recording the routes registered below).
  await registerHealthRoutes(app, db, options.migrationsDir ?? defaultMigrationsDir);
  await registerDocsRoutes(app, resources);

  await registerOAuthRoutes(app, { db, signingKeys, tokenTtlSeconds: config.tokenTtlSeconds, tokenChecks: recentTokenChecks });

  const engine = new ResourceEngine(services, resources, {
    query,
    ...(config.listStatementTimeoutMs === undefined ? {} : { listStatementTimeoutMs: config.listStatementTimeoutMs }),
  });
  await app.register(
    async (api) => {
      useAccessToken(api, { signingKeys, db, tokenChecks: recentTokenChecks });
      useJsonApiMediaType(api);
      useIdempotencyKeys(api, db, { ttlSeconds: config.idempotencyKeyTtlSeconds });
      engine.register(api);
    },
    { prefix: '/api' },
  );
  await registerStripeWebhooks(app, services, config, options.stripeWebhooks);

  return app;
}
