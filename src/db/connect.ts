// The database as start-up first meets it: not up yet (containers start in any order),
// refusing the credentials, or without the database the URL names. Each ends in a
// database ready for the migrations or in one line saying what to fix.
import pg from 'pg';
import { ConfigError } from '../config.ts';

export interface WaitForDatabaseOptions {
  /** How long an unreachable server is retried, in total; 0 tries once. */
  timeoutMs: number;
  log?: (line: string) => void;
}

/** Network failures and a server still starting: worth another try. */
const transientCodes = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', '57P03']);

/** What the URL points at, without its password. */
export function describeDatabaseUrl(databaseUrl: string): string {
  const url = new URL(databaseUrl);
  const user = decodeURIComponent(url.username) || 'the default user';
  return `database "${decodeURIComponent(url.pathname.slice(1))}" on ${url.hostname}:${url.port || 5432} as ${user}`;
}

function codeOf(error: unknown): string {
  const code = (error as { code?: unknown } | undefined)?.code;
  if (typeof code === 'string') return code;
  // pg reports a connection timeout as a plain Error.
  return /timeout/i.test(String((error as Error | undefined)?.message)) ? 'ETIMEDOUT' : 'unknown';
}

async function tryConnect(databaseUrl: string): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl, connectionTimeoutMillis: 5_000 });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('SELECT 1');
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * Connects once to `databaseUrl`, retrying with exponential backoff (250 ms doubling to
 * 5 s) while the server is unreachable, for `timeoutMs` at most; creates the database
 * when the server answers that it does not exist, as `prisma migrate deploy` does.
 * Wrong credentials, a missing role and a server still unreachable at the end throw a
 * ConfigError.
 */
export async function waitForDatabase(databaseUrl: string, options: WaitForDatabaseOptions): Promise<void> {
  const what = describeDatabaseUrl(databaseUrl);
  const deadline = Date.now() + options.timeoutMs;
  let delayMs = 250;
  let announced = false;
  for (;;) {
    try {
      await tryConnect(databaseUrl);
      return;
    } catch (error) {
      const code = codeOf(error);
      if (code === '3D000') {
        await createDatabase(databaseUrl, what);
        options.log?.(`Created the ${what}`);
        continue;
      }
      if (code === '28P01') {
        throw new ConfigError(`The database server refused the password for the ${what}: fix the user and password in DATABASE_URL`);
      }
      if (code === '28000') {
        throw new ConfigError(`The database server refused the ${what} (${(error as Error).message}): fix the user in DATABASE_URL or the server's pg_hba.conf`);
      }
      if (!transientCodes.has(code)) {
        throw new ConfigError(`Cannot use the ${what} (${code}: ${(error as Error).message}): check DATABASE_URL`);
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        const seconds = Math.round(options.timeoutMs / 1000);
        throw new ConfigError(
          `Cannot reach the ${what} (${code}) after ${seconds} s: start PostgreSQL or fix DATABASE_URL (DATABASE_CONNECT_TIMEOUT_SECONDS sets how long to wait)`,
        );
      }
      if (!announced) {
        options.log?.(`Waiting for the ${what} (${code}); retrying for up to ${Math.round(options.timeoutMs / 1000)} s`);
        announced = true;
      }
      await new Promise((done) => setTimeout(done, Math.min(delayMs, left)));
      delayMs = Math.min(delayMs * 2, 5_000);
    }
  }
}

async function createDatabase(databaseUrl: string, what: string): Promise<void> {
  const target = new URL(databaseUrl);
  const name = decodeURIComponent(target.pathname.slice(1));
  let lastError: unknown;
  // The maintenance database, or template1 where `postgres` was dropped.
  for (const maintenance of ['postgres', 'template1']) {
    const admin = new URL(databaseUrl);
    admin.pathname = `/${maintenance}`;
    const client = new pg.Client({ connectionString: admin.toString(), connectionTimeoutMillis: 5_000 });
    client.on('error', () => {});
    try {
      await client.connect();
      await client.query(`CREATE DATABASE ${client.escapeIdentifier(name)}`);
      return;
    } catch (error) {
      // Created meanwhile by another instance starting beside this one.
      if (codeOf(error) === '42P04') return;
      lastError = error;
      if (codeOf(error) !== '3D000') break;
    } finally {
      await client.end().catch(() => {});
    }
  }
  throw new ConfigError(
    `The ${what} does not exist and could not be created (${(lastError as Error | undefined)?.message ?? 'unknown error'}): create it, or give DATABASE_URL a user allowed to`,
  );
}
