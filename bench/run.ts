// npm run bench: the API under load against a real PostgreSQL and the local Stripe
// stand-in, beside a minimal pg + Fastify baseline and a bare Fastify "hello", at growing
// table sizes, then a memory soak. Every server, the stand-in and every load generator is
// a process of its own on this machine; docs/benchmarks.md says what the figures mean.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import pg from 'pg';
import type { Bench, Secrets, Settings } from './bench.ts';
import { machineSeconds } from './cpu.ts';
import { BulkLoader, createBenchDatabase, projectRoot, type BenchDatabase } from './database.ts';
import type { Measurement } from './measure.ts';
import { freePort, startNode, stopAll, waitForHttp } from './processes.ts';
import { getToken, requestsFor } from './requests.ts';
import { measureCeiling } from './scenarios/ceiling.ts';
import { measureListMain, measureSize, type SizeResult } from './scenarios/lists.ts';
import { compareMemory, memoryOnlyRun } from './scenarios/memory.ts';
import { buildCompiled } from './compiled.ts';
import { baselineProfileDir } from './scenarios/profile.ts';
import { compareCreates, printCreates, printStatementCounts, statementCounts, type CreateComparison } from './scenarios/creates.ts';
import { compareReads, measureUnpreparedBaseline, readOnlyRun } from './scenarios/reads.ts';
import { measureToken, measureWrites, measureWritesBesideCounts } from './scenarios/writes.ts';
import { asBuilt, poolEnv, startApi, startPlain } from './servers.ts';
import { printResults, type EveryRequest } from './summary.ts';

const { values: flags } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
    connections: { type: 'string', default: '64' },
    'growth-connections': { type: 'string', default: '8' },
    'memory-duration': { type: 'string', default: '60' },
    sizes: { type: 'string', default: '10000,100000,1000000' },
    pool: { type: 'string', default: '10' },
    timeout: { type: 'string', default: '30' },
    'database-url': { type: 'string', default: process.env.BENCH_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres' },
    rounds: { type: 'string', default: '2' },
    // GET by id beside the baseline: more, shorter pairs of rounds, each pair its own ratio.
    'read-rounds': { type: 'string', default: '8' },
    'read-duration': { type: 'string', default: '4' },
    pin: { type: 'boolean', default: false },
    'quiet-below': { type: 'string', default: '10' },
    profile: { type: 'boolean', default: false },
    // Only the comparison the GET by id targets rest on: minutes less per try while working on reads.
    'read-only': { type: 'boolean', default: false },
    // Only the create beside the hand-written one, at 16 and 64 connections, and the statement counts.
    'post-only': { type: 'boolean', default: false },
    // Only the memory comparison: the API beside the baseline under the same mixed load,
    // after GET by id and POST alone on the API (their req/s at the servers' flags).
    'memory-only': { type: 'boolean', default: false },
    // compiled: the API and the baseline as production runs the API (plain node, no tsx); sources: tsx.
    from: { type: 'string', default: 'compiled' },
    // A heap snapshot of both servers at the end of each memory round, and what it holds.
    'heap-snapshot': { type: 'boolean', default: false },
    // Node and V8 flags for every server of the run alike (API, baseline, hello). The default
    // is what the API runs with (package.json's start, the Dockerfile): its young generation size.
    'server-node-options': { type: 'string', default: '--max-semi-space-size=32' },
    json: { type: 'string' },
  },
});

