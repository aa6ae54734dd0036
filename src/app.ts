import { useChangeAuthors } from './plugins/change-authors.ts';
import Fastify, { type FastifyInstance } from 'fastify';
import type { DestinationStream } from 'pino';
import { SigningKeys } from './auth/signing-keys.ts';
import { RecentTokenChecks, tokenIssuer } from './auth/tokens.ts';
import type { AppConfig } from './config.ts';
import { createSecretBox } from './crypto/secret-box.ts';
import { connectDatabase, defaultLockTimeoutMs, type QueryListener } from './db/client.ts';
import { useCors } from './plugins/cors.ts';
import { useErrorHandler } from './plugins/error-handler.ts';
import { clientErrorHandler, frameworkErrors } from './plugins/framework-errors.ts';
import { useGracefulClose } from './plugins/graceful-close.ts';
import { useInputGuard } from './plugins/input-guard.ts';
import { periodicJobs, useJobs, type JobQueueOptions, type ReconcileJobOptions } from './plugins/jobs.ts';
import { loggingOptions, useRequestIdHeader } from './plugins/logging.ts';
import { useRateLimit } from './plugins/rate-limit.ts';
import { useSecurityHeaders } from './plugins/security-headers.ts';
import { resources } from './resources/index.ts';
import { registerApiRoutes } from './routes/api.ts';
import { registerDocsRoutes } from './routes/docs.ts';
import { defaultMigrationsDir, registerHealthRoutes } from './routes/health.ts';
import { registerOAuthRoutes } from './routes/oauth.ts';
import { registerRootRoute } from './routes/root.ts';
import { registerStripeWebhookRoutes, type StripeWebhookOptions } from './routes/stripe-webhooks.ts';
import type { Services } from './services.ts';
import { setWebhookApiBase } from './webhooks/render.ts';
import { defaultDeliveryOptions, WebhookDelivery, type WebhookDeliveryOptions } from './webhooks/worker.ts';
import { StripeClients } from './stripe/client.ts';

export interface BuildOptions {
  /** Where log lines go (tests capture them); defaults to stdout. */
  logStream?: DestinationStream;
  /** Sees every SQL statement the app sends (tests count them). */
  onDatabaseQuery?: QueryListener;
  /** prisma/migrations, which /health/ready compares with _prisma_migrations; defaults to the repository's. */
  migrationsDir?: string;
  /**
   * Stripe webhooks: public URL and signature tolerance (src/routes/stripe-webhooks.ts), and
   * the reconciliation job for missed deliveries, off when absent (src/plugins/jobs.ts).
   */
  stripeWebhooks?: StripeWebhookOptions & { reconcile?: ReconcileJobOptions };
  /** How often the job queue polls and checks its schedules (tests shorten them). */
  jobQueue?: Pick<JobQueueOptions, 'pollingIntervalSeconds' | 'cronMonitorIntervalSeconds'>;
  /** Outgoing webhook delivery settings (tests shorten the retry delay); src/webhooks/worker.ts. */
  webhookDelivery?: Partial<WebhookDeliveryOptions>;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Signs and verifies access tokens; tests use it to make expired or foreign tokens. */
    signingKeys: SigningKeys;
  }
}

/**
 * Builds the whole application without listening (tests inject requests into it): the
 * services, then the plugins every response goes through, then the routes, then the jobs.
 * Order matters: the error handler and the policies come before any route, and the docs
 * before the routes they record.
 */
export async function buildApp(config: AppConfig, options: BuildOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    ...loggingOptions(config, options.logStream),
    bodyLimit: config.bodyLimit,
    trustProxy: config.trustProxy,
    routerOptions: { ignoreTrailingSlash: true },
    frameworkErrors,
    clientErrorHandler,
  });

  const { prisma: db, query, transactions } = connectDatabase(config.databaseUrl, {
    poolMax: config.databasePoolMax,
    pooler: config.databasePooler,
    lockTimeoutMs: config.databaseLockTimeoutMs ?? defaultLockTimeoutMs,
    ...(options.onDatabaseQuery ? { onQuery: options.onDatabaseQuery } : {}),
  });
  app.addHook('onClose', async () => db.$disconnect());
  const tokenChecks = new RecentTokenChecks(config.tokenCheckCacheMs);
  const services: Services = {
    db,
    transactions,
    stripe: new StripeClients(config.stripe),
    secretBox: createSecretBox(config.encryptionKey),
    logger: app.log as unknown as Services['logger'],
    tokenChecks,
  };
  const signingKeys = new SigningKeys(db, services.secretBox, {
    rotationSeconds: config.signingKeyRotationSeconds,
    tokenTtlSeconds: config.tokenTtlSeconds,
    issuer: tokenIssuer,
    onRotationError: (err) => app.log.error({ err }, 'signing key rotation failed; the current key keeps signing'),
  });
  app.decorate('signingKeys', signingKeys);

  useRequestIdHeader(app);
  useGracefulClose(app);
  useErrorHandler(app);
  useInputGuard(app);
  useSecurityHeaders(app);
  await useCors(app, config);
  const rateLimit = await useRateLimit(app, config);
  useChangeAuthors(app);

  registerRootRoute(app);
  await registerHealthRoutes(app, db, options.migrationsDir ?? defaultMigrationsDir, rateLimit);
  await registerDocsRoutes(app, resources);
  await registerOAuthRoutes(app, { db, signingKeys, tokenTtlSeconds: config.tokenTtlSeconds, tokenChecks });
  await registerApiRoutes(app, config, { services, resources, query, signingKeys, tokenChecks });
  await registerStripeWebhookRoutes(app, services, config, options.stripeWebhooks);

  // Webhook payloads link to the API where clients reach it: the public URL, set now (an
  // onListen hook may run after the first requests), or else where this server listens.
  const publicBase = config.publicUrl ? `${config.publicUrl.origin}${config.publicUrl.pathname}` : options.stripeWebhooks?.publicUrl;
  if (publicBase) setWebhookApiBase(`${publicBase.replace(/\/+$/, '')}/api`);
  else {
    app.addHook('onListen', async () => {
      const address = app.server.address();
      if (address && typeof address === 'object') setWebhookApiBase(`http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}/api`);
    });
  }
  const delivery = new WebhookDelivery(services, config.databaseUrl, { ...defaultDeliveryOptions(), ...options.webhookDelivery });
  const webhookJobs = delivery.jobs();
  useJobs(app, {
    databaseUrl: config.databaseUrl,
    jobs: [...periodicJobs(services, { reconcile: options.stripeWebhooks?.reconcile }), ...webhookJobs.jobs],
    workers: webhookJobs.workers,
    ...options.jobQueue,
  });
  return app;
}
