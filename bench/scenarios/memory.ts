// Memory: a fresh API process under --trace-gc and a mix of reads and writes for
// --memory-duration seconds, RSS sampled once a second; flat or not, from a fitted line.
import { visibleRows, type Bench } from '../bench.ts';
import { errorCell, measure, type Measurement } from '../measure.ts';
import { markdownTable, rps } from '../report.ts';
import { startApi } from '../servers.ts';

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

/** `ids`: payments to read; `created`: payments the API created, to PATCH. */
export async function measureMemory(bench: Bench, ids: string[], created: string[]): Promise<Measurement> {
  const { settings, say, requests } = bench;
  const rowsAtEnd = await visibleRows(bench);
  say(`\n## Memory: ${settings.memoryDuration} s of mixed load at ${rowsAtEnd.toLocaleString('en-US')} stripe payments`);
  // A fresh API process with --trace-gc (V8 prints every collection and the heap it left),
  // warmed up with the same mix first: RSS alone cannot tell a leak from a heap still
  // settling to its working size.
  await bench.api.child.stop();
  bench.api = await startApi(settings, bench.secrets, bench.database.databaseUrl, bench.stripeUrl, bench.apiPort, { traceGc: true });
  // PATCH only payments still their order's (a create for an order replaces its payment and
  // cancels the PaymentIntent, which _update refuses), and POST for orders of their own, so
  // that the mix's creates do not replace the payments it updates.
  const live = new Set(await bench.loader.apiCreatedPaymentIds(new Date(0)));
  const updated = created.filter((id) => live.has(id));
  if (updated.length === 0) throw new Error('no payment of the API is still its order\'s: nothing to PATCH');
  const mix = [requests.retrieve(ids), requests.listByIds(ids), requests.create(await bench.loader.freshOrders(20_000)), requests.update(updated)];
  await measure(bench, 'memory warm-up (not reported)', bench.api, mix, { duration: 15, quiet: true });
  return measure(bench, 'GET by id, list of 25 by id_in, POST, PATCH _update', bench.api, mix, {
    duration: settings.memoryDuration,
    rssIntervalMs: 1_000,
    serverLog: true,
  });
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
