// The results of a full benchmark run, as Markdown tables that paste into
// docs/benchmarks.md: every request beside the baseline, CPU per request, growth with the
// table size, the list statements' plans, writes beside counts, memory, and the targets.
import os from 'node:os';
import type { Bench } from './bench.ts';
import { errorCell, latency, type Measurement } from './measure.ts';
import { markdownTable, ms, ratio, rps } from './report.ts';
import type { SizeResult } from './scenarios/lists.ts';
import { printReadPairs, type ReadComparison } from './scenarios/reads.ts';
import { printMemory, printMemoryComparison, type MemoryComparison } from './scenarios/memory.ts';

/** The figures at the first size that the targets rest on. */
export interface EveryRequest {
  baselineRun: Measurement;
  baselineUnprepared: Measurement;
  retrieveMain: Measurement;
  /** GET by id beside the baseline pair by pair: the targets are their medians. */
  reads: ReadComparison;
  listMain: Measurement;
  create: Measurement;
  update: Measurement;
  tokenRun: Measurement;
}

export interface Results {
  startedAt: number;
  /** The machine and the code measured, as taken at the start. */
  description: string[];
  serverVersion: string;
  pgSettings: string;
  /** % of the machine busy before the run started. */
  backgroundBusy: number;
  helloRun: Measurement;
  main: EveryRequest;
  sizes: SizeResult[];
  besideCounts: Measurement | undefined;
  mixed: Measurement;
  memory: MemoryComparison;
}

export function printResults(bench: Bench, results: Results): void {
  const { settings, say } = bench;
  const { startedAt, description, serverVersion, pgSettings, backgroundBusy, helloRun, sizes, besideCounts, mixed } = results;
  const m = results.main;
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
    ['baseline: GET by id, one SQL query + JSON.stringify', m.baselineRun],
    ['baseline with its query parsed and planned on every request (not prepared)', m.baselineUnprepared],
    ['GET /api/stripe_payments/:id', m.retrieveMain],
    ['GET /api/stripe_payments?include=order&page[size]=25&sort=-created_at&filter[q][reference_origin_eq]=storefront', m.listMain],
    ['POST /api/stripe_payments', m.create],
    ['PATCH /api/stripe_payments/:id {_update: true}', m.update],
    ['POST /oauth/token', m.tokenRun],
  ];
  const base = m.baselineRun;
  const perRound = (run: Measurement) => (run.rounds && run.rounds.length > 1 ? ` (${run.rounds.length} rounds: ${run.rounds.map(rps).join(', ')} req/s)` : '');
  say(
    markdownTable(
      ['request', 'req/s', 'p50 ms', 'p99 ms', 'errors', 'server peak RSS MiB', 'req/s ÷ baseline', 'p99 ÷ baseline'],
      mainRows.map(([name, run]) => [
        `${name}${perRound(run)}`,
        rps(run.rps),
        latency(run, 'p50', settings.duration),
        latency(run, 'p99', settings.duration),
        errorCell(run),
        run.peakRssMiB.toFixed(0),
        ratio(run.rps / base.rps),
        run.requests === 0 ? '-' : ratio(run.p99 / base.p99),
      ]),
    ),
  );

  say(`\nGET by id beside the baseline, pair by pair (${settings.readDuration} s rounds, order alternating):`);
  printReadPairs(bench, m.reads);

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
        latency(run, 'p50', settings.duration),
        latency(run, 'p99', settings.duration),
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
        [[rps(besideCounts.rps), latency(besideCounts, 'p50', settings.duration), latency(besideCounts, 'p99', settings.duration), errorCell(besideCounts), Object.entries(besideCounts.serverErrors).map(([message, count]) => `${count}× ${message}`).join('; ') || '-']],
      ),
    );
  }

  const { trend, meanM, heapTrend, memoryFlat } = printMemory(bench, mixed);
  const memoryRatio = printMemoryComparison(bench, results.memory);

  say('\n### Targets\n');
  const retrieveRatio = m.reads.rps.median;
  const p99Ratio = m.reads.p99.median;
  const listP50 = largest.list.p50 / smallest.list.p50;
  const listP99 = largest.list.p99 / smallest.list.p99;
  const listMeasured = largest.list.requests > 0 && smallest.list.requests > 0;
  const verdict = (pass: boolean) => (pass ? 'PASS' : 'MISS');
  say(
    markdownTable(
      ['target', 'measured', 'result'],
      [
        [
          `GET by id ≥ 0.8× the baseline’s req/s (median of ${m.reads.pairs.length} pairs)`,
          `${ratio(retrieveRatio)}× (pairs ${ratio(m.reads.rps.min)}–${ratio(m.reads.rps.max)}; pooled ${rps(m.retrieveMain.rps)} vs ${rps(base.rps)} req/s)`,
          verdict(retrieveRatio >= 0.8),
        ],
        [
          `read p99 at ${settings.connections} connections ≤ 1.25× the baseline’s p99 (median of the pairs)`,
          `${ratio(p99Ratio)}× (pairs ${ratio(m.reads.p99.min)}–${ratio(m.reads.p99.max)}; pooled ${ms(m.retrieveMain.p99)} vs ${ms(base.p99)} ms)`,
          verdict(p99Ratio <= 1.25),
        ],
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
        [
          `API RSS under the mixed load ≤ 2× the baseline’s (mean and max, ${results.memory.from})`,
          `mean ${ratio(memoryRatio.meanRatio)}× (${memoryRatio.apiMean.toFixed(0)} vs ${memoryRatio.baselineMean.toFixed(0)} MiB), max ${ratio(memoryRatio.maxRatio)}× (${memoryRatio.apiMax.toFixed(0)} vs ${memoryRatio.baselineMax.toFixed(0)} MiB)`,
          verdict(memoryRatio.pass),
        ],
      ],
    ),
  );

  if (bench.profiles.length > 0) {
    say('\n### CPU profiles of the API server (measured window only)\n');
    for (const profile of bench.profiles) say(`${profile}\n`);
  }
}
