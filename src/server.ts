import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import closeWithGrace from 'close-with-grace';
import { buildApp } from './app.ts';
import { ensureIntegrationApplication } from './auth/applications.ts';
import { ConfigError, parseCorsOrigins, parseEnvironment, type AppConfig, type Environment } from './config.ts';
import { createPrismaClient } from './db/client.ts';
import { waitForDatabase } from './db/connect.ts';
import { applyMigrationsInChild } from './db/migrations.ts';
import { createServer } from 'node:net';

const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

// Development-only parts (embedded PostgreSQL, the Stripe stand-in, pretty logs) are
// development dependencies, loaded only when the configuration leaves them to do the
// work: production neither loads nor ships them. Where one is missing (`npm ci
// --omit=dev`, the image), the server stops with one line saying what to set instead.
const installDevDependencies = 'or install the development dependencies (npm install)';

/** Whether `error` is `packageName` itself not being installed, rather than a failure inside it. */
function isNotInstalled(error: unknown, packageName: string): boolean {
  return (error as NodeJS.ErrnoException | undefined)?.code === 'ERR_MODULE_NOT_FOUND' && String((error as Error).message).includes(`'${packageName}'`);
}

/** src/db/embedded.ts with its `embedded-postgres` package loaded. */
async function importEmbeddedPostgres(): Promise<typeof import('./db/embedded.ts')> {
  const embedded = await import('./db/embedded.ts');
  await embedded.loadEmbeddedPostgres().catch((error: unknown) => {
    if (isNotInstalled(error, 'embedded-postgres')) {
      throw new ConfigError(`No DATABASE_URL is set and embedded PostgreSQL is not installed: set DATABASE_URL=postgresql://user:password@host:5432/database, ${installDevDependencies}`);
    }
    throw error;
  });
  return embedded;
}

const standinPackage = '@stripe-payments-api/stripe-standin';
const setStripeApiUrl = 'set STRIPE_API_URL (https://api.stripe.com, or a stripe-mock URL)';

function importStandin(): Promise<typeof import('@stripe-payments-api/stripe-standin')> {
  return import('@stripe-payments-api/stripe-standin').catch((error: unknown) => {
    if (isNotInstalled(error, standinPackage)) {
      throw new ConfigError(`No STRIPE_API_URL is set and the Stripe stand-in is not installed: ${setStripeApiUrl}, ${installDevDependencies}`);
    }
    // Plain node (the compiled server in dist/) cannot load the stand-in's TypeScript sources.
    if ((error as NodeJS.ErrnoException | undefined)?.code === 'ERR_UNKNOWN_FILE_EXTENSION') {
      throw new ConfigError(`No STRIPE_API_URL is set and the Stripe stand-in runs from TypeScript sources only: ${setStripeApiUrl}, or start the sources with npm start`);
    }
    throw error;
  });
}

/** Pretty logs in a terminal, when pino-pretty (a development dependency) is there to print them. */
function prettyLogsAvailable(env: Environment): boolean {
  if (process.stdout.isTTY !== true || env.NODE_ENV === 'production') return false;
  try {
    // Resolved as an import is: where pino would find it.
    import.meta.resolve('pino-pretty');
    return true;
  } catch {
    return false;
  }
}

/**
 * Development secrets when none are configured: generated once and kept beside the
 * embedded database, so sealed Stripe keys and token signing keys survive restarts.
 */
async function developmentSecrets(dataDir: string): Promise<{ encryptionKey: string }> {
  const file = path.join(dataDir, 'secrets.json');
  try {
    return JSON.parse(await readFile(file, 'utf8'));
  } catch {
    const secrets = { encryptionKey: randomBytes(32).toString('base64') };
    await mkdir(dataDir, { recursive: true });
    await writeFile(file, JSON.stringify(secrets), { mode: 0o600 });
    return secrets;
  }
}

function banner(lines: string[]): void {
  const width = Math.max(...lines.map((line) => line.length));
  const rule = '='.repeat(width + 4);
  process.stdout.write(`\n${rule}\n${lines.map((line) => `| ${line.padEnd(width)} |`).join('\n')}\n${rule}\n\n`);
}

function portInUse(port: number, host: string): ConfigError {
  return new ConfigError(`Port ${port} on ${host} is already in use: stop the program listening there (another npm start?), or set PORT to a free port`);
}

/** Whether HOST:PORT can be listened on now: asked before anything starts, so a taken port costs nothing. */
function assertPortFree(port: number, host: string): Promise<void> {
  if (port === 0) return Promise.resolve();
  return new Promise((done, fail) => {
    const probe = createServer();
    probe.once('error', (error: NodeJS.ErrnoException) =>
      fail(error.code === 'EADDRINUSE' ? portInUse(port, host) : new ConfigError(`Cannot listen on ${host}:${port} (${error.code ?? error.message}): set HOST and PORT to an address of this machine`)),
    );
    probe.listen(port, host, () => probe.close(() => done()));
  });
}

