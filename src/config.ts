import { z } from 'zod';

const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const optionalString = z
  .string()
  .trim()
  .transform((value) => (value === '' ? undefined : value))
  .optional();

/** Production needs them: development starts an embedded database, a stand-in and generated secrets instead. */
const requiredInProduction = ['DATABASE_URL', 'ENCRYPTION_KEY', 'STRIPE_API_URL'] as const;
const requiredMessage = 'is required when NODE_ENV=production';

/** The environment variables the server reads, all of them, validated once at start. */
export const environmentSchema = z
  .object({
    /** Read before the others: a file of KEY=value lines; unset: `.env` when present; empty: none. Variables already set win. */
    ENV_FILE: z.string().optional(),
    NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
    PORT: z.coerce.number().int().min(0).max(65535).default(3000),
    HOST: z.string().min(1).default('127.0.0.1'),
    LOG_LEVEL: z.enum(logLevels).default('info'),
    /** Unset: an embedded PostgreSQL is started with its data in DATA_DIR. */
    DATABASE_URL: optionalString.pipe(z.url({ protocol: /^postgres(ql)?$/ }).optional()),
    DATABASE_POOL_MAX: z.coerce.number().int().min(1).max(200).default(10),
    /**
     * `transaction`: DATABASE_URL is a pooler in transaction mode (PgBouncer's
     * pool_mode=transaction), which gives each transaction any server connection: no named
     * prepared statements, no session state. `none` (default): a direct connection.
     */
    DATABASE_POOLER: z.enum(['none', 'transaction']).default('none'),
    /** Where migrations run at start (they hold a session advisory lock): the database itself when DATABASE_URL is a pooler. Unset: DATABASE_URL. */
    DATABASE_DIRECT_URL: optionalString.pipe(z.url({ protocol: /^postgres(ql)?$/ }).optional()),
    /** How long start-up waits for an unreachable database (containers start in any order), retrying with backoff. */
    DATABASE_CONNECT_TIMEOUT_SECONDS: z.coerce.number().int().min(0).max(600).default(30),
    /**
     * How long a statement waits for a row or advisory lock before PostgreSQL gives up (the
     * request answers 503 and may be retried); 0: no limit. A write whose lock is held by a
     * stuck session would otherwise wait, with its pool connection, as long as that session.
     */
    DATABASE_LOCK_TIMEOUT_MS: z.coerce.number().int().min(0).max(600_000).default(5_000),
    /** How long one list statement may run before PostgreSQL stops it (the list answers 503); unset: 5000. */
    LIST_STATEMENT_TIMEOUT_MS: z.coerce.number().int().min(100).max(600_000).optional(),
    DATA_DIR: z.string().min(1).default('.data'),
    /**
     * Where the Stripe SDK sends requests. Unset: a local Stripe stand-in is started on
     * loopback. `https://api.stripe.com` for the real Stripe, or a stripe-mock URL.
     */
    STRIPE_API_URL: optionalString.pipe(z.url({ protocol: /^https?$/ }).optional()),
    STRIPE_TIMEOUT_MS: z.coerce.number().int().min(100).max(120_000).default(15_000),
    STRIPE_MAX_NETWORK_RETRIES: z.coerce.number().int().min(0).max(5).default(2),
    TOKEN_TTL_SECONDS: z.coerce.number().int().min(60).max(86_400).default(7200),
    /** How long a token found unrevoked is trusted before the database is asked again; 0 asks on every request. */
    TOKEN_CHECK_CACHE_MS: z.coerce.number().int().min(0).max(60_000).default(1000),
    /** How long one RSA key signs access tokens before a new one takes over (the old stays published in the JWKS). */
    SIGNING_KEY_ROTATION_SECONDS: z.coerce.number().int().min(60).max(365 * 86_400).default(30 * 86_400),
    /** 32 bytes, base64: the key that seals Stripe secret keys and token signing keys at rest. */
    ENCRYPTION_KEY: optionalString.pipe(
      z
        .string()
        .refine((value) => Buffer.from(value, 'base64').length === 32, 'must be 32 bytes encoded as base64')
        .optional(),
    ),
    /** Credentials of an integration application created or updated at start. */
    API_CLIENT_ID: optionalString.pipe(z.string().min(8).optional()),
    API_CLIENT_SECRET: optionalString.pipe(z.string().min(16).optional()),
    /** Maximum request body, bytes. */
    BODY_LIMIT: z.coerce.number().int().min(1024).max(10_485_760).default(1_048_576),
    /** Browser origins allowed to call the API: "*" (any, as Commerce Layer) or a comma-separated list. */
    CORS_ORIGINS: z.string().min(1).default('*'),
    /** Requests per window per client and IP; Commerce Layer's budget is 600 per 5 minutes. */
    RATE_LIMIT_MAX: z.coerce.number().int().min(1).max(1_000_000).default(600),
    RATE_LIMIT_WINDOW_SECONDS: z.coerce.number().int().min(1).max(86_400).default(300),
    /** Shared rate-limit state for several instances; unset: each instance counts alone, in memory. */
    REDIS_URL: optionalString.pipe(z.url({ protocol: /^rediss?$/ }).optional()),
    /**
     * The absolute URL clients and Stripe reach this server at (behind a proxy: the proxy's):
     * links and `Location` are built from it, not from a client's Host header, and gateways'
     * webhook endpoints are registered under it. A path is kept (a proxy mounting the API
     * under one); a query, fragment or credentials are refused.
     */
    PUBLIC_URL: optionalString.pipe(
      z
        .url({ protocol: /^https?$/ })
        .refine((value) => {
          const url = new URL(value);
          return url.search === '' && url.hash === '' && url.username === '' && url.password === '';
        }, 'must be an http(s) URL without query, fragment or credentials')
        .optional(),
    ),
    /** Re-read PaymentIntents left pending (missed webhooks) this often; 0 turns the timer off. */
    RECONCILE_INTERVAL_SECONDS: z.coerce.number().int().min(0).max(86_400).default(60),
    /** The first retry delay of a failed webhook delivery; each next retry doubles it (10 retries). */
    WEBHOOK_RETRY_BASE_MS: z.coerce.number().int().min(1).max(3_600_000).default(10_000),
    /** How long an Idempotency-Key is remembered (Stripe: 24 hours). */
    IDEMPOTENCY_KEY_TTL_SECONDS: z.coerce.number().int().min(60).max(7 * 86_400).default(86_400),
    /** Trust X-Forwarded-* headers (behind a proxy) when building links. */
    TRUST_PROXY: z
      .enum(['true', 'false'])
      .default('false')
      .transform((value) => value === 'true'),
  })
  .superRefine((env, ctx) => {
    if ((env.API_CLIENT_ID === undefined) !== (env.API_CLIENT_SECRET === undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: [env.API_CLIENT_ID === undefined ? 'API_CLIENT_ID' : 'API_CLIENT_SECRET'],
        message: 'API_CLIENT_ID and API_CLIENT_SECRET must be set together',
      });
    }
    if (env.NODE_ENV === 'production') {
      for (const name of requiredInProduction) {
        if (env[name] === undefined) {
          ctx.addIssue({ code: 'custom', path: [name], message: requiredMessage });
        }
      }
    }
  });

