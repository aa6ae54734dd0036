// Memory: fresh API and baseline processes under --trace-gc and the same mix of reads and
// writes for --memory-duration seconds, RSS sampled once a second; the API's RSS against
// the baseline's, and flat or not, from a fitted line.
import { mkdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { visibleRows, type Bench } from '../bench.ts';
import { formatHeap, summarizeHeap, type HeapSummary } from '../heap-summary.ts';
import { errorCell, measure, quiesce, type Measurement } from '../measure.ts';
import { markdownTable, ratio, rps } from '../report.ts';
import { asBuilt, startApi, startPlain, type Target } from '../servers.ts';

interface GcEvent {
  /** ms since the isolate started. */
  at: number;
  kind: string;
  /** Heap used after the collection, MB as V8 prints it. */
  after: number;
  pauseMs: number;
}

/**
 * The lines `node --trace-gc` prints, e.g. "1044 ms: Mark-Compact 150.1 (184.4) -> 142.1 (176.7) MB, 52.22 / 0.01 ms";
 * Node.js 24's V8 adds "pooled: 1 MB, " before the pause.
 */
export function gcEvents(log: string): GcEvent[] {
  const events: GcEvent[] = [];
  for (const match of log.matchAll(/(\d+) ms: ([A-Za-z -]+?) [\d.]+ \([\d.]+\) -> ([\d.]+) \([\d.]+\) MB, (?:pooled: [\d.]+ MB, )?([\d.]+) \/ /g)) {
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

/** One server's round of the comparison: its measurement and what its memory was made of at the end. */
export interface MemoryRound {
  server: 'API' | 'baseline';
  round: number;
  run: Measurement;
  report: MemoryReport | undefined;
  /** With --heap-snapshot: what the snapshot taken at the round's end holds. */
  heap?: HeapSummary;
  /** The machine's 1-minute load average at the round's end. */
  loadAverage: number;
}

/** What bench/memory-report.mjs prints: process.memoryUsage() and V8's heap spaces, bytes. */
export interface MemoryReport {
  rss: number;
  heapTotal: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
  spaces: Record<string, { size: number; used: number }>;
  /** The heap snapshot written first, with --heap-snapshot. */
  snapshot?: string;
}

export interface MemoryComparison {
  /** How both servers ran: compiled (plain node, as production) or tsx on the sources. */
  from: 'compiled' | 'sources';
  rounds: MemoryRound[];
}

/** The round with its heap snapshot's summary, when one was written. */
function withHeap(round: MemoryRound): MemoryRound {
  return round.report?.snapshot ? { ...round, heap: summarizeHeap(round.report.snapshot) } : round;
}

/** Asks a server started with the memory report for it, and reads the line it prints. */
async function memoryReportOf(target: Target): Promise<MemoryReport | undefined> {
  const mark = target.child.mark();
  target.child.process.kill('SIGUSR2');
  // A heap snapshot of a few hundred MiB takes a while on a busy machine.
  for (let waited = 0; waited < 120_000; waited += 100) {
    await sleep(100);
    const line = /memory-report (\{.*\})\n/.exec(target.child.outputSince(mark))?.[1];
    if (line) return JSON.parse(line) as MemoryReport;
  }
  return undefined;
}

/**
 * The API and the hand-written baseline under the same mixed load, each a fresh process
 * under --trace-gc with the memory report, warmed up with the mix for 15 s, then measured
 * for --memory-duration seconds with RSS sampled once a second; in alternating rounds
 * (baseline, API, API, baseline, ...). Both PATCH the payments the API created that are
 * still their order's (a create replaces an order's payment and cancels its PaymentIntent,
 * which an update refuses), and POST on orders of their own.
 * `ids`: payments to read; `created`: payments the API created.
 */
export async function compareMemory(bench: Bench, ids: string[], created: string[]): Promise<{ mixed: Measurement; comparison: MemoryComparison }> {
  const { settings, say, requests, compiled } = bench;
  const rowsAtEnd = await visibleRows(bench);
  const from = compiled ? 'compiled' : 'sources';
  say(`\n## Memory: ${settings.memoryDuration} s of mixed load at ${rowsAtEnd.toLocaleString('en-US')} stripe payments, the API beside the baseline (${from})`);
  // Creates still in flight when the last load generator stopped may yet replace (and
  // cancel) a payment of `created`: the API finishes them before the payments are chosen.
  await quiesce(bench.api);
  const live = new Set(await bench.loader.apiCreatedPaymentIds(new Date(0)));
  // And whose PaymentIntent can still be updated: both servers refuse a canceled or succeeded one.
  const updatable = new Set(
    (await bench.loader.query<{ id: string }>(`SELECT id FROM stripe_payments WHERE id = ANY($1) AND stripe_id IS NOT NULL AND status NOT IN ('canceled', 'succeeded')`, [created])).map((row) => row.id),
  );
  const updated = created.filter((id) => live.has(id) && updatable.has(id));
  if (updated.length < created.length) say(`(${created.length - updated.length} of the ${created.length} payments the API created are no longer their order's or can no longer be updated: not PATCHed)`);
  if (updated.length === 0) throw new Error('no payment of the API is still its order\'s: nothing to PATCH');
  const snapshots = settings.heapSnapshot ? path.join(bench.profileDir, 'heap') : undefined;
  if (snapshots) {
    rmSync(snapshots, { recursive: true, force: true });
    mkdirSync(snapshots, { recursive: true });
  }
  const diagnostics = (server: 'api' | 'baseline') => ({
    traceGc: true,
    memoryReport: true,
    ...(snapshots ? { heapSnapshotTo: snapshots } : {}),
    ...asBuilt(compiled, server),
  });
  const label = 'GET by id, list of 25 by id_in, POST, PATCH _update';
  const rounds: MemoryRound[] = [];
  const apiRound = async (round: number) => {
    await bench.api.child.stop();
    bench.api = await startApi(settings, bench.secrets, bench.database.databaseUrl, bench.stripeUrl, bench.apiPort, diagnostics('api'));
    // The warm-up's creates on orders of their own too: every create is its order's first.
    const mix = async () => [requests.retrieve(ids), requests.listByIds(ids), requests.create(await bench.loader.freshOrders(20_000)), requests.update(updated)];
    await measure(bench, 'memory warm-up of the API (not reported)', bench.api, await mix(), { duration: 15, quiet: true });
    const run = await measure(bench, `API: ${label} (${round + 1})`, bench.api, await mix(), { duration: settings.memoryDuration, rssIntervalMs: 1_000, serverLog: true });
    rounds.push(withHeap({ server: 'API', round, run, report: await memoryReportOf(bench.api), loadAverage: os.loadavg()[0]! }));
  };
  const baselineRound = async (round: number) => {
    await bench.baseline.child.stop();
    bench.baseline = await startPlain(settings, 'baseline', 'bench/baseline-server.ts', bench.baselineEnv, diagnostics('baseline'));
    const mix = async () => [requests.baseline(ids), requests.baselineListByIds(ids), requests.baselineCreate(await bench.loader.freshOrders(20_000)), requests.baselineUpdate(updated)];
    await measure(bench, 'memory warm-up of the baseline (not reported)', bench.baseline, await mix(), { duration: 15, quiet: true });
    const run = await measure(bench, `baseline: ${label} (${round + 1})`, bench.baseline, await mix(), { duration: settings.memoryDuration, rssIntervalMs: 1_000, serverLog: true });
    rounds.push(withHeap({ server: 'baseline', round, run, report: await memoryReportOf(bench.baseline), loadAverage: os.loadavg()[0]! }));
  };
  for (let round = 0; round < settings.rounds; round += 1) {
    if (round % 2 === 0) await baselineRound(round);
    await apiRound(round);
    if (round % 2 !== 0) await baselineRound(round);
  }
  // The API's last round is the one the flat-memory target reads.
  const mixed = rounds.filter((entry) => entry.server === 'API').at(-1)!.run;
  return { mixed, comparison: { from, rounds } };
}

/** What the targets read of the memory run. */
export interface MemoryFigures {
  /** MiB the fitted RSS line moves over the run. */
  trend: number;
  meanM: number;
  /** MB the V8 heap left by full collections moves over the run; NaN with fewer than 3. */
  heapTrend: number;
  memoryFlat: boolean;
}

/** Prints the memory table, the RSS samples and the V8 heap line of the results. */
export function printMemory(bench: Bench, mixed: Measurement): MemoryFigures {
  const { settings, say } = bench;
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
  return { trend, meanM, heapTrend, memoryFlat };
}

/** The samples a memory figure reads: after the first sixth of the window (pools filling, the young generation growing). */
function soakOf(run: Measurement) {
  return run.rss.filter((sample) => sample.t >= run.rss.at(-1)!.t / 6);
}

/** The target's figure: the API's RSS ÷ the baseline's, of the means and of the maxima over every round. */
export interface MemoryRatio {
  apiMean: number;
  apiMax: number;
  baselineMean: number;
  baselineMax: number;
  meanRatio: number;
  maxRatio: number;
  pass: boolean;
}

const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(0);

/** Prints the comparison: each round, the means and maxima, the ratio, and what each server's memory was made of. */
export function printMemoryComparison(bench: Bench, comparison: MemoryComparison): MemoryRatio {
  const { settings, say } = bench;
  say(`\n### RSS under the mixed load, the API beside the hand-written baseline (${settings.memoryDuration} s per round, c=${settings.connections}, ${comparison.from})\n`);
  say(
    comparison.from === 'compiled'
      ? 'both compiled, as production runs the API: plain node on the tsc build (dist/server.js) and on the baseline stripped of its types by esbuild'
      : 'both run by tsx on their sources (--from sources), each with tsx\'s loader thread',
  );
  say(`node options of both: ${settings.serverNodeOptions.join(' ') || '(none)'}, --trace-gc and bench/memory-report.mjs\n`);
  const rows = comparison.rounds.map(({ server, round, run, loadAverage }) => {
    const soak = soakOf(run).map((sample) => sample.mib);
    const full = gcEvents(run.serverLog ?? '').filter((event) => event.kind.startsWith('Mark'));
    return [
      server,
      String(round + 1),
      rps(run.rps),
      errorCell(run),
      (soak.reduce((sum, value) => sum + value, 0) / soak.length).toFixed(0),
      Math.max(...soak).toFixed(0),
      String(full.length),
      full.length > 0 ? full.at(-1)!.after.toFixed(0) : '-',
      loadAverage.toFixed(2),
    ];
  });
  say(markdownTable(['server', 'round', 'req/s', 'errors', 'RSS mean MiB', 'RSS max MiB', 'full collections', 'heap after the last, MB', 'load average'], rows));
  const of = (server: 'API' | 'baseline') => {
    const samples = comparison.rounds.filter((entry) => entry.server === server).flatMap((entry) => soakOf(entry.run).map((sample) => sample.mib));
    return { mean: samples.reduce((sum, value) => sum + value, 0) / samples.length, max: Math.max(...samples) };
  };
  const api = of('API');
  const baseline = of('baseline');
  const figures: MemoryRatio = {
    apiMean: api.mean,
    apiMax: api.max,
    baselineMean: baseline.mean,
    baselineMax: baseline.max,
    meanRatio: api.mean / baseline.mean,
    maxRatio: api.max / baseline.max,
    pass: api.mean / baseline.mean <= 2 && api.max / baseline.max <= 2,
  };
  say(
    `\nAPI RSS ÷ baseline RSS: mean ${ratio(figures.meanRatio)}× (${api.mean.toFixed(0)} vs ${baseline.mean.toFixed(0)} MiB), ` +
      `max ${ratio(figures.maxRatio)}× (${api.max.toFixed(0)} vs ${baseline.max.toFixed(0)} MiB): ${figures.pass ? 'PASS' : 'MISS'} (target ≤ 2×)`,
  );
  const reports = comparison.rounds.filter((entry) => entry.report !== undefined);
  if (reports.length > 0) {
    say('\nWhat the RSS was made of at the end of each round (process.memoryUsage() and V8 heap spaces, MiB):\n');
    const spaceNames = ['new_space', 'old_space', 'code_space', 'large_object_space'];
    say(
      markdownTable(
        ['server', 'round', 'RSS', 'V8 heap', ...spaceNames, 'heap used', 'external (of which array buffers)', 'outside the heap and external'],
        reports.map(({ server, round, report }) => [
          server,
          String(round + 1),
          mib(report!.rss),
          mib(report!.heapTotal),
          ...spaceNames.map((name) => (report!.spaces[name] ? mib(report!.spaces[name]!.size) : '-')),
          mib(report!.heapUsed),
          `${mib(report!.external)} (${mib(report!.arrayBuffers)})`,
          mib(report!.rss - report!.heapTotal - report!.external),
        ]),
      ),
    );
  }
  for (const { server, round, heap, report } of comparison.rounds) {
    if (heap) say(`\n${server}, round ${round + 1} (${report!.snapshot}):\n${formatHeap(heap)}`);
  }
  return figures;
}

/**
 * --memory-only: the memory comparison alone at the first size, in a few minutes. Before
 * it, GET by id and POST on the API alone (as the servers run in the comparison), for
 * their req/s at these node options; the POST's payments are the ones the mix updates.
 */
export async function memoryOnlyRun(bench: Bench, size: number): Promise<void> {
  const { settings, say, loader, requests, compiled } = bench;
  await loader.growTo(size);
  const ids = await loader.samplePaymentIds(10_000);
  say(`\n## The API alone at ${settings.connections} connections (${compiled ? 'compiled' : 'sources'}; node options ${settings.serverNodeOptions.join(' ') || '(none)'})`);
  await measure(bench, 'warm-up of the API (not reported)', bench.api, [requests.retrieve(ids)], { duration: 5, quiet: true });
  const retrieve = await measure(bench, 'GET /api/stripe_payments/:id', bench.api, [requests.retrieve(ids)]);
  const retrieveLoad = os.loadavg()[0]!;
  const createStarted = new Date(Date.now() - 1_000);
  const create = await measure(bench, 'POST /api/stripe_payments', bench.api, [requests.create(await loader.freshOrders(30_000))]);
  const createLoad = os.loadavg()[0]!;
  const created = await loader.apiCreatedPaymentIds(createStarted);
  const { mixed, comparison } = await compareMemory(bench, ids, created);
  say('');
  say(
    markdownTable(
      ['API alone', 'req/s', 'p99 ms', 'errors', 'peak RSS MiB', 'load average'],
      [
        ['GET by id', rps(retrieve.rps), retrieve.p99.toFixed(1), errorCell(retrieve), retrieve.peakRssMiB.toFixed(0), retrieveLoad.toFixed(2)],
        ['POST', rps(create.rps), create.p99.toFixed(1), errorCell(create), create.peakRssMiB.toFixed(0), createLoad.toFixed(2)],
      ],
    ),
  );
  printMemory(bench, mixed);
  printMemoryComparison(bench, comparison);
}
