// npm run bench:footprint: what the API server costs in memory, idle and under a short
// load, as it was built and started at given commits. Each `--at <commit>:<how>` is
// exported with git archive into a folder of its own (beside this checkout's
// node_modules, its Prisma client generated there), then run as
//   sources:  node --max-semi-space-size=64 --import tsx src/server.ts   (npm start until be015c8)
//   compiled: node --max-semi-space-size=64 dist/server.js               (npm run start:prod until be015c8)
// (64, the flag its figures in docs/benchmarks.md were taken with; the server now runs with 32)
// with NODE_ENV=production against a fresh database and the Stripe stand-in. RSS is the
// server process's, and its process tree's (tsx runs esbuild as a child process).
//
//   npm run bench:footprint -- --at c1479ac:sources --at b001a9e:compiled --at HEAD:compiled
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { startStripeStandin } from '@stripe-payments-api/stripe-standin';
import { createBenchDatabase, projectRoot, type BenchDatabase } from './database.ts';
import type { LoadResult, LoadSpec, RequestSpec } from './load.ts';
import { freePort, processTree, runNode, startNode, stopAll, treeRssMiB, waitForHttp, type Child } from './processes.ts';
import { markdownTable, ms, rps } from './report.ts';

const { values: flags } = parseArgs({
  options: {
    at: { type: 'string', multiple: true, default: ['HEAD:compiled'] },
    duration: { type: 'string', default: '10' },
    connections: { type: 'string', default: '16' },
    // Seconds after /health/ready before the idle figure: start-up garbage collected, pools settled.
    settle: { type: 'string', default: '5' },
    // Every variant once per round, in reverse order every other round, so a drift in the
    // machine's load weighs on all alike.
    rounds: { type: 'string', default: '2' },
    'database-url': { type: 'string', default: process.env.BENCH_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres' },
  },
});
const positive = (name: string, value: string | undefined): number => {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number, got "${value}"`);
  return n;
};
const settings = {
  duration: positive('duration', flags.duration),
  connections: positive('connections', flags.connections),
  settle: positive('settle', flags.settle),
  rounds: positive('rounds', flags.rounds),
  adminUrl: flags['database-url']!,
};

type How = 'sources' | 'compiled';
interface Variant {
  label: string;
  commit: string;
  how: How;
  dir: string;
}

const say = (line = '') => process.stdout.write(`${line}\n`);
const workDir = mkdtempSync(path.join(os.tmpdir(), 'payments-footprint-'));
const git = (...args: string[]) => execFileSync('git', args, { cwd: projectRoot, encoding: 'utf8' }).trim();

/** The commit's files in a folder of their own, with this checkout's node_modules, ready to run as `how`. */
function prepare(spec: string, index: number): Variant {
  const [ref, how] = spec.split(':') as [string, string | undefined];
  if (how !== 'sources' && how !== 'compiled') throw new Error(`--at ${spec}: expected <commit>:sources or <commit>:compiled`);
  const commit = git('rev-parse', '--short', `${ref}^{commit}`);
  const dir = path.join(workDir, `${index}-${commit}`);
  execFileSync('sh', ['-c', `mkdir -p "${dir}" && git archive ${commit} | tar -x -C "${dir}"`], { cwd: projectRoot });
  symlinkSync(path.join(projectRoot, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
  const step = (what: string, command: string, args: string[]) => {
    const result = spawnSync(command, args, { cwd: dir, encoding: 'utf8' });
    if (result.status !== 0) throw new Error(`${commit}: ${what} failed:\n${result.stdout}\n${result.stderr}`);
  };
  step('prisma generate', process.execPath, ['scripts/prisma-generate.mjs']);
  if (how === 'compiled') step('tsc -p tsconfig.build.json', process.execPath, [path.join(projectRoot, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json']);
  return { label: `${commit}, ${how === 'sources' ? 'tsx on the sources' : 'compiled, plain node'}`, commit, how, dir };
}

interface Figures {
  variant: Variant;
  round: number;
  readyMs: number;
  idle: { own: number; tree: number };
  /** Peak RSS during each load, and the load's result. */
  health: { own: number; tree: number; load: LoadResult };
  order: { own: number; tree: number; load: LoadResult };
  processes: number;
}

async function peakDuring<T>(pid: number, work: Promise<T>): Promise<{ own: number; tree: number; result: T }> {
  let own = 0;
  let tree = 0;
  const take = () => {
    const sample = treeRssMiB(pid);
    if (sample) {
      own = Math.max(own, sample.own);
      tree = Math.max(tree, sample.tree);
    }
  };
  take();
  const timer = setInterval(take, 100);
  try {
    const result = await work;
    take();
    return { own, tree, result };
  } finally {
    clearInterval(timer);
  }
}

let loadCounter = 0;
async function load(origin: string, request: RequestSpec): Promise<LoadResult> {
  loadCounter += 1;
  const spec: LoadSpec = { origin, connections: settings.connections, durationSeconds: settings.duration, warmupSeconds: 1, timeoutSeconds: 30, requests: [request] };
  const file = path.join(workDir, `spec-${loadCounter}.json`);
  writeFileSync(file, JSON.stringify(spec));
  const output = await runNode('load generator', 'bench/load.ts', [file], projectRoot);
  return JSON.parse(output.trim().split('\n').at(-1)!) as LoadResult;
}

/** The database of the variant being measured, dropped on every exit path. */
let database: BenchDatabase | undefined;
function cleanup(): Promise<void> {
  return (async () => {
    await stopAll();
    await database?.drop().catch(() => {});
    rmSync(workDir, { recursive: true, force: true });
  })();
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    say(`\n${signal}: stopping the server and dropping its database`);
    void cleanup().finally(() => process.exit(130));
  });
}

async function measureVariant(variant: Variant, round: number, stripeUrl: string): Promise<Figures> {
  let server: Child | undefined;
  try {
    database = await createBenchDatabase(settings.adminUrl);
    const port = await freePort();
    const credentials = { id: `footprint-${randomBytes(4).toString('hex')}`, secret: randomBytes(24).toString('base64url') };
    const started = performance.now();
    server = startNode(`API server (${variant.label})`, variant.how === 'sources' ? 'src/server.ts' : 'dist/server.js', {
      cwd: variant.dir,
      javascript: variant.how === 'compiled',
      nodeOptions: ['--max-semi-space-size=64'],
      env: {
        NODE_ENV: 'production',
        HOST: '127.0.0.1',
        PORT: String(port),
        DATABASE_URL: database.databaseUrl,
        STRIPE_API_URL: stripeUrl,
        ENCRYPTION_KEY: randomBytes(32).toString('base64'),
        API_CLIENT_ID: credentials.id,
        API_CLIENT_SECRET: credentials.secret,
        LOG_LEVEL: 'warn',
        RATE_LIMIT_MAX: '1000000',
        RATE_LIMIT_WINDOW_SECONDS: '1',
      },
    });
    const origin = `http://127.0.0.1:${port}`;
    await waitForHttp(`${origin}/health/ready`, server);
    const readyMs = performance.now() - started;
    await sleep(settings.settle * 1000);
    const idle = treeRssMiB(server.pid)!;
    const processes = processTree(server.pid).length;

    const token = await fetch(`${origin}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ grant_type: 'client_credentials', client_id: credentials.id, client_secret: credentials.secret }),
    }).then(async (response) => ((await response.json()) as { access_token: string }).access_token);
    const headers = { accept: 'application/vnd.api+json', authorization: `Bearer ${token}` };
    const created = await fetch(`${origin}/api/orders`, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/vnd.api+json' },
      body: JSON.stringify({ data: { type: 'orders', attributes: { currency_code: 'EUR', customer_email: 'shopper@example.com' } } }),
    });
    if (created.status !== 201) throw new Error(`POST /api/orders: ${created.status} ${await created.text()}`);
    const orderId = ((await created.json()) as { data: { id: string } }).data.id;

    const health = await peakDuring(server.pid, load(origin, { method: 'GET', headers: {}, paths: ['/health/live'], expect: [200] }));
    const order = await peakDuring(server.pid, load(origin, { method: 'GET', headers, paths: [`/api/orders/${orderId}`], expect: [200] }));
    const figures: Figures = {
      variant,
      round,
      readyMs,
      idle,
      health: { own: health.own, tree: health.tree, load: health.result },
      order: { own: order.own, tree: order.tree, load: order.result },
      processes,
    };
    say(
      `  ${variant.label.padEnd(36)} round ${round + 1}: ready in ${(readyMs / 1000).toFixed(1)} s, ${processes} process(es); RSS idle ${idle.own.toFixed(0)} MiB ` +
        `(tree ${idle.tree.toFixed(0)}), /health/live ${health.own.toFixed(0)} MiB at ${rps(health.result.rps)} req/s, ` +
        `GET order ${order.own.toFixed(0)} MiB at ${rps(order.result.rps)} req/s`,
    );
    return figures;
  } finally {
    await server?.stop();
    await database?.drop();
    database = undefined;
  }
}

async function main(): Promise<void> {
  say('# API server footprint');
  const cpus = os.cpus();
  say(`machine: ${cpus.length} × ${cpus[0]?.model ?? '?'}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB RAM; node ${process.version}; load average ${os.loadavg().map((n) => n.toFixed(1)).join(' ')}`);
  say(`autocannon in its own process, ${settings.connections} connections, 1 s warm-up + ${settings.duration} s per load; idle figure ${settings.settle} s after /health/ready`);
  const variants = flags.at!.map(prepare);
  const standin = await startStripeStandin({ port: 0 });
  try {
    const all: Figures[] = [];
    for (let round = 0; round < settings.rounds; round += 1) {
      const order = round % 2 === 0 ? variants : [...variants].reverse();
      for (const variant of order) all.push(await measureVariant(variant, round, standin.url));
    }
    const mean = (pick: (figures: Figures) => number, variant: Variant) => {
      const of = all.filter((figures) => figures.variant === variant);
      return of.reduce((sum, figures) => sum + pick(figures), 0) / of.length;
    };
    const mib = (value: number) => value.toFixed(0);
    say(`\n### Server RSS, MiB (mean of ${settings.rounds} round(s); in brackets: with its child processes)\n`);
    say(
      markdownTable(
        ['server', 'processes, at most', 'ready after', 'idle', `peak, GET /health/live c=${settings.connections}`, `peak, GET /api/orders/:id c=${settings.connections}`, 'req/s /health/live', 'req/s order', 'p99 ms order'],
        variants.map((variant) => [
          variant.label,
          String(Math.max(...all.filter((figures) => figures.variant === variant).map((figures) => figures.processes))),
          `${(mean((figures) => figures.readyMs, variant) / 1000).toFixed(1)} s`,
          `${mib(mean((figures) => figures.idle.own, variant))} (${mib(mean((figures) => figures.idle.tree, variant))})`,
          `${mib(mean((figures) => figures.health.own, variant))} (${mib(mean((figures) => figures.health.tree, variant))})`,
          `${mib(mean((figures) => figures.order.own, variant))} (${mib(mean((figures) => figures.order.tree, variant))})`,
          rps(mean((figures) => figures.health.load.rps, variant)),
          rps(mean((figures) => figures.order.load.rps, variant)),
          ms(mean((figures) => figures.order.load.p99, variant)),
        ]),
      ),
    );
  } finally {
    await standin.close();
  }
}

try {
  await main();
} catch (error) {
  process.exitCode = 1;
  say(`\nfootprint failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
} finally {
  await cleanup();
}
process.exit();
