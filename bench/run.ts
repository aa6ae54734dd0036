// npm run bench: the API under load against a real PostgreSQL and the local Stripe
// stand-in, beside a minimal pg + Fastify baseline and a bare Fastify "hello", at growing
// table sizes, then a memory soak. Every server, the stand-in and every load generator is
// a process of its own on this machine; docs/benchmarks.md says what the figures mean.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { cpuSecondsOf, machineSeconds, postgresCpuSeconds } from './cpu.ts';
import { BulkLoader, createBenchDatabase, projectRoot, type BenchDatabase } from './database.ts';
import type { LoadResult, LoadSpec, RequestSpec } from './load.ts';
import { deepPageCursor, explain, explainFullCount, explainWithoutJit, listStatements, plannerEstimate, type Explained } from './plans.ts';
import { freePort, runNode, sampleRss, startNode, stopAll, waitForHttp, type Child, type RssSample } from './processes.ts';
import { formatProfile, summarizeProfile } from './profile.ts';
import { markdownTable, ms, ratio, rps } from './report.ts';
import { exactCountLimit } from '../src/jsonapi/store.ts';

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
    profile: { type: 'boolean', default: false },
    // Only the comparison the GET by id targets rest on: minutes less per try while working on reads.
    'read-only': { type: 'boolean', default: false },
    // Node and V8 flags for every server of the run alike (API, baseline, hello). The default
    // is what the API runs with (package.json's start, the Dockerfile): its young generation size.
    'server-node-options': { type: 'string', default: '--max-semi-space-size=64' },
    json: { type: 'string' },
  },
});

const positive = (name: string, value: string | undefined): number => {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number, got "${value}"`);
  return n;
};
const settings = {
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
  profile: flags.profile === true,
  readOnly: flags['read-only'] === true,
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

// --------------------------------------------------------------------------------------
// Servers

const secrets = {
  encryptionKey: randomBytes(32),
  tokenSigningSecret: randomBytes(48).toString('base64url'),
  clientId: `bench-${randomBytes(6).toString('hex')}`,
  clientSecret: randomBytes(24).toString('base64url'),
};

interface Target {
  name: string;
  child: Child;
  origin: string;
}

const poolEnv = () => ({ DATABASE_POOL_MAX: String(settings.pool) });

async function startApi(databaseUrl: string, stripeUrl: string, port: number, diagnostics: { profileTo?: string; traceGc?: boolean } = {}): Promise<Target> {
  const child = startNode('API server', 'src/server.ts', {
    cwd: projectRoot,
    nodeOptions: [
      ...settings.serverNodeOptions,
      ...(diagnostics.profileTo ? ['--cpu-prof', '--cpu-prof-dir', diagnostics.profileTo] : []),
      ...(diagnostics.traceGc ? ['--trace-gc'] : []),
    ],
    env: {
      NODE_ENV: 'production',
      HOST: '127.0.0.1',
      PORT: String(port),
      DATABASE_URL: databaseUrl,
      ...poolEnv(),
      STRIPE_API_URL: stripeUrl,
      TOKEN_SIGNING_SECRET: secrets.tokenSigningSecret,
      ENCRYPTION_KEY: secrets.encryptionKey.toString('base64'),
      API_CLIENT_ID: secrets.clientId,
      API_CLIENT_SECRET: secrets.clientSecret,
      LOG_LEVEL: 'warn',
      // The limiter stays in the request path (its cost is measured) with a budget no run reaches.
      RATE_LIMIT_MAX: '1000000',
      RATE_LIMIT_WINDOW_SECONDS: '1',
    },
  });
  const origin = `http://127.0.0.1:${port}`;
  await waitForHttp(`${origin}/`, child);
  return { name: 'API', child, origin };
}

async function startPlain(name: string, script: string, env: Record<string, string>, profileTo?: string): Promise<Target> {
  const port = await freePort();
  const nodeOptions = [...settings.serverNodeOptions, ...(profileTo ? ['--cpu-prof', '--cpu-prof-dir', profileTo] : [])];
  const child = startNode(name, script, { cwd: projectRoot, nodeOptions, env: { NODE_ENV: 'production', PORT: String(port), ...env } });
  const origin = `http://127.0.0.1:${port}`;
  await waitForHttp(`${origin}/`, child);
  return { name, child, origin };
}

// --------------------------------------------------------------------------------------
// Measurements

interface Measurement extends LoadResult {
  label: string;
  connections: number;
  peakRssMiB: number;
  rss: RssSample[];
  /** The measured window on the monotonic clock, microseconds (for cutting CPU profiles). */
  window: { fromMicros: number; toMicros: number };
  /** CPU seconds during the measured window. */
  cpu: { server: number; postgres: number; standin: number; loadgen: number; machineBusy: number; machineTotal: number };
  /** Distinct error messages the server logged during the run, with counts. */
  serverErrors: Record<string, number>;
  /** Every latency of the window, sorted, when asked for (to merge rounds exactly). */
  latencies?: number[];
  /** What the server wrote during the measured window, when asked for. */
  serverLog?: string;
  /** req/s of each round, for a figure merged from several. */
  rounds?: number[];
}

let standin: Child | undefined;
let specCounter = 0;

/** One request by fetch before the load: a wrong setup fails here, with the response, instead of as a column of errors. */
async function smokeCheck(target: Target, request: RequestSpec): Promise<void> {
  const response = await fetch(`${target.origin}${request.paths[0]}`, {
    method: request.method,
    headers: request.headers,
    ...(request.bodies ? { body: request.bodies[0] } : {}),
    signal: AbortSignal.timeout(settings.timeout * 1000),
  });
  const text = await response.text();
  if (!request.expect.includes(response.status)) {
    throw new Error(`${request.method} ${request.paths[0]} answered ${response.status}, expected ${request.expect.join('/')}: ${text.slice(0, 1000)}`);
  }
}

