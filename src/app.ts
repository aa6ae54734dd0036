import { randomUUID } from 'node:crypto';
import Fastify, { LogController, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { DestinationStream, LoggerOptions } from 'pino';
import { registerOAuthRoutes } from './auth/oauth.ts';
import { SigningKeys } from './auth/signing-keys.ts';
import { accessTokenHook, purgeExpiredTokenRecords, RecentTokenChecks } from './auth/tokens.ts';
import type { AppConfig } from './config.ts';
import { createSecretBox } from './crypto/secret-box.ts';
import { connectDatabase } from './db/client.ts';
import { defaultMigrationsDir, registerHealthRoutes } from './health.ts';
import { registerHttpPolicies } from './http-policies.ts';
import { purgeExpiredIdempotencyKeys, useIdempotencyKeys } from './idempotency.ts';
import { ResourceEngine } from './jsonapi/engine.ts';
import { internalError, JsonApiError, routeNotFound } from './jsonapi/errors.ts';
import { mediaType, useJsonApiMediaType } from './jsonapi/media-type.ts';
import { registerApiDocs } from './openapi/plugin.ts';
import { resources } from './resources/index.ts';
import type { Services } from './services.ts';
import { StripeClients } from './stripe/client.ts';
import { registerStripeWebhooks, type StripeWebhookOptions } from './webhooks/stripe.ts';

/** Everything secret that could reach a log line, by path; pino replaces it with "[Redacted]". */
export const redactedPaths = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["stripe-signature"]',
  '*.authorization',
  '*.client_secret',
  '*.clientSecret',
  '*.access_token',
  '*.login',
  '*.loginEncrypted',
  '*.secret',
  '*.secretKey',
  '*.password',
  '*.headers.authorization',
  'err.raw.headers.authorization',
];

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

function loggerOptions(config: AppConfig): LoggerOptions {
  return {
    level: config.logLevel,
    redact: { paths: redactedPaths, censor: '[Redacted]' },
    ...(config.prettyLogs ? { transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' } } } : {}),
  };
}

/** One log line per request, written when it completes, with its id; no headers or bodies. */
class OneLinePerRequest extends LogController {
  override incomingRequest(): void {}

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    const line = { method: request.method, url: request.url, status: reply.statusCode, ms: Math.round(reply.elapsedTime) };
    if (error) reply.log.error({ ...line, err: error }, 'request errored');
    else reply.log.info(line, 'request');
  }
}

const requestIdPattern = /^[A-Za-z0-9_.-]{8,64}$/;

/** Fastify's own client errors, by code, as JSON:API codes. Anything else of status >= 500 is ours. */
const fastifyErrorCodes: Record<string, string> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'BAD_REQUEST',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'BAD_REQUEST',
  FST_ERR_CTP_INVALID_JSON_BODY: 'BAD_REQUEST',
};

// Driver adapter error kinds that mean "the database is not there right now", not "your request is wrong".
const unavailableKinds = new Set(['DatabaseNotReachable', 'ConnectionClosed', 'SocketTimeout', 'TooManyConnections', 'DatabaseDoesNotExist']);

// node-postgres's own errors for a connection that died under a request (terminated by an
// administrator, a restart or a failover), which reach us unwrapped.
const lostConnectionMessages = /timeout exceeded when trying to connect|Client has encountered a connection error and is not queryable|Connection terminated/;

// What node-postgres reports bare, from reads sent past Prisma: the socket's own errors.
const unreachableSocketCodes = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);

/** SQLSTATE 57P01-57P03 (the server is shutting down or starting) and class 08 (connection exceptions). */
function isUnavailableSqlState(code: unknown): boolean {
  return typeof code === 'string' && /^(57P0[123]|08[0-9A-Z]{3})$/.test(code);
}

export function isDatabaseUnavailable(error: { code?: string; meta?: unknown }): boolean {
  // P2028: no transaction could start in time; the pool's own timeout: every connection busy.
  if (error.code === 'P1001' || error.code === 'P1002' || error.code === 'P1017' || error.code === 'P2028') return true;
  if (lostConnectionMessages.test(String((error as { message?: unknown }).message ?? ''))) return true;
  if (error.code !== undefined && (unreachableSocketCodes.has(error.code) || isUnavailableSqlState(error.code))) return true;
  type Cause = { kind?: string; code?: string };
  // Prisma wraps the driver adapter's error in meta; one thrown at COMMIT or ROLLBACK reaches us bare, its cause alongside.
  const bare = (error as { name?: unknown }).name === 'DriverAdapterError' ? ((error as { cause?: unknown }).cause as Cause | undefined) : undefined;
  const cause = (error.meta as { driverAdapterError?: { cause?: Cause } } | undefined)?.driverAdapterError?.cause ?? bare;
  if (cause?.kind !== undefined && unavailableKinds.has(cause.kind)) return true;
  // The request did not fail for what it asked, a retry may succeed.
  return cause?.kind === 'postgres' && isUnavailableSqlState(cause.code);
}