export type Environment = z.infer<typeof environmentSchema>;

export interface StripeSettings {
  /** undefined: use a local stand-in started by the server. */
  apiUrl: URL | undefined;
  timeoutMs: number;
  maxNetworkRetries: number;
}

/** What buildApp needs. Everything is resolved: no optional secrets, a concrete database. */
export interface AppConfig {
  databaseUrl: string;
  databasePoolMax: number;
  /** DATABASE_POOLER=transaction: statements that survive a transaction-mode pooler only. */
  databasePooler?: 'transaction' | undefined;
  /** DATABASE_LOCK_TIMEOUT_MS; unset: 5 s (defaultLockTimeoutMs in src/db/client.ts). */
  databaseLockTimeoutMs?: number;
  /** Statement timeout of list queries, ms; the store's default (5 s) when unset. */
  listStatementTimeoutMs?: number;
  stripe: Required<Omit<StripeSettings, 'apiUrl'>> & { apiUrl: URL };
  tokenTtlSeconds: number;
  signingKeyRotationSeconds: number;
  tokenCheckCacheMs: number;
  encryptionKey: Buffer;
  logLevel: (typeof logLevels)[number];
  bodyLimit: number;
  trustProxy: boolean;
  idempotencyKeyTtlSeconds: number;
  /** PUBLIC_URL: the base of links and `Location`; unset: the request's scheme and Host. */
  publicUrl?: URL;
  /** How long a key not refreshed by its instance stays held (15 s when unset; tests shorten it). */
  idempotencyAbandonedAfterSeconds?: number;
  /** "*" or the exact origins allowed. */
  corsOrigins: '*' | string[];
  /** `redisPrefix` keeps deployments (or test runs) sharing one Redis apart. */
  rateLimit: { max: number; windowSeconds: number; redisUrl: string | undefined; redisPrefix?: string };
  /** Pretty, human-oriented logs (a terminal) instead of JSON lines. */
  prettyLogs: boolean;
}

/** `CORS_ORIGINS` as the app wants it. */
export function parseCorsOrigins(value: string): '*' | string[] {
  if (value.trim() === '*') return '*';
  return value.split(',').map((origin) => origin.trim()).filter(Boolean);
}

/** A start-up failure the user fixes: its message is one line saying what failed and what to do. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

/**
 * Parses the environment; throws a ConfigError whose message is one line naming every
 * invalid or missing variable, so a deployment is fixed in one round.
 */
export function parseEnvironment(source: Record<string, string | undefined>): Environment {
  const result = environmentSchema.safeParse(source);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const name = String(issue.path[0] ?? 'environment');
    const received = source[name];
    const shown = received === undefined || /SECRET|KEY|PASSWORD|URL/.test(name) ? '' : ` (got "${received}")`;
    return `${name} ${issue.message}${shown}`;
  });
  // The schema's refinements run only once every field parses: name the missing ones anyway.
  if (source.NODE_ENV?.trim() === 'production') {
    for (const name of requiredInProduction) if (!source[name]?.trim()) problems.push(`${name} ${requiredMessage}`);
  }
  throw new ConfigError(`Invalid configuration: ${[...new Set(problems)].join('; ')}`);
}