/**
 * Waits until the server and PostgreSQL are idle: a request abandoned by the previous
 * load generator is still being served, and would be counted against the next figure.
 */
async function quiesce(target: Target): Promise<void> {
  const deadline = Date.now() + 60_000;
  let previous = { server: cpuSecondsOf(target.child.pid), postgres: postgresCpuSeconds(), at: performance.now() };
  while (Date.now() < deadline) {
    await sleep(500);
    const now = { server: cpuSecondsOf(target.child.pid), postgres: postgresCpuSeconds(), at: performance.now() };
    const busy = (now.server - previous.server + now.postgres - previous.postgres) / ((now.at - previous.at) / 1000);
    if (busy < 0.2) return;
    previous = now;
  }
}

/** Error log lines (pino level 50+) as message -> count. */
function serverErrors(output: string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const line of output.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const entry = JSON.parse(line) as { level?: number; msg?: string; err?: { message?: string; code?: string } };
      if ((entry.level ?? 0) < 50) continue;
      const message = `${entry.msg ?? ''}: ${entry.err?.code ? `${entry.err.code} ` : ''}${entry.err?.message ?? ''}`.replace(/\s+/g, ' ').slice(0, 200);
      counts[message] = (counts[message] ?? 0) + 1;
    } catch {
      // Not a log line.
    }
  }
  return counts;
}

async function measure(
  label: string,
  target: Target,
  requests: RequestSpec[],
  options: { duration?: number; connections?: number; rssIntervalMs?: number; smoke?: boolean; quiet?: boolean; latencies?: boolean; serverLog?: boolean } = {},
): Promise<Measurement> {
  await quiesce(target);
  if (options.smoke !== false) for (const request of requests) await smokeCheck(target, request);
  const connections = options.connections ?? settings.connections;
  const spec: LoadSpec = {
    origin: target.origin,
    connections,
    durationSeconds: options.duration ?? settings.duration,
    warmupSeconds: settings.warmup,
    timeoutSeconds: settings.timeout,
    requests,
  };
  specCounter += 1;
  const specFile = path.join(workDir, `spec-${specCounter}.json`);
  if (options.latencies) spec.latencyFile = path.join(workDir, `latencies-${specCounter}.f64`);
  writeFileSync(specFile, JSON.stringify(spec));
  const snapshot = () => ({
    server: cpuSecondsOf(target.child.pid),
    postgres: postgresCpuSeconds(),
    standin: standin ? cpuSecondsOf(standin.pid) : 0,
    machine: machineSeconds(),
  });
  const micros = () => Number(process.hrtime.bigint() / 1000n);
  const logMark = target.child.mark();
  const sampler = sampleRss(target.child.pid, options.rssIntervalMs ?? 250);
  let start = snapshot();
  let fromMicros = micros();
  let measuringMark = target.child.mark();
  let output: string;
  let samples: RssSample[];
  try {
    output = await runNode('load generator', 'bench/load.ts', [specFile], projectRoot, (line) => {
      // The load generator has finished its warm-up: the measured window starts.
      if (line.includes('"measuring"')) {
        start = snapshot();
        fromMicros = micros();
        measuringMark = target.child.mark();
      }
    });
  } finally {
    samples = sampler.stop();
  }
  const end = snapshot();
  const toMicros = micros();
  const result = JSON.parse(output.trim().split('\n').at(-1)!) as LoadResult;
  const measurement: Measurement = {
    ...result,
    label,
    connections,
    peakRssMiB: Math.max(...samples.map((sample) => sample.mib)),
    rss: samples,
    window: { fromMicros, toMicros },
    cpu: {
      server: end.server - start.server,
      postgres: end.postgres - start.postgres,
      standin: end.standin - start.standin,
      loadgen: result.cpuSeconds,
      machineBusy: end.machine.busy - start.machine.busy,
      machineTotal: end.machine.total - start.machine.total,
    },
    serverErrors: serverErrors(target.child.outputSince(logMark)),
    ...(spec.latencyFile ? { latencies: [...new Float64Array(readFileSync(spec.latencyFile).buffer.slice(0))].sort((a, b) => a - b) } : {}),
    ...(options.serverLog ? { serverLog: target.child.outputSince(measuringMark) } : {}),
  };
  if (!options.quiet) {
    const errors = measurement.errors > 0 ? `, errors ${measurement.errors} ${JSON.stringify(measurement.unexpected)}` : '';
    say(`  ${label.padEnd(48)} c=${String(connections).padEnd(3)} ${rps(measurement.rps).padStart(7)} req/s  p50 ${latency(measurement, 'p50').padStart(7)}  p99 ${latency(measurement, 'p99').padStart(7)} ms  RSS ${measurement.peakRssMiB.toFixed(0)} MiB${errors}`);
    for (const [message, count] of Object.entries(measurement.serverErrors)) say(`      server logged ${count}× ${message}`);
  }
  return measurement;
}

/** A latency figure, or "none" when no request completed inside the window. */
function latency(m: Measurement, which: 'p50' | 'p99'): string {
  return m.requests === 0 ? `none in ${settings.duration} s` : ms(m[which]);
}