async function start(env: Environment): Promise<void> {
  const dataDir = path.resolve(projectRoot, env.DATA_DIR);
  const cleanups: (() => Promise<void>)[] = [];
  const say = (line: string) => process.stdout.write(`${line}\n`);
  // Whatever started before a failure is stopped again, so a failed start leaves no server behind.
  const stopStarted = async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
  };
  try {
    await startServer(env, dataDir, cleanups, say);
  } catch (error) {
    await stopStarted();
    throw error;
  }
}

async function startServer(env: Environment, dataDir: string, cleanups: (() => Promise<void>)[], say: (line: string) => void): Promise<void> {
  await assertPortFree(env.PORT, env.HOST);

  // Imported before anything starts, so that a missing one stops the server before it does anything.
  const embeddedPostgres = env.DATABASE_URL ? undefined : await importEmbeddedPostgres();
  const standin = env.STRIPE_API_URL ? undefined : await importStandin();

  let databaseUrl: string;
  if (embeddedPostgres) {
    say(`No DATABASE_URL: starting an embedded PostgreSQL with its data in ${path.join(dataDir, 'postgres')}`);
    // PostgreSQL's own chatter only when something goes wrong; our progress lines always.
    const log = (line: string) => {
      if (!line.startsWith('postgres:') || /ERROR|FATAL|PANIC/.test(line)) say(line);
    };
    const embedded = await embeddedPostgres.startEmbeddedPostgres({ dataDir: path.join(dataDir, 'postgres'), log });
    databaseUrl = embedded.databaseUrl;
    cleanups.push(embedded.stop);
    // Without its password, which stays in the data folder: `npm run db:psql` reads it.
    const shown = new URL(databaseUrl);
    shown.password = '';
    say(`Embedded PostgreSQL: ${shown.toString()} (npm run db:psql opens psql on it; the password is in ${path.join(dataDir, 'postgres', 'embedded-postgres.json')})`);
  } else {
    databaseUrl = env.DATABASE_URL!;
    await waitForDatabase(databaseUrl, { timeoutMs: env.DATABASE_CONNECT_TIMEOUT_SECONDS * 1000, log: say });
  }

  // In a process of its own, so that the schema engine's memory does not stay in the server's.
  const { applied } = await applyMigrationsInChild(env.DATABASE_DIRECT_URL ?? databaseUrl, {
    migrationsDir: path.join(projectRoot, 'prisma', 'migrations'),
    schemaPath: path.join(projectRoot, 'prisma', 'schema.prisma'),
  });
  say(applied.length > 0 ? `Applied migrations: ${applied.join(', ')}` : 'Database schema is up to date');

  let stripeApiUrl: URL;
  if (standin) {
    // Its state lives beside the embedded database's: a restart still finds the PaymentIntents the database points at.
    const standinDir = path.join(dataDir, 'stripe-standin');
    say(`No STRIPE_API_URL: starting the Stripe stand-in with its state in ${standinDir}`);
    const server = await standin.startStripeStandin({ host: '127.0.0.1', port: 0, dataDir: standinDir });
    stripeApiUrl = new URL(server.url);
    cleanups.push(server.close);
    banner([
      'STRIPE STAND-IN: no STRIPE_API_URL is set, so Stripe calls go to a local',
      `Stripe-compatible server at ${server.url}. No real money moves and`,
      'nothing reaches Stripe. Set STRIPE_API_URL=https://api.stripe.com and give',
      'your gateways real sk_test_ keys to use Stripe itself.',
    ]);
  } else {
    stripeApiUrl = new URL(env.STRIPE_API_URL!);
  }

  const secrets = env.ENCRYPTION_KEY ? undefined : await developmentSecrets(dataDir);
  const config: AppConfig = {
    databaseUrl,
    databasePoolMax: env.DATABASE_POOL_MAX,
    databaseLockTimeoutMs: env.DATABASE_LOCK_TIMEOUT_MS,
    ...(env.DATABASE_POOLER === 'transaction' ? { databasePooler: 'transaction' as const } : {}),
    ...(env.LIST_STATEMENT_TIMEOUT_MS === undefined ? {} : { listStatementTimeoutMs: env.LIST_STATEMENT_TIMEOUT_MS }),
    stripe: { apiUrl: stripeApiUrl, timeoutMs: env.STRIPE_TIMEOUT_MS, maxNetworkRetries: env.STRIPE_MAX_NETWORK_RETRIES },
    tokenTtlSeconds: env.TOKEN_TTL_SECONDS,
    signingKeyRotationSeconds: env.SIGNING_KEY_ROTATION_SECONDS,
    tokenCheckCacheMs: env.TOKEN_CHECK_CACHE_MS,
    encryptionKey: Buffer.from(env.ENCRYPTION_KEY ?? secrets!.encryptionKey, 'base64'),
    logLevel: env.LOG_LEVEL,
    bodyLimit: env.BODY_LIMIT,
    trustProxy: env.TRUST_PROXY,
    idempotencyKeyTtlSeconds: env.IDEMPOTENCY_KEY_TTL_SECONDS,
    ...(env.PUBLIC_URL ? { publicUrl: new URL(env.PUBLIC_URL) } : {}),
    corsOrigins: parseCorsOrigins(env.CORS_ORIGINS),
    rateLimit: { max: env.RATE_LIMIT_MAX, windowSeconds: env.RATE_LIMIT_WINDOW_SECONDS, redisUrl: env.REDIS_URL },
    prettyLogs: prettyLogsAvailable(env),
  };

  const bootstrapDb = createPrismaClient(databaseUrl, { poolMax: 1 });
  const created = await ensureIntegrationApplication(
    bootstrapDb,
    env.API_CLIENT_ID && env.API_CLIENT_SECRET ? { clientId: env.API_CLIENT_ID, clientSecret: env.API_CLIENT_SECRET } : undefined,
  );
  await bootstrapDb.$disconnect();
  if (created) {
    banner([
      'Created the first integration application. Its secret is shown only now:',
      `  client_id:     ${created.clientId}`,
      `  client_secret: ${created.clientSecret}`,
      'Get a token: POST /oauth/token {"grant_type":"client_credentials",...}',
    ]);
  }

  const app = await buildApp(config, {
    webhookDelivery: { retryBaseMs: env.WEBHOOK_RETRY_BASE_MS },
    stripeWebhooks: {
      ...(env.PUBLIC_URL ? { publicUrl: env.PUBLIC_URL } : {}),
      ...(env.RECONCILE_INTERVAL_SECONDS > 0 ? { reconcile: { intervalMs: env.RECONCILE_INTERVAL_SECONDS * 1000 } } : {}),
    },
  });
  // SIGINT/SIGTERM: stop accepting connections, let in-flight requests finish, close the
  // pool (app.close), then stop the stand-in and the embedded database.
  closeWithGrace({ delay: 10_000 }, async ({ signal, err }) => {
    if (err) app.log.error({ err }, 'shutting down after an error');
    else app.log.info({ signal }, 'shutting down');
    await app.close();
    for (const cleanup of cleanups.reverse()) await cleanup();
  });
  try {
    const address = await app.listen({ port: env.PORT, host: env.HOST });
    say(`API docs (Swagger UI): ${address}/docs · OpenAPI: ${address}/openapi.json`);
  } catch (error) {
    await app.close();
    // Taken between the check and now.
    if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') throw portInUse(env.PORT, env.HOST);
    throw error;
  }
}

