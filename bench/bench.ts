// What every scenario of a benchmark run shares: its settings (from run.ts's flags), the
// database, the processes it started, and where it prints.
import type pg from 'pg';
import type { Compiled } from './compiled.ts';
import type { BenchDatabase, BulkLoader } from './database.ts';
import type { Child } from './processes.ts';
import type { Requests } from './requests.ts';
import type { Target } from './servers.ts';

export interface Settings {
  duration: number;
  warmup: number;
  connections: number;
  growthConnections: number;
  memoryDuration: number;
  sizes: number[];
  pool: number;
  timeout: number;
  adminUrl: string;
  rounds: number;
  /** GET by id beside the baseline: pairs of rounds, and the measured seconds of each round. */
  readRounds: number;
  readDuration: number;
  /** Servers on CPU 1, load generators on CPU 0 (taskset); PostgreSQL where the kernel puts it. */
  pin: boolean;
  /** Before each pair, wait (at most 15 s) until the machine is less than this % busy; pairs with more other load are left out of the medians. 0: neither. */
  quietBelow: number;
  profile: boolean;
  readOnly: boolean;
  postOnly: boolean;
  memoryOnly: boolean;
  /** A heap snapshot of each server at the end of each memory round, summarised (bench/.profiles/heap). */
  heapSnapshot: boolean;
  /** How the API and the baseline run: compiled, as production runs the API, or tsx on the sources. */
  from: 'compiled' | 'sources';
  serverNodeOptions: string[];
}

/** The API's credentials and keys, made for the run. */
export interface Secrets {
  encryptionKey: Buffer;
  tokenSigningSecret: string;
  clientId: string;
  clientSecret: string;
}

export interface Bench {
  settings: Settings;
  secrets: Secrets;
  say(line?: string): void;
  /** Load specs and latency files of the run, removed at the end. */
  workDir: string;
  /** Where --profile writes CPU profiles (bench/.profiles). */
  profileDir: string;
  database: BenchDatabase;
  admin: pg.Client;
  loader: BulkLoader;
  standin: Child;
  stripeUrl: string;
  /** What the API and the baseline run from, when compiled (`--from compiled`). */
  compiled: Compiled | undefined;
  /** The API server; a profiled measurement replaces it with a fresh process. */
  api: Target;
  apiPort: number;
  baseline: Target;
  /** The baseline's environment, to start a fresh one. */
  baselineEnv: Record<string, string>;
  hello: Target;
  requests: Requests;
  /** CPU profile summaries, printed with the results. */
  profiles: string[];
}

/** Stripe payments a list shows: bulk-loaded plus any the API created. */
export async function visibleRows(bench: Bench): Promise<number> {
  return (await bench.admin.query<{ count: number }>(`SELECT count(*)::int AS count FROM stripe_payments WHERE intent_state = 'created'`)).rows[0]!.count;
}