/** Rounds of the same measurement as one figure: requests over time, percentiles over every latency. */
function combine(label: string, runs: Measurement[]): Measurement {
  const latencies = runs.flatMap((run) => run.latencies ?? []).sort((a, b) => a - b);
  const at = (q: number) => (latencies.length === 0 ? 0 : latencies[Math.min(latencies.length - 1, Math.ceil(q * latencies.length) - 1)]!);
  const sum = (pick: (run: Measurement) => number) => runs.reduce((total, run) => total + pick(run), 0);
  const merge = (pick: (run: Measurement) => Record<string, number>) => {
    const merged: Record<string, number> = {};
    for (const run of runs) for (const [key, count] of Object.entries(pick(run))) merged[key] = (merged[key] ?? 0) + count;
    return merged;
  };
  const requests = sum((run) => run.requests);
  const seconds = sum((run) => run.seconds);
  return {
    label,
    connections: runs[0]!.connections,
    requests,
    seconds,
    rps: requests / seconds,
    p50: at(0.5),
    p90: at(0.9),
    p99: at(0.99),
    max: latencies.at(-1) ?? 0,
    errors: sum((run) => run.errors),
    unexpected: merge((run) => run.unexpected),
    cpuSeconds: sum((run) => run.cpuSeconds),
    peakRssMiB: Math.max(...runs.map((run) => run.peakRssMiB)),
    rss: runs.flatMap((run) => run.rss),
    window: runs[0]!.window,
    cpu: {
      server: sum((run) => run.cpu.server),
      postgres: sum((run) => run.cpu.postgres),
      standin: sum((run) => run.cpu.standin),
      loadgen: sum((run) => run.cpu.loadgen),
      machineBusy: sum((run) => run.cpu.machineBusy),
      machineTotal: sum((run) => run.cpu.machineTotal),
    },
    serverErrors: merge((run) => run.serverErrors),
    rounds: runs.map((run) => run.rps),
  };
}

interface GcEvent {
  /** ms since the isolate started. */
  at: number;
  kind: string;
  /** Heap used after the collection, MB as V8 prints it. */
  after: number;
  pauseMs: number;
}

/** The lines `node --trace-gc` prints, e.g. "1044 ms: Mark-Compact 150.1 (184.4) -> 142.1 (176.7) MB, 52.22 / 0.01 ms". */
function gcEvents(log: string): GcEvent[] {
  const events: GcEvent[] = [];
  for (const match of log.matchAll(/(\d+) ms: ([A-Za-z -]+?) [\d.]+ \([\d.]+\) -> ([\d.]+) \([\d.]+\) MB, ([\d.]+) \/ /g)) {
    events.push({ at: Number(match[1]), kind: match[2]!.trim(), after: Number(match[3]), pauseMs: Number(match[4]) });
  }
  return events;
}

/** Least-squares slope of y over x. */
function slopeOf(points: { x: number; y: number }[]): number {
  const meanX = points.reduce((sum, p) => sum + p.x, 0) / points.length;
  const meanY = points.reduce((sum, p) => sum + p.y, 0) / points.length;
  return points.reduce((sum, p) => sum + (p.x - meanX) * (p.y - meanY), 0) / points.reduce((sum, p) => sum + (p.x - meanX) ** 2, 0);
}

// --------------------------------------------------------------------------------------
// Requests

const jsonApi = 'application/vnd.api+json';
const query = (params: Record<string, string | number>) =>
  Object.entries(params)
    .map(([key, value]) => `${encodeURIComponent(key)}=${encodeURIComponent(String(value))}`)
    .join('&');

/** The list of the issue: include, the largest page, a sort and a filter (80% of rows match). */
const listParams = { include: 'order', 'page[size]': 25, sort: '-created_at', 'filter[q][reference_origin_eq]': 'storefront' };
/** A count as a client asks for one: the smallest page of a filter, read for meta.record_count (15% match). */
const countParams = { 'page[size]': 1, 'filter[q][reference_origin_eq]': 'pos' };

function requestsFor(token: string) {
  const read = { accept: jsonApi, authorization: `Bearer ${token}` };
  const write = { ...read, 'content-type': jsonApi };
  return {
    retrieve: (ids: string[]): RequestSpec => ({ method: 'GET', headers: read, paths: ids.map((id) => `/api/stripe_payments/${id}`), expect: [200] }),
    baseline: (ids: string[]): RequestSpec => ({ method: 'GET', headers: {}, paths: ids.map((id) => `/stripe_payments/${id}`), expect: [200] }),
    baselineUnprepared: (ids: string[]): RequestSpec => ({ method: 'GET', headers: {}, paths: ids.map((id) => `/unprepared/stripe_payments/${id}`), expect: [200] }),
    list: (page = 1): RequestSpec => ({
      method: 'GET',
      headers: read,
      paths: [`/api/stripe_payments?${query(page > 1 ? { ...listParams, 'page[number]': page } : listParams)}`],
      expect: [200],
    }),
    /** The same list from a keyset cursor, as links.next gives it. */
    listAfter: (cursor: string): RequestSpec => ({
      method: 'GET',
      headers: read,
      paths: [`/api/stripe_payments?${query({ ...listParams, 'page[after]': cursor })}`],
      expect: [200],
    }),
    /** The list's code path (include, serialisation, links) without the table-wide count: 25 ids at a time. */
    listByIds: (ids: string[]): RequestSpec => {
      const pages: string[] = [];
      for (let index = 0; index + 25 <= ids.length; index += 25) {
        pages.push(`/api/stripe_payments?${query({ include: 'order', 'page[size]': 25, 'filter[q][id_in]': ids.slice(index, index + 25).join(',') })}`);
      }
      return { method: 'GET', headers: read, paths: pages, expect: [200] };
    },
    count: (): RequestSpec => ({ method: 'GET', headers: read, paths: [`/api/stripe_payments?${query(countParams)}`], expect: [200] }),
    create: (orderIds: string[]): RequestSpec => ({
      method: 'POST',
      headers: write,
      paths: orderIds.map(() => '/api/stripe_payments'),
      bodies: orderIds.map((id) => JSON.stringify({ data: { type: 'stripe_payments', relationships: { order: { data: { type: 'orders', id } } } } })),
      expect: [201],
    }),
    update: (paymentIds: string[]): RequestSpec => ({
      method: 'PATCH',
      headers: write,
      paths: paymentIds.map((id) => `/api/stripe_payments/${id}`),
      bodies: paymentIds.map((id) => JSON.stringify({ data: { type: 'stripe_payments', id, attributes: { _update: true } } })),
      expect: [200],
    }),
    token: (): RequestSpec => ({
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      paths: ['/oauth/token'],
      bodies: [JSON.stringify({ grant_type: 'client_credentials', client_id: secrets.clientId, client_secret: secrets.clientSecret })],
      expect: [200],
    }),
  };
}

