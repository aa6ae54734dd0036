// One figure of a benchmark run: a load generator in its own process against one server,
// with the server's RSS, the CPU of every process involved and what the server logged.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Bench } from './bench.ts';
import { cpuSecondsOf, machineSeconds, postgresCpuSeconds } from './cpu.ts';
import { projectRoot } from './database.ts';
import type { LoadResult, LoadSpec, RequestSpec } from './load.ts';
import { runNode, sampleRss, type RssSample } from './processes.ts';
import { ms, rps } from './report.ts';
import { loadGeneratorCpu, type Target } from './servers.ts';

export interface Measurement extends LoadResult {
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

let specCounter = 0;

/**
 * A latency file as numbers. A small file's Buffer is a view into Node's shared pool, so
 * only the view's bytes are read, not its whole ArrayBuffer (which gave garbage
 * percentiles for a figure of a few hundred requests).
 */
function readLatencies(file: string): number[] {
  const bytes = readFileSync(file);
  // Copied into an ArrayBuffer of its own: a pooled view's offset need not be 8-aligned.
  return [...new Float64Array(new Uint8Array(bytes).buffer)].sort((a, b) => a - b);
}

/** One request by fetch before the load: a wrong setup fails here, with the response, instead of as a column of errors. */
async function smokeCheck(bench: Bench, target: Target, request: RequestSpec): Promise<void> {
  const response = await fetch(`${target.origin}${request.paths[0]}`, {
    method: request.method,
    headers: request.headers,
    ...(request.bodies ? { body: request.bodies[0] } : {}),
    signal: AbortSignal.timeout(bench.settings.timeout * 1000),
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
export async function quiesce(target: Target): Promise<void> {
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

export async function measure(
  bench: Bench,
  label: string,
  target: Target,
  requests: RequestSpec[],
  options: { duration?: number; connections?: number; rssIntervalMs?: number; smoke?: boolean; quiet?: boolean; latencies?: boolean; serverLog?: boolean } = {},
): Promise<Measurement> {
  await quiesce(target);
  if (options.smoke !== false) for (const request of requests) await smokeCheck(bench, target, request);
  const { settings, say } = bench;
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
  const specFile = path.join(bench.workDir, `spec-${specCounter}.json`);
  if (options.latencies) spec.latencyFile = path.join(bench.workDir, `latencies-${specCounter}.f64`);
  writeFileSync(specFile, JSON.stringify(spec));
  const snapshot = () => ({
    server: cpuSecondsOf(target.child.pid),
    postgres: postgresCpuSeconds(),
    standin: cpuSecondsOf(bench.standin.pid),
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
    }, settings.pin ? loadGeneratorCpu : []);
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
    ...(spec.latencyFile ? { latencies: readLatencies(spec.latencyFile) } : {}),
    ...(options.serverLog ? { serverLog: target.child.outputSince(measuringMark) } : {}),
  };
  if (!options.quiet) {
    const errors = measurement.errors > 0 ? `, errors ${measurement.errors} ${JSON.stringify(measurement.unexpected)}` : '';
    say(`  ${label.padEnd(48)} c=${String(connections).padEnd(3)} ${rps(measurement.rps).padStart(7)} req/s  p50 ${latency(measurement, 'p50', settings.duration).padStart(7)}  p99 ${latency(measurement, 'p99', settings.duration).padStart(7)} ms  RSS ${measurement.peakRssMiB.toFixed(0)} MiB${errors}`);
    for (const [message, count] of Object.entries(measurement.serverErrors)) say(`      server logged ${count}× ${message}`);
  }
  return measurement;
}

/** A latency figure, or "none" when no request completed inside the `duration` s window. */
export function latency(m: Measurement, which: 'p50' | 'p99', duration: number): string {
  return m.requests === 0 ? `none in ${duration} s` : ms(m[which]);
}

/** Rounds of the same measurement as one figure: requests over time, percentiles over every latency. */
export function combine(label: string, runs: Measurement[]): Measurement {
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
    ...(runs.some((run) => run.serverLog !== undefined) ? { serverLog: runs.map((run) => run.serverLog ?? '').join('\n') } : {}),
  };
}

export function errorCell(run: Measurement): string {
  if (run.errors === 0) return '0';
  return `${run.errors} (${Object.entries(run.unexpected).map(([key, count]) => `${key}×${count}`).join(', ')})`;
}
