// npx tsx bench/instructions.ts: what one GET by id costs the API and the baseline in
// machine instructions, counted by valgrind's callgrind in the server process (every
// thread: the event loop, V8's compiler and GC threads, libuv's pool). Instructions do not
// change with what else the machine runs, so this tells "the code costs more" from "the
// machine was busy", which req/s on a shared machine cannot. Each server runs under
// callgrind with counting off, is warmed up, then counts a fixed number of requests.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import type { Secrets, Settings } from './bench.ts';
import { BulkLoader, createBenchDatabase, projectRoot, type BenchDatabase } from './database.ts';
import { freePort, startNode, stopAll, waitForHttp } from './processes.ts';
import { getToken, requestsFor } from './requests.ts';
import type { RequestSpec } from './load.ts';
import { poolEnv, startApi, startPlain, type Target } from './servers.ts';

const { values: flags } = parseArgs({
  options: {
    requests: { type: 'string', default: '2000' },
    warmup: { type: 'string', default: '4000' },
    connections: { type: 'string', default: '16' },
    'database-url': { type: 'string', default: process.env.BENCH_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres' },
    'server-node-options': { type: 'string', default: '--max-semi-space-size=64' },
    only: { type: 'string' },
  },
});
const counted = Number(flags.requests);
const warmup = Number(flags.warmup);
const connections = Number(flags.connections);
const say = (line = '') => process.stdout.write(`${line}\n`);

const settings = {
  pool: 10,
  serverNodeOptions: (flags['server-node-options'] ?? '').split(/\s+/).filter(Boolean),
} as Settings;
const secrets: Secrets = {
  encryptionKey: randomBytes(32),
  tokenSigningSecret: randomBytes(48).toString('base64url'),
  clientId: `bench-${randomBytes(6).toString('hex')}`,
  clientSecret: randomBytes(24).toString('base64url'),
};
const workDir = mkdtempSync(path.join(os.tmpdir(), 'payments-instructions-'));
const callgrind = (name: string) => [
  'valgrind',
  '--tool=callgrind',
  '--instr-atstart=no',
  // V8 writes and rewrites machine code: valgrind must notice code changed anywhere.
  '--smc-check=all',
  `--callgrind-out-file=${path.join(workDir, `${name}.%p.out`)}`,
];
const underValgrind = 10 * 60_000;

/** `count` requests on `concurrency` keep-alive connections, paths in turn; fails on an unexpected status. */
async function send(target: Target, request: RequestSpec, count: number, concurrency: number): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const k = next++;
      const response = await fetch(`${target.origin}${request.paths[k % request.paths.length]}`, { method: request.method, headers: request.headers });
      await response.arrayBuffer();
      if (!request.expect.includes(response.status)) throw new Error(`${target.name}: ${request.paths[k % request.paths.length]} answered ${response.status}`);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

const control = (pid: number, ...args: string[]) => execFileSync('callgrind_control', [...args, String(pid)], { encoding: 'utf8' });

/** Instructions per request of `target` over `counted` requests after `warmup` uncounted ones. */
async function instructionsPerRequest(target: Target, request: RequestSpec, name: string): Promise<number> {
  const started = performance.now();
  await send(target, request, warmup, connections);
  // Let the compiler threads finish what the warm-up queued, uncounted.
  await sleep(2_000);
  control(target.child.pid, '--instr=on');
  await send(target, request, counted, connections);
  control(target.child.pid, '--dump=counted');
  control(target.child.pid, '--instr=off');
  const dumps = readdirSync(workDir).filter((file) => file.startsWith(`${name}.${target.child.pid}.out`));
  let total = 0;
  for (const file of dumps) {
    const text = readFileSync(path.join(workDir, file), 'utf8');
    if (!text.includes('counted')) continue;
    const match = /^(?:summary|totals):\s+(\d+)/m.exec(text);
    if (match) total += Number(match[1]);
  }
  if (total === 0) throw new Error(`${name}: no callgrind dump with counts in ${workDir} (${dumps.join(', ')})`);
  say(`  ${name}: ${(total / counted / 1e3).toFixed(0)} thousand instructions per request (${counted} requests counted after ${warmup}, c=${connections}, ${((performance.now() - started) / 1000).toFixed(0)} s)`);
  return total / counted;
}

let database: BenchDatabase | undefined;
let loader: BulkLoader | undefined;
try {
  say('# Instructions per GET by id (valgrind --tool=callgrind, server process, every thread)');
  say(`node ${process.version}; code at ${execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: projectRoot, encoding: 'utf8' }).trim()}; servers started as node ${settings.serverNodeOptions.join(' ')} --import tsx`);
  database = await createBenchDatabase(flags['database-url']!);
  loader = await BulkLoader.open(database.databaseUrl, secrets.encryptionKey);
  await loader.growTo(10_000);
  const ids = await loader.samplePaymentIds(10_000);
  const standinPort = await freePort();
  const standin = startNode('Stripe stand-in', 'packages/stripe-standin/src/main.ts', { cwd: projectRoot, args: ['--port', String(standinPort)] });
  const stripeUrl = `http://127.0.0.1:${standinPort}`;
  await waitForHttp(`${stripeUrl}/v1/payment_intents`, standin);
  const results: Record<string, number> = {};
  if (flags.only !== 'api') {
    const baseline = await startPlain(
      settings,
      'baseline',
      'bench/baseline-server.ts',
      { DATABASE_URL: database.databaseUrl, ENCRYPTION_KEY: secrets.encryptionKey.toString('base64'), STRIPE_API_URL: stripeUrl, ...poolEnv(settings) },
      undefined,
      { wrapper: callgrind('baseline'), startTimeoutMs: underValgrind },
    );
    results.baseline = await instructionsPerRequest(baseline, requestsFor('', secrets).baseline(ids), 'baseline');
    await baseline.child.stop();
  }
  if (flags.only !== 'baseline') {
    const api = await startApi(settings, secrets, database.databaseUrl, stripeUrl, await freePort(), { wrapper: callgrind('api'), startTimeoutMs: underValgrind });
    const token = await getToken(api.origin, secrets);
    results.api = await instructionsPerRequest(api, requestsFor(token, secrets).retrieve(ids), 'API');
    await api.child.stop();
  }
  if (results.api && results.baseline) say(`API ÷ baseline: ${(results.api / results.baseline).toFixed(2)}× the instructions per GET by id`);
} catch (error) {
  process.exitCode = 1;
  say(`failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
} finally {
  await stopAll();
  await loader?.close().catch(() => {});
  await database?.drop().catch(() => {});
  rmSync(workDir, { recursive: true, force: true });
}
process.exit();