function toJsonApiError(error: FastifyError & { code?: string }, method: string): JsonApiError {
  if (error instanceof JsonApiError) return error;
  // Database constraint outcomes that a client can cause (duck-typed: no Prisma import here).
  if (error.code === 'P2003') {
    return method === 'DELETE'
      ? new JsonApiError(423, [{ title: 'Locked', detail: 'The resource cannot be deleted: other resources depend on it.', code: 'LOCKED' }])
      : new JsonApiError(422, [{ title: 'is invalid', detail: 'A related resource does not exist.', code: 'VALIDATION_ERROR' }]);
  }
  if (error.code === 'P2002') {
    // A unique field (a customer's email, a market's code) that another record already has.
    const cause = ((error as { meta?: unknown }).meta as { driverAdapterError?: { cause?: { constraint?: { fields?: string[] } } }; target?: string[] } | undefined);
    const field = cause?.driverAdapterError?.cause?.constraint?.fields?.[0] ?? cause?.target?.[0];
    const name = field?.replace(/"/g, '');
    return new JsonApiError(422, [
      {
        title: 'has already been taken',
        detail: `${name ?? 'a unique field'} - has already been taken`,
        code: 'VALIDATION_ERROR',
        ...(name ? { source: { pointer: `/data/attributes/${name}` } } : {}),
      },
    ]);
  }
  if (error.code === 'P2025') return new JsonApiError(404, [{ title: 'Record not found', detail: 'The requested resource was not found.', code: 'RECORD_NOT_FOUND' }]);
  if (isDatabaseUnavailable(error)) {
    return new JsonApiError(
      503,
      [{ title: 'Service unavailable', detail: 'The database is unavailable. Please retry shortly.', code: 'SERVICE_UNAVAILABLE' }],
      { 'retry-after': '2' },
    );
  }
  const status = error.statusCode ?? 500;
  if (status >= 400 && status < 500) {
    const detail = error instanceof SyntaxError ? 'The request body is not valid JSON' : error.message;
    return new JsonApiError(status, [{ title: 'Bad request', detail, code: fastifyErrorCodes[error.code ?? ''] ?? 'BAD_REQUEST' }]);
  }
  return internalError();
}

/** The `iss` of our access tokens. */
const tokenIssuer = 'stripe-payments-api';

declare module 'fastify' {
  interface FastifyInstance {
    /** Signs and verifies access tokens; tests use it to make expired or foreign tokens. */
    signingKeys: SigningKeys;
  }
}

/** Builds the whole application without listening: tests inject requests into it. */
export async function buildApp(config: AppConfig, options: BuildOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    logger: options.logStream ? { ...loggerOptions({ ...config, prettyLogs: false }), stream: options.logStream } : loggerOptions(config),
    bodyLimit: config.bodyLimit,
    trustProxy: config.trustProxy,
    logController: new OneLinePerRequest(),
    requestIdHeader: false,
    genReqId: (request) => {
      const offered = request.headers['x-request-id'];
      return typeof offered === 'string' && requestIdPattern.test(offered) ? offered : randomUUID();
    },
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

  // Fastify closes the connections that are idle when close() starts; one still busy then
  // (a webhook delivery, a slow client) would otherwise stay open for the keep-alive timeout
  // after its response and hold the shutdown. Responses sent while closing end their connection.
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onSend', (request, reply, payload, done) => {
    reply.header('x-request-id', request.id);
    if (closing) reply.header('connection', 'close');
    done(null, payload);
  });

  app.setErrorHandler((error: FastifyError, request, reply) => {
    const jsonApiError = toJsonApiError(error, request.method);
    if (jsonApiError.status >= 500 && jsonApiError.errors[0]?.code === 'INTERNAL_SERVER_ERROR') {
      request.log.error({ err: error }, 'unhandled error');
    }
    const type = request.url.startsWith('/oauth') ? 'application/json' : mediaType;
    return reply.code(jsonApiError.status).headers(jsonApiError.headers).type(type).send({ errors: jsonApiError.errors });
  });
  app.setNotFoundHandler((request, reply) => {
    const error = routeNotFound(request.method, request.url);
    return reply.code(404).type(mediaType).send({ errors: error.errors });
  });

  await registerHttpPolicies(app, config);
  const signingKeys = new SigningKeys(db, services.secretBox, {
    rotationSeconds: config.signingKeyRotationSeconds,
    tokenTtlSeconds: config.tokenTtlSeconds,
    issuer: tokenIssuer,
    onRotationError: (err) => app.log.error({ err }, 'signing key rotation failed; the current key keeps signing'),
  });
  app.decorate('signingKeys', signingKeys);

  app.get('/', async () => ({ name: 'stripe-payments-api', status: 'ok', api: '/api', token: '/oauth/token' }));
  // Health probes, then the OpenAPI document and /docs (which also start recording the routes registered below).
  await registerHealthRoutes(app, db, options.migrationsDir ?? defaultMigrationsDir);
  await registerApiDocs(app, resources);

  await app.register(async (oauth) => registerOAuthRoutes(oauth, db, signingKeys, config.tokenTtlSeconds, recentTokenChecks));

  const engine = new ResourceEngine(services, resources, {
    query,
    ...(config.listStatementTimeoutMs === undefined ? {} : { listStatementTimeoutMs: config.listStatementTimeoutMs }),
  });
  await app.register(
    async (api) => {
      api.decorateRequest('access', null as never);
      api.addHook('onRequest', accessTokenHook(signingKeys, db, recentTokenChecks));
      useJsonApiMediaType(api);
      useIdempotencyKeys(api, db, { ttlSeconds: config.idempotencyKeyTtlSeconds });
      engine.register(api);
    },
    { prefix: '/api' },
  );
  await registerStripeWebhooks(app, services, config, options.stripeWebhooks);

  return app;
}