async function getToken(origin: string): Promise<string> {
  const response = await fetch(`${origin}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ grant_type: 'client_credentials', client_id: secrets.clientId, client_secret: secrets.clientSecret }),
  });
  if (response.status !== 200) throw new Error(`token: ${response.status} ${await response.text()}`);
  return ((await response.json()) as { access_token: string }).access_token;
}

// --------------------------------------------------------------------------------------
// The run

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
    `node ${process.version}; code at ${git('rev-parse', '--short', 'HEAD')}${dirty}`,
  ];
}

interface SizeResult {
  /** Visible stripe payments when measured (bulk-loaded plus any the API created). */
  rows: number;
  loadSeconds: number;
  retrieve: Measurement;
  list: Measurement;
  deep: Measurement;
  /** The deep page by `page[after]` instead of `page[number]`. */
  deepByCursor: Measurement | undefined;
  deepPage: number;
  count: Measurement;
  plans: { name: string; explained: Explained }[];
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
  say(`machine busy before the run: ${backgroundBusy.toFixed(0)}%${backgroundBusy > 10 ? ' (WARNING: something else is running; figures will be lower and noisier)' : ''}`);

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
  standin = startNode('Stripe stand-in', 'packages/stripe-standin/src/main.ts', { cwd: projectRoot, args: ['--port', String(standinPort)] });
  const stripeUrl = `http://127.0.0.1:${standinPort}`;
  await waitForHttp(`${stripeUrl}/v1/payment_intents`, standin);

  const apiPort = await freePort();
  let api = await startApi(database.databaseUrl, stripeUrl, apiPort);
  // With --read-only --profile the baseline is profiled too: where its time goes is the yardstick for ours.
  const baselineProfileDir = settings.profile && settings.readOnly ? path.join(profileDir, 'baseline') : undefined;
  if (baselineProfileDir) {
    rmSync(baselineProfileDir, { recursive: true, force: true });
    mkdirSync(baselineProfileDir, { recursive: true });
  }
  const baseline = await startPlain('baseline', 'bench/baseline-server.ts', { DATABASE_URL: database.databaseUrl, ...poolEnv() }, baselineProfileDir);
  const hello = await startPlain('hello', 'bench/hello-server.ts', {});
  const token = await getToken(api.origin);
  const requests = requestsFor(token);

  /** With --profile: a fresh API process under --cpu-prof for one measurement, then a normal one again. */
  const profiles: string[] = [];
  async function onApi(key: string, run: (target: Target) => Promise<Measurement>): Promise<Measurement> {
    if (!settings.profile) return run(api);
    await api.child.stop();
    const dir = path.join(profileDir, key);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    api = await startApi(database!.databaseUrl, stripeUrl, apiPort, { profileTo: dir });
    const measurement = await run(api);
    await api.child.stop();
    // CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile: thread 0 is the main thread (others: the module loader's worker).
    const file = readdirSync(dir).find((name) => /\.\d+\.0\.\d+\.cpuprofile$/.test(name));
    if (file) {
      profiles.push(formatProfile(`${measurement.label}, c=${measurement.connections} (bench/.profiles/${key}/${file})`, summarizeProfile(path.join(dir, file), projectRoot, measurement.window)));
    }
    api = await startApi(database!.databaseUrl, stripeUrl, apiPort);
    return measurement;
  }
  const visibleRows = async () =>
    (await admin!.query<{ count: number }>(`SELECT count(*)::int AS count FROM stripe_payments WHERE intent_state = 'created'`)).rows[0]!.count;

  say('\n## Ceiling');
  const helloRun = await measure('bare Fastify hello (GET /)', hello, [{ method: 'GET', headers: {}, paths: ['/'], expect: [200] }]);

  /**
   * GET by id of the API beside the baseline's, in alternating rounds (baseline, API, API,
   * baseline, ...) so that a drift in the machine's speed weighs on both alike.
   */
  async function compareReads(): Promise<{ baselineRun: Measurement; retrieveMain: Measurement }> {
    const baselineRounds: Measurement[] = [];
    const retrieveRounds: Measurement[] = [];
    const rounds = settings.profile ? 1 : settings.rounds;
    const one = { latencies: true };
    const baselineRound = (round: number) => measure(`baseline: pg + JSON.stringify, GET by id (${round + 1})`, baseline, [requests.baseline(ids)], one);
    for (let round = 0; round < rounds; round += 1) {
      const baselineFirst = round % 2 === 0;
      if (baselineFirst) baselineRounds.push(await baselineRound(round));
      retrieveRounds.push(await onApi('retrieve', (target) => measure(`GET /api/stripe_payments/:id (${round + 1})`, target, [requests.retrieve(ids)], one)));
      if (!baselineFirst) baselineRounds.push(await baselineRound(round));
    }
    return {
      baselineRun: combine('baseline: pg + JSON.stringify, GET by id', baselineRounds),
      retrieveMain: combine('GET /api/stripe_payments/:id', retrieveRounds),
    };
  }

  const sizes: SizeResult[] = [];
  const mainSize = settings.sizes[0]!;
  const finalSize = settings.sizes.at(-1)!;
  let ids: string[] = [];
  let main: Record<string, Measurement> | undefined;
  let created: string[] = [];
  let besideCounts: Measurement | undefined;
  const orderIds = () => loader!.orderIds(20_000);
  if (settings.readOnly) {
    await loader.growTo(mainSize);
    ids = await loader.samplePaymentIds(10_000);
    say(`\n## GET by id beside the baseline, ${(await visibleRows()).toLocaleString('en-US')} stripe payments`);
    await measure('warm-up of the API (not reported)', api, [requests.retrieve(ids)], { duration: 5, quiet: true });
    const { baselineRun, retrieveMain } = await compareReads();
    say('');
    for (const run of [baselineRun, retrieveMain]) {
      const per = (seconds: number) => ms((1000 * seconds) / run.requests);
      say(`${run.label.padEnd(48)} ${rps(run.rps).padStart(7)} req/s  p99 ${ms(run.p99).padStart(6)} ms  CPU per request: server ${per(run.cpu.server)} ms, PostgreSQL ${per(run.cpu.postgres)} ms, load generator ${per(run.cpu.loadgen)} ms`);
    }
    say(`every server started as node ${[...settings.serverNodeOptions, '--import tsx'].join(' ')}`);
    say(`GET by id ÷ baseline: req/s ${ratio(retrieveMain.rps / baselineRun.rps)}× (target ≥ 0.5), p99 ${ratio(retrieveMain.p99 / baselineRun.p99)}× (target ≤ 1.5)`);
    if (baselineProfileDir) {
      await baseline.child.stop();
      const file = readdirSync(baselineProfileDir).find((name) => /\.\d+\.0\.\d+\.cpuprofile$/.test(name));
      if (file) profiles.push(formatProfile(`${baselineRun.label} (bench/.profiles/baseline/${file})`, summarizeProfile(path.join(baselineProfileDir, file), projectRoot, baselineRun.window)));
    }
    for (const profile of profiles) say(`\n${profile}`);
    return;
  }
  for (const size of settings.sizes) {
    const loadSeconds = await loader.growTo(size);
    const rows = await visibleRows();
    say(`\n## ${rows.toLocaleString('en-US')} stripe payments (bulk load to ${size.toLocaleString('en-US')}: ${loadSeconds.toFixed(1)} s)`);
    ids = await loader.samplePaymentIds(10_000);
    if (size === mainSize) {
      // A fresh process is slow for its first seconds (JIT, pool connections): not a figure.
      await measure('warm-up of the API (not reported)', api, [requests.retrieve(ids), requests.listByIds(ids)], { duration: 5, quiet: true });
    }
    const matching = (await admin.query<{ count: number }>(
      `SELECT count(*)::int AS count FROM stripe_payments WHERE intent_state = 'created' AND reference_origin = 'storefront'`,
    )).rows[0]!.count;
    // 90% of the way through the filtered list: where a crawler or an export gets to.
    const deepPage = Math.max(1, Math.floor((0.9 * matching) / listParams['page[size]']));
    const last = size === finalSize;
    const growth = { connections: settings.growthConnections };
    const retrieve = await measure(`GET by id @${size}`, api, [requests.retrieve(ids)], growth);
    const list = await (last ? onApi('list-growth', (target) => measure(`list @${size}`, target, [requests.list()], growth)) : measure(`list @${size}`, api, [requests.list()], growth));
    const deep = await measure(`list, page ${deepPage} @${size}`, api, [requests.list(deepPage)], growth);
    const [deepStatement] = await listStatements('stripe_payments', query({ ...listParams, 'page[number]': deepPage }));
    const cursor = deepStatement ? await deepPageCursor(admin, 'stripe_payments', query(listParams), deepStatement) : undefined;
    const deepByCursor = cursor ? await measure(`list, page ${deepPage} by cursor @${size}`, api, [requests.listAfter(cursor)], growth) : undefined;
    const count = await (last ? onApi('count-growth', (target) => measure(`filtered count @${size}`, target, [requests.count()], growth)) : measure(`filtered count @${size}`, api, [requests.count()], growth));

    // The same lists in PostgreSQL alone: the statements the app's store generates, and
    // beside them what they replaced, on the same rows.
    const plans: SizeResult['plans'] = [];
    const [page, countStatement] = await listStatements('stripe_payments', query(listParams));
    const [cursorStatement] = cursor ? await listStatements('stripe_payments', query({ ...listParams, 'page[after]': cursor }), admin) : [];
    const [, filteredCount] = await listStatements('stripe_payments', query(countParams));
    const add = (name: string, explained: Explained | undefined) => {
      if (explained) plans.push({ name, explained });
    };
    if (page && countStatement && deepStatement && filteredCount) {
      add('list: page ids', await explain(admin, page));
      const countPlan = await explain(admin, countStatement);
      add(`list: record_count, exact up to ${exactCountLimit.toLocaleString('en-US')}`, countPlan);
      const estimate = await plannerEstimate(admin, countStatement);
      if (estimate) {
        plans.push({
          name: `list: record_count above that, planner estimate (${estimate.estimatedRows.toLocaleString('en-US')} estimated, ${estimate.actualRows.toLocaleString('en-US')} actual)`,
          explained: { executionMs: estimate.planningMs, planningMs: estimate.planningMs, jitMs: 0, shape: 'EXPLAIN without ANALYZE: planning only' },
        });
      }
      add('list: full count(*), as before (not run by the API)', await explainFullCount(admin, countStatement));
      add(`list page ${deepPage}: page ids`, await explain(admin, deepStatement));
      if (cursorStatement) add(`list page ${deepPage} by cursor: page ids`, await explain(admin, cursorStatement));
      add(`filtered count: record_count, exact up to ${exactCountLimit.toLocaleString('en-US')}`, await explain(admin, filteredCount));
      if (countPlan.jitMs > 0) add('list: record_count, jit off', await explainWithoutJit(admin, countStatement));
    } else {
      say('  (the store no longer sends a page query and a capped count: SQL plans skipped)');
    }
    sizes.push({ rows, loadSeconds, retrieve, list, deep, deepByCursor, deepPage, count, plans });

    if (last) {
      // A list's count holds a pool connection for as long as it scans: what that does to
      // writes arriving at the same time.
      besideCounts = await measure(`list and POST side by side @${size}`, api, [requests.list(), requests.create(orderIds())]);
    }

    if (size === mainSize) {
      say(`\n## Every request at ${settings.connections} connections, ${rows.toLocaleString('en-US')} stripe payments`);
      // The comparison the targets rest on, in alternating rounds (baseline, API, API,
      // baseline, ...) so that a drift in the machine's speed weighs on both alike.
      const { baselineRun, retrieveMain } = await compareReads();
      // What a prepared statement saves PostgreSQL, without any framework.
      const baselineUnprepared = await measure('baseline, query parsed and planned each time', baseline, [requests.baselineUnprepared(ids)]);
      const listMain = await onApi('list', (target) => measure('GET /api/stripe_payments?include=order&...', target, [requests.list()]));
      const createStarted = new Date(Date.now() - 1_000);
      const create = await onApi('create', (target) => measure('POST /api/stripe_payments', target, [requests.create(orderIds())]));
      created = await loader.apiCreatedPaymentIds(createStarted);
      if (created.length === 0) throw new Error('POST created no payments: nothing to PATCH');
      const update = await onApi('update', (target) => measure('PATCH /api/stripe_payments/:id {_update}', target, [requests.update(created)]));
      const tokenRun = await measure('POST /oauth/token', api, [requests.token()]);
      main = { baselineRun, baselineUnprepared, retrieveMain, listMain, create, update, tokenRun };
    }
  }

  const rowsAtEnd = await visibleRows();
  say(`\n## Memory: ${settings.memoryDuration} s of mixed load at ${rowsAtEnd.toLocaleString('en-US')} stripe payments`);
  // A fresh API process with --trace-gc (V8 prints every collection and the heap it left),
  // warmed up with the same mix first: RSS alone cannot tell a leak from a heap still
  // settling to its working size.
  await api.child.stop();
  api = await startApi(database.databaseUrl, stripeUrl, apiPort, { traceGc: true });
  const mix = [requests.retrieve(ids), requests.listByIds(ids), requests.create(orderIds().reverse()), requests.update(created)];
  await measure('memory warm-up (not reported)', api, mix, { duration: 15, quiet: true });
  const mixed = await measure('GET by id, list of 25 by id_in, POST, PATCH _update', api, mix, {
    duration: settings.memoryDuration,
    rssIntervalMs: 1_000,
    serverLog: true,
  });

  // ------------------------------------------------------------------------------------
  // Report

  const m = main!;
  const smallest = sizes[0]!;
  const largest = sizes.at(-1)!;
  say(`\n# Results (${((Date.now() - startedAt) / 1000).toFixed(0)} s)\n`);
  for (const line of description) say(line);
  say(`PostgreSQL ${serverVersion} on the same machine (${pgSettings}); pool of ${settings.pool} connections for the API and for the baseline`);
  say(`every server (API, baseline, hello) started as node ${[...settings.serverNodeOptions, '--import tsx'].join(' ')}`);
  say(`machine busy before the run: ${backgroundBusy.toFixed(0)}%`);
  say(
    `autocannon in its own process, ${settings.warmup} s warm-up + ${settings.duration} s per row; the load generator, the servers, ` +
      `the Stripe stand-in and PostgreSQL all share the ${os.cpus().length} cores (see the CPU table)`,
  );

  say(`\n### Every request at ${settings.connections} connections, ${smallest.rows.toLocaleString('en-US')} stripe payments\n`);
  const mainRows: [string, Measurement][] = [
    ['bare Fastify hello (ceiling of this machine)', helloRun],
    ['baseline: GET by id, one SQL query + JSON.stringify', m.baselineRun!],
    ['baseline with its query parsed and planned on every request (not prepared)', m.baselineUnprepared!],
    ['GET /api/stripe_payments/:id', m.retrieveMain!],
    ['GET /api/stripe_payments?include=order&page[size]=25&sort=-created_at&filter[q][reference_origin_eq]=storefront', m.listMain!],
    ['POST /api/stripe_payments', m.create!],
    ['PATCH /api/stripe_payments/:id {_update: true}', m.update!],
    ['POST /oauth/token', m.tokenRun!],
  ];
  const base = m.baselineRun!;
  const perRound = (run: Measurement) => (run.rounds && run.rounds.length > 1 ? ` (${run.rounds.length} rounds: ${run.rounds.map(rps).join(', ')} req/s)` : '');
  say(
    markdownTable(
      ['request', 'req/s', 'p50 ms', 'p99 ms', 'errors', 'server peak RSS MiB', 'req/s ÷ baseline', 'p99 ÷ baseline'],
      mainRows.map(([name, run]) => [
        `${name}${perRound(run)}`,
        rps(run.rps),
        latency(run, 'p50'),
        latency(run, 'p99'),
        errorCell(run),
        run.peakRssMiB.toFixed(0),
        ratio(run.rps / base.rps),
        run.requests === 0 ? '-' : ratio(run.p99 / base.p99),
      ]),
    ),
  );

  say('\n### CPU per request during the measured window (ms of one core)\n');
  const cpuRows: [string, Measurement][] = [
    ...mainRows,
    [`list, page 1 @${largest.rows.toLocaleString('en-US')} rows, c=${settings.growthConnections}`, largest.list],
    [`list, page ${largest.deepPage} @${largest.rows.toLocaleString('en-US')} rows, c=${settings.growthConnections}`, largest.deep],
    ...(largest.deepByCursor ? [[`list, page ${largest.deepPage} by cursor @${largest.rows.toLocaleString('en-US')} rows, c=${settings.growthConnections}`, largest.deepByCursor] as [string, Measurement]] : []),
    [`filtered count @${largest.rows.toLocaleString('en-US')} rows, c=${settings.growthConnections}`, largest.count],
  ];
  say(
    markdownTable(
      ['request', 'API or baseline server', 'PostgreSQL', 'Stripe stand-in', 'load generator', 'machine busy', 'of which other processes'],
      cpuRows.map(([name, run]) => {
        const per = (seconds: number) => (run.requests === 0 ? '-' : ms((1000 * seconds) / run.requests));
        const other = run.cpu.machineBusy - run.cpu.server - run.cpu.postgres - run.cpu.standin - run.cpu.loadgen;
        return [
          name.length > 60 ? `${name.slice(0, 57)}...` : name,
          per(run.cpu.server),
          per(run.cpu.postgres),
          per(run.cpu.standin),
          per(run.cpu.loadgen),
          `${((100 * run.cpu.machineBusy) / run.cpu.machineTotal).toFixed(0)}%`,
          `${Math.max(0, (100 * other) / run.cpu.machineTotal).toFixed(0)}%`,
        ];
      }),
    ),
  );

  say(`\n### Growth with the number of stripe payments (${settings.growthConnections} connections)\n`);
  const growthRows: string[][] = [];
  for (const [name, pick] of [
    ['GET by id', (s: SizeResult) => s.retrieve],
    ['list (page 1)', (s: SizeResult) => s.list],
    ['list, deep page (90% in)', (s: SizeResult) => s.deep],
    ['list, deep page by cursor (page[after])', (s: SizeResult) => s.deepByCursor],
    ['filtered count (page[size]=1)', (s: SizeResult) => s.count],
  ] as const) {
    for (const size of sizes) {
      const run = pick(size);
      const first = pick(smallest);
      if (!run || !first) continue;
      growthRows.push([
        name,
        size.rows.toLocaleString('en-US'),
        rps(run.rps),
        latency(run, 'p50'),
        latency(run, 'p99'),
        errorCell(run),
        run.requests === 0 ? '-' : ratio(run.p50 / first.p50),
        run.requests === 0 ? '-' : ratio(run.p99 / first.p99),
      ]);
    }
  }
  say(markdownTable(['request', 'stripe payments', 'req/s', 'p50 ms', 'p99 ms', 'errors', `p50 ÷ first size`, `p99 ÷ first size`], growthRows));
  say(`deep pages: ${sizes.map((size) => `page ${size.deepPage} of the list at ${size.rows.toLocaleString('en-US')}`).join(', ')}`);

  say('\n### The list statements in PostgreSQL alone (EXPLAIN ANALYZE, median of 3, no other load)\n');
  say(
    markdownTable(
      ['stripe payments', 'statement', 'execution ms', 'JIT ms', 'plan'],
      sizes.flatMap((size) => size.plans.map((plan) => [size.rows.toLocaleString('en-US'), plan.name, ms(plan.explained.executionMs), ms(plan.explained.jitMs), plan.explained.shape])),
    ),
  );

  if (besideCounts) {
    say(`\n### Writes beside table-wide counts: the list and POST in turn on each of ${besideCounts.connections} connections, ${largest.rows.toLocaleString('en-US')} stripe payments\n`);
    say(
      markdownTable(
        ['req/s', 'p50 ms', 'p99 ms', 'errors', 'server log'],
        [[rps(besideCounts.rps), latency(besideCounts, 'p50'), latency(besideCounts, 'p99'), errorCell(besideCounts), Object.entries(besideCounts.serverErrors).map(([message, count]) => `${count}× ${message}`).join('; ') || '-']],
      ),
    );
  }

  // Memory: a least-squares line through the samples after the first sixth (warm-up, pools filling).
  const soak = mixed.rss.filter((sample) => sample.t >= mixed.rss.at(-1)!.t / 6);
  const meanT = soak.reduce((sum, s) => sum + s.t, 0) / soak.length;
  const meanM = soak.reduce((sum, s) => sum + s.mib, 0) / soak.length;
  const slope = soak.reduce((sum, s) => sum + (s.t - meanT) * (s.mib - meanM), 0) / soak.reduce((sum, s) => sum + (s.t - meanT) ** 2, 0);
  const span = soak.at(-1)!.t - soak[0]!.t;
  const trend = slope * span;
  const third = Math.max(1, Math.floor(soak.length / 3));
  const firstThird = soak.slice(0, third).reduce((sum, s) => sum + s.mib, 0) / third;
  const lastThird = soak.slice(-third).reduce((sum, s) => sum + s.mib, 0) / third;
  // Flat: the fitted line moves less than 5% of the mean (at least 5 MiB) over the run.
  const memoryFlat = Math.abs(trend) <= Math.max(0.05 * meanM, 5);
  say(`\n### API server memory over ${settings.memoryDuration} s of mixed load (${mixed.label}, c=${mixed.connections})\n`);
  say(
    markdownTable(
      ['req/s', 'errors', 'RSS min MiB', 'RSS max MiB', 'mean, first third', 'mean, last third', 'fitted trend over the run'],
      [[
        rps(mixed.rps),
        errorCell(mixed),
        Math.min(...soak.map((s) => s.mib)).toFixed(0),
        Math.max(...soak.map((s) => s.mib)).toFixed(0),
        firstThird.toFixed(1),
        lastThird.toFixed(1),
        `${trend >= 0 ? '+' : ''}${trend.toFixed(1)} MiB (${((100 * trend) / meanM).toFixed(1)}%, ${(slope * 60).toFixed(1)} MiB/min)`,
      ]],
    ),
  );
  say(`RSS once a second, MiB: ${mixed.rss.map((s) => s.mib.toFixed(0)).join(' ')}`);
  const gc = gcEvents(mixed.serverLog ?? '');
  let heapTrend = Number.NaN;
  if (gc.length > 0) {
    // What a full collection leaves is the live heap; scavenges leave old garbage behind.
    const full = gc.filter((event) => event.kind.startsWith('Mark'));
    if (full.length >= 3) heapTrend = slopeOf(full.map((event) => ({ x: event.at, y: event.after }))) * (full.at(-1)!.at - full[0]!.at);
    const pauses = gc.map((event) => event.pauseMs).sort((a, b) => a - b);
    const windowMs = (mixed.window.toMicros - mixed.window.fromMicros) / 1000;
    say(
      `V8 heap (--trace-gc): ${gc.length} collections, ${full.length} of them mark-compact, leaving ` +
        `${full.length > 0 ? `${full.map((event) => event.after.toFixed(0)).join(', ')} MB` : '-'}` +
        `${Number.isFinite(heapTrend) ? ` (fitted trend ${heapTrend >= 0 ? '+' : ''}${heapTrend.toFixed(1)} MB)` : ' (too few full collections for a trend)'}; ` +
        `pauses: longest ${pauses.at(-1)!.toFixed(1)} ms, 99th percentile ${pauses[Math.ceil(0.99 * pauses.length) - 1]!.toFixed(1)} ms, ` +
        `${((100 * pauses.reduce((sum, pause) => sum + pause, 0)) / windowMs).toFixed(1)}% of the time`,
    );
  }

  say('\n### Targets\n');
  const retrieveRatio = m.retrieveMain!.rps / base.rps;
  const p99Ratio = m.retrieveMain!.p99 / base.p99;
  const listP50 = largest.list.p50 / smallest.list.p50;
  const listP99 = largest.list.p99 / smallest.list.p99;
  const listMeasured = largest.list.requests > 0 && smallest.list.requests > 0;
  const verdict = (pass: boolean) => (pass ? 'PASS' : 'MISS');
  say(
    markdownTable(
      ['target', 'measured', 'result'],
      [
        ['GET by id ≥ 0.5× the baseline’s req/s', `${ratio(retrieveRatio)}× (${rps(m.retrieveMain!.rps)} vs ${rps(base.rps)} req/s)`, verdict(retrieveRatio >= 0.5)],
        [`read p99 at ${settings.connections} connections ≤ 1.5× the baseline’s p99`, `${ratio(p99Ratio)}× (${ms(m.retrieveMain!.p99)} vs ${ms(base.p99)} ms)`, verdict(p99Ratio <= 1.5)],
        [
          `list latency at ${largest.rows.toLocaleString('en-US')} ≤ 2× at ${smallest.rows.toLocaleString('en-US')} (p50 and p99, c=${settings.growthConnections})`,
          listMeasured ? `p50 ${ratio(listP50)}×, p99 ${ratio(listP99)}×` : 'no list completed at one of the sizes',
          verdict(listMeasured && listP50 <= 2 && listP99 <= 2),
        ],
        [
          `API memory flat over ${settings.memoryDuration} s`,
          `RSS ${trend >= 0 ? '+' : ''}${trend.toFixed(1)} MiB fitted trend (${((100 * trend) / meanM).toFixed(1)}% of ${meanM.toFixed(0)} MiB)` +
            (Number.isFinite(heapTrend) ? `; V8 heap after full collections ${heapTrend >= 0 ? '+' : ''}${heapTrend.toFixed(1)} MB` : ''),
          verdict(memoryFlat),
        ],
      ],
    ),
  );

  if (profiles.length > 0) {
    say('\n### CPU profiles of the API server (measured window only)\n');
    for (const profile of profiles) say(`${profile}\n`);
  }

  if (flags.json) {
    const lean = (_key: string, value: unknown) => (_key === 'latencies' || _key === 'serverLog' ? undefined : value);
    writeFileSync(flags.json, JSON.stringify({ settings, helloRun, main: m, sizes, besideCounts, mixed }, lean, 1));
    say(`raw results: ${flags.json}`);
  }
}

function errorCell(run: Measurement): string {
  if (run.errors === 0) return '0';
  return `${run.errors} (${Object.entries(run.unexpected).map(([key, count]) => `${key}×${count}`).join(', ')})`;
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
