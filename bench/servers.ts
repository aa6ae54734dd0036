// The servers a benchmark run measures: the API, and the plain ones beside it (baseline, hello).
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Secrets, Settings } from './bench.ts';
import type { Compiled } from './compiled.ts';
import { projectRoot } from './database.ts';
import { freePort, startNode, waitForHttp, type Child } from './processes.ts';

export interface Target {
  name: string;
  child: Child;
  origin: string;
}

/** --pin: where the servers run and where the load generator runs, one core each. */
export const serverCpu = ['taskset', '-c', '1'];
export const loadGeneratorCpu = ['taskset', '-c', '0'];

export const poolEnv = (settings: Settings) => ({ DATABASE_POOL_MAX: String(settings.pool) });

/** How a server is started beyond the run's flags: profiled, traced, with the memory report, compiled. */
export interface Diagnostics {
  profileTo?: string;
  traceGc?: boolean;
  /** bench/memory-report.mjs preloaded: SIGUSR2 prints what the RSS is made of. */
  memoryReport?: boolean;
  /** With memoryReport: where SIGUSR2 writes a heap snapshot before the report. */
  heapSnapshotTo?: string;
  /** Plain node on this compiled script (bench/compiled.ts), run in `cwd`, instead of tsx on the sources. */
  compiled?: { script: string; cwd: string };
}

/** How `server` starts when the run is compiled (`--from compiled`); nothing when it runs on its sources. */
export function asBuilt(compiled: Compiled | undefined, server: 'api' | 'baseline'): Pick<Diagnostics, 'compiled'> {
  return compiled ? { compiled: { script: compiled[server], cwd: compiled.dir } } : {};
}

const memoryReport = pathToFileURL(path.join(projectRoot, 'bench', 'memory-report.mjs')).href;

function nodeOptionsFor(settings: Settings, diagnostics: Diagnostics): string[] {
  return [
    ...settings.serverNodeOptions,
    ...(diagnostics.profileTo ? ['--cpu-prof', '--cpu-prof-dir', diagnostics.profileTo] : []),
    ...(diagnostics.traceGc ? ['--trace-gc'] : []),
    ...(diagnostics.memoryReport ? ['--import', memoryReport] : []),
  ];
}

export async function startApi(
  settings: Settings,
  secrets: Secrets,
  databaseUrl: string,
  stripeUrl: string,
  port: number,
  diagnostics: Diagnostics = {},
): Promise<Target> {
  const { compiled } = diagnostics;
  const child = startNode('API server', compiled?.script ?? 'src/server.ts', {
    cwd: compiled?.cwd ?? projectRoot,
    javascript: compiled !== undefined,
    ...(settings.pin ? { wrapper: serverCpu } : {}),
    nodeOptions: nodeOptionsFor(settings, diagnostics),
    env: {
      NODE_ENV: 'production',
      HOST: '127.0.0.1',
      PORT: String(port),
      DATABASE_URL: databaseUrl,
      ...poolEnv(settings),
      STRIPE_API_URL: stripeUrl,
      TOKEN_SIGNING_SECRET: secrets.tokenSigningSecret,
      ENCRYPTION_KEY: secrets.encryptionKey.toString('base64'),
      API_CLIENT_ID: secrets.clientId,
      API_CLIENT_SECRET: secrets.clientSecret,
      LOG_LEVEL: 'warn',
      ...(diagnostics.heapSnapshotTo ? { BENCH_HEAP_SNAPSHOT_DIR: diagnostics.heapSnapshotTo } : {}),
      // The limiter stays in the request path (its cost is measured) with a budget no run reaches.
      RATE_LIMIT_MAX: '1000000',
      RATE_LIMIT_WINDOW_SECONDS: '1',
    },
  });
  const origin = `http://127.0.0.1:${port}`;
  await waitForHttp(`${origin}/`, child);
  return { name: 'API', child, origin };
}

export async function startPlain(settings: Settings, name: string, script: string, env: Record<string, string>, diagnostics: Diagnostics = {}): Promise<Target> {
  const port = await freePort();
  const { compiled } = diagnostics;
  const child = startNode(name, compiled?.script ?? script, {
    cwd: compiled?.cwd ?? projectRoot,
    javascript: compiled !== undefined,
    ...(settings.pin ? { wrapper: serverCpu } : {}),
    nodeOptions: nodeOptionsFor(settings, diagnostics),
    env: { NODE_ENV: 'production', PORT: String(port), ...env, ...(diagnostics.heapSnapshotTo ? { BENCH_HEAP_SNAPSHOT_DIR: diagnostics.heapSnapshotTo } : {}) },
  });
  const origin = `http://127.0.0.1:${port}`;
  await waitForHttp(`${origin}/`, child);
  return { name, child, origin };
}