const positive = (name: string, value: string | undefined): number => {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number, got "${value}"`);
  return n;
};
const settings: Settings = {
  duration: positive('duration', flags.duration),
  warmup: Number(flags.warmup ?? 0),
  connections: positive('connections', flags.connections),
  growthConnections: positive('growth-connections', flags['growth-connections']),
  memoryDuration: positive('memory-duration', flags['memory-duration']),
  sizes: (flags.sizes ?? '').split(',').map((size) => positive('sizes', size.trim())).sort((a, b) => a - b),
  pool: positive('pool', flags.pool),
  timeout: positive('timeout', flags.timeout),
  adminUrl: flags['database-url']!,
  rounds: positive('rounds', flags.rounds),
  readRounds: positive('read-rounds', flags['read-rounds']),
  readDuration: positive('read-duration', flags['read-duration']),
  pin: flags.pin === true,
  quietBelow: Number(flags['quiet-below'] ?? 0),
  profile: flags.profile === true,
  readOnly: flags['read-only'] === true,
  postOnly: flags['post-only'] === true,
  memoryOnly: flags['memory-only'] === true,
  heapSnapshot: flags['heap-snapshot'] === true,
  from: ((from) => {
    if (from !== 'compiled' && from !== 'sources') throw new Error(`--from must be compiled or sources, got "${from}"`);
    return from;
  })(flags.from),
  serverNodeOptions: (flags['server-node-options'] ?? '').split(/\s+/).filter(Boolean),
};

const say = (line = '') => process.stdout.write(`${line}\n`);
const workDir = mkdtempSync(path.join(os.tmpdir(), 'payments-bench-'));
const profileDir = path.join(projectRoot, 'bench', '.profiles');

// --------------------------------------------------------------------------------------
// Cleanup: children first (they hold connections), then the database, on every exit path.

let database: BenchDatabase | undefined;
let loader: BulkLoader | undefined;
let admin: pg.Client | undefined;
let cleaning: Promise<void> | undefined;
function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    await stopAll();
    await loader?.close().catch(() => {});
    await admin?.end().catch(() => {});
    if (database) {
      await database.drop().then(
        () => say(`dropped database ${database!.name}`),
        (error: Error) => say(`could not drop database ${database!.name}: ${error.message}`),
      );
    }
    rmSync(workDir, { recursive: true, force: true });
  })();
  return cleaning;
}
let interrupted = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    interrupted = true;
    say(`\n${signal}: stopping children and dropping the database`);
    void cleanup().finally(() => process.exit(130));
  });
}

const secrets: Secrets = {
  encryptionKey: randomBytes(32),
  tokenSigningSecret: randomBytes(48).toString('base64url'),
  clientId: `bench-${randomBytes(6).toString('hex')}`,
  clientSecret: randomBytes(24).toString('base64url'),
};

// --------------------------------------------------------------------------------------
// The run: flags above, every scenario in bench/scenarios/, the results in bench/summary.ts.

function machineDescription(): string[] {
  const cpus = os.cpus();
  const git = (...args: string[]) => {
    try {
      return execFileSync('git', args, { cwd: projectRoot, encoding: 'utf8' }).trim();
    } catch {
      return '?';
    }
  };
  const dirty = git('status', '--porcelain', '--', 'src', 'prisma') === '' ? '' : ' (with uncommitted changes in src/ or prisma/)';
  return [
    `machine: ${cpus.length} × ${cpus[0]?.model ?? '?'}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB RAM, ${os.type()} ${os.release()}`,
    `node ${process.version}; API and baseline ${settings.from === 'compiled' ? 'compiled (plain node)' : 'on their sources (tsx)'}; code at ${git('rev-parse', '--short', 'HEAD')}${dirty}`,
  ];
}

async function main(): Promise<void> {
  const startedAt = Date.now();
  // Taken once: the code measured is the code at the start, whatever is committed meanwhile.
  const description = machineDescription();
  say('# Stripe payments API benchmark');
  for (const line of description) say(line);
  say(
    `load: autocannon in its own process, ${settings.warmup} s warm-up + ${settings.duration} s per figure, ` +
      `${settings.connections} connections (growth: ${settings.growthConnections}); sizes ${settings.sizes.join(', ')}`,
  );

  // Other work on the machine skews every figure: measure it before starting.
  const idleFrom = machineSeconds();
  await sleep(3_000);
  const idleTo = machineSeconds();
  const backgroundBusy = (100 * (idleTo.busy - idleFrom.busy)) / (idleTo.total - idleFrom.total);
  say(`machine busy before the run: ${backgroundBusy.toFixed(0)}%, load average ${os.loadavg().map((n) => n.toFixed(2)).join(' ')}${backgroundBusy > 10 ? ' (WARNING: something else is running; figures will be lower and noisier)' : ''}`);

  database = await createBenchDatabase(settings.adminUrl);
  say(`database ${database.name} on ${new URL(settings.adminUrl).host}`);
  admin = new pg.Client({ connectionString: database.databaseUrl });
  await admin.connect();
  const serverVersion = (await admin.query<{ server_version: string }>('SHOW server_version')).rows[0]!.server_version;
  const pgSettings = (await admin.query<{ name: string; setting: string; unit: string | null }>(
    `SELECT name, setting, unit FROM pg_settings WHERE name IN ('shared_buffers', 'work_mem', 'jit', 'max_parallel_workers_per_gather', 'autovacuum') ORDER BY name`,
  )).rows.map((row) => `${row.name}=${row.unit === '8kB' ? `${(Number(row.setting) * 8) / 1024}MB` : `${row.setting}${row.unit ?? ''}`}`).join(', ');
  say(`PostgreSQL ${serverVersion}: ${pgSettings}`);
  loader = await BulkLoader.open(database.databaseUrl, secrets.encryptionKey);

  const standinPort = await freePort();
  const standin = startNode('Stripe stand-in', 'packages/stripe-standin/src/main.ts', { cwd: projectRoot, args: ['--port', String(standinPort)] });
  const stripeUrl = `http://127.0.0.1:${standinPort}`;
  await waitForHttp(`${stripeUrl}/v1/payment_intents`, standin);

  // Built before any figure, so that tsc's CPU weighs on none.
  const compiled = settings.from === 'compiled' ? await buildCompiled(workDir) : undefined;
  const apiPort = await freePort();
  const api = await startApi(settings, secrets, database.databaseUrl, stripeUrl, apiPort, asBuilt(compiled, 'api'));
  const baselineProfiles = baselineProfileDir(settings, profileDir);
  const baselineEnv = { DATABASE_URL: database.databaseUrl, ENCRYPTION_KEY: secrets.encryptionKey.toString('base64'), STRIPE_API_URL: stripeUrl, ...poolEnv(settings) };
  const baseline = await startPlain(settings, 'baseline', 'bench/baseline-server.ts', baselineEnv, {
    ...asBuilt(compiled, 'baseline'),
    ...(baselineProfiles ? { profileTo: baselineProfiles } : {}),
  });
  const hello = await startPlain(settings, 'hello', 'bench/hello-server.ts', {});
  const token = await getToken(api.origin, secrets);
  const bench: Bench = {
    settings,
    secrets,
    say,
    workDir,
    profileDir,
    database,
    admin,
    loader,
    compiled,
    standin,
    stripeUrl,
    api,
    apiPort,
    baseline,
    baselineEnv,
    hello,
    requests: requestsFor(token, secrets),
    profiles: [],
  };

  const helloRun = await measureCeiling(bench);

  const mainSize = settings.sizes[0]!;
  const finalSize = settings.sizes.at(-1)!;
  if (settings.readOnly) {
    await readOnlyRun(bench, mainSize, baselineProfiles);
    return;
  }
  if (settings.postOnly) {
    await loader.growTo(mainSize);
    printStatementCounts(bench, statementCounts(bench));
    printCreates(bench, await compareCreates(bench));
    for (const profile of bench.profiles) say(`\n${profile}`);
    return;
  }
  if (settings.memoryOnly) {
    await memoryOnlyRun(bench, mainSize);
    return;
  }
  const sizes: SizeResult[] = [];
  let ids: string[] = [];
  let main: EveryRequest | undefined;
  let created: string[] = [];
  let besideCounts: Measurement | undefined;
  let creates: CreateComparison[] = [];
  const counts = statementCounts(bench);
  for (const size of settings.sizes) {
    const measured = await measureSize(bench, size, { first: size === mainSize, last: size === finalSize });
    sizes.push(measured.result);
    ids = measured.ids;
    if (size === finalSize) besideCounts = await measureWritesBesideCounts(bench, size);

    if (size === mainSize) {
      say(`\n## Every request at ${settings.connections} connections, ${measured.result.rows.toLocaleString('en-US')} stripe payments`);
      // The comparison the targets rest on, in alternating rounds (baseline, API, API,
      // baseline, ...) so that a drift in the machine's speed weighs on both alike.
      const reads = await compareReads(bench, ids);
      const { baselineRun, retrieveMain } = reads;
      const baselineUnprepared = await measureUnpreparedBaseline(bench, ids);
      const listMain = await measureListMain(bench);
      const writes = await measureWrites(bench);
      creates = await compareCreates(bench);
      created = writes.created;
      const tokenRun = await measureToken(bench);
      main = { baselineRun, baselineUnprepared, retrieveMain, reads, listMain, create: writes.create, update: writes.update, tokenRun };
    }
  }

  const { mixed, comparison: memory } = await compareMemory(bench, ids, created);

  printResults(bench, { startedAt, description, serverVersion, pgSettings, backgroundBusy, helloRun, main: main!, sizes, besideCounts, mixed, memory });
  printStatementCounts(bench, counts);
  printCreates(bench, creates);

  if (flags.json) {
    // The pairs' rounds are in main.reads; their merged figures stay as main.baselineRun and main.retrieveMain.
    const lean = (_key: string, value: unknown) => (_key === 'latencies' || _key === 'serverLog' || _key === 'rss' ? undefined : value);
    writeFileSync(flags.json, JSON.stringify({ settings, helloRun, main, sizes, besideCounts, mixed, memory }, lean, 1));
    say(`raw results: ${flags.json}`);
  }
}

try {
  await main();
} catch (error) {
  process.exitCode = 1;
  // After an interrupt, the load generator's death is the interrupt's doing, not a failure to report.
  if (!interrupted) say(`\nbenchmark failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
} finally {
  await cleanup();
}
// Whatever a library left open (a keep-alive socket, a timer) must not keep a finished run alive.
process.exit();