/**
 * Every start-up failure is one line on stderr and exit code 1: the failures a user
 * fixes say what to do; anything else is named by its first line (LOG_LEVEL=debug
 * prints the whole error).
 */
function stopWith(error: unknown): never {
  const message = error instanceof Error ? error.message : String(error);
  const known = error instanceof ConfigError || error instanceof Error && error.name === 'EmbeddedPostgresError';
  process.stderr.write(known ? `${message}\n` : `Start-up failed: ${message.split('\n')[0]}\n`);
  if (!known && /^(debug|trace)$/.test(process.env.LOG_LEVEL ?? '')) process.stderr.write(`${(error as Error)?.stack ?? ''}\n`);
  process.exit(1);
}

/**
 * Variables from `.env` in the folder npm start runs in (ENV_FILE names another file; an
 * empty ENV_FILE reads none), with Node's own parser. A variable set in the environment
 * wins over the file, so a deployment's settings are never overridden by a stray file.
 */
function loadEnvFile(): void {
  const file = process.env.ENV_FILE ?? '.env';
  if (file === '') return;
  try {
    process.loadEnvFile(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT' && process.env.ENV_FILE === undefined) return;
    throw new ConfigError(`Cannot read the environment file ${file} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}): fix ENV_FILE, or unset it to read .env when present`);
  }
}

let environment: Environment;
try {
  loadEnvFile();
  environment = parseEnvironment(process.env);
} catch (error) {
  stopWith(error);
}
await start(environment).catch(stopWith);
