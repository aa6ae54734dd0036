// GET by id, the comparison the targets rest on: the API beside the baseline (one SQL
// query and JSON.stringify, no framework), and --read-only, that comparison alone.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Bench } from '../bench.ts';
import { visibleRows } from '../bench.ts';
import { machineSeconds } from '../cpu.ts';
import { combine, measure, type Measurement } from '../measure.ts';
import { ms, ratio, rps } from '../report.ts';
import { addBaselineProfile, onApi } from './profile.ts';

/** One baseline round and one API round, back to back: the ratios of a pair share the machine's state. */
export interface ReadPair {
  baseline: Measurement;
  api: Measurement;
  /** API ÷ baseline. */
  rps: number;
  p99: number;
  /** Server CPU per request, API ÷ baseline: what the code costs, little moved by other load. */
  serverCpu: number;
  /** % of the machine's cores that processes other than the measured ones took during the pair, and during each of its rounds. */
  otherLoad: number;
  otherLoadBaseline: number;
  otherLoadApi: number;
}

export interface ReadComparison {
  baselineRun: Measurement;
  retrieveMain: Measurement;
  pairs: ReadPair[];
  /** The pairs the medians are taken over: those measured while other processes took at most --quiet-below % of the machine, if three or more were. */
  counted: ReadPair[];
  /** Medians over the counted pairs, and the smallest and largest of their ratios. */
  rps: Spread;
  p99: Spread;
  serverCpu: Spread;
}

export interface Spread {
  median: number;
  min: number;
  max: number;
}

export function spread(values: number[]): Spread {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { median, min: sorted[0]!, max: sorted.at(-1)! };
}

const cpuPerRequest = (run: Measurement) => run.cpu.server / Math.max(1, run.requests);
/** Core-seconds of the window taken by anything but the measured server, PostgreSQL, the stand-in and the load generator. */
const otherSeconds = (run: Measurement) => Math.max(0, run.cpu.machineBusy - run.cpu.server - run.cpu.postgres - run.cpu.standin - run.cpu.loadgen);
const otherShare = (run: Measurement) => (run.cpu.machineTotal > 0 ? (100 * otherSeconds(run)) / run.cpu.machineTotal : 0);

/**
 * Waits, at most `maxWaitMs`, for a second in which the whole machine is less than
 * `percent` busy (the measured servers are idle between rounds, so what is busy is other
 * work); returns how busy the last second was.
 */
async function quietMachine(percent: number, maxWaitMs: number): Promise<number> {
  const deadline = Date.now() + maxWaitMs;
  for (;;) {
    const from = machineSeconds();
    await sleep(1_000);
    const to = machineSeconds();
    const busy = (100 * (to.busy - from.busy)) / Math.max(1e-9, to.total - from.total);
    if (busy < percent || Date.now() >= deadline) return busy;
  }
}

/**
 * GET by id of the API beside the baseline's, in pairs of short rounds whose order
 * alternates (baseline, API; API, baseline; ...). Each pair gives its own ratios, and the
 * figure is their median: a drift of the machine's speed, or another process taking a
 * core for a few seconds, moves one pair and not the median.
 */
export async function compareReads(bench: Bench, ids: string[]): Promise<ReadComparison> {
  const { settings, requests } = bench;
  const pairs: ReadPair[] = [];
  const rounds = settings.profile ? 1 : settings.readRounds;
  const one = { latencies: true, duration: settings.readDuration };
  const baselineRound = (round: number) => measure(bench, `baseline: pg + JSON.stringify, GET by id (${round + 1})`, bench.baseline, [requests.baseline(ids)], one);
  const apiRound = (round: number) =>
    onApi(bench, 'retrieve', (target) => measure(bench, `GET /api/stripe_payments/:id (${round + 1})`, target, [requests.retrieve(ids)], one));
  for (let round = 0; round < rounds; round += 1) {
    if (settings.quietBelow > 0) {
      const busy = await quietMachine(settings.quietBelow, 15_000);
      if (busy >= settings.quietBelow) bench.say(`  (the machine stayed ${busy.toFixed(0)}% busy with other work for 15 s: pair ${round + 1} measured anyway)`);
    }
    let baseline: Measurement;
    let api: Measurement;
    if (round % 2 === 0) {
      baseline = await baselineRound(round);
      api = await apiRound(round);
    } else {
      api = await apiRound(round);
      baseline = await baselineRound(round);
    }
    const total = baseline.cpu.machineTotal + api.cpu.machineTotal;
    pairs.push({
      baseline,
      api,
      rps: api.rps / baseline.rps,
      p99: api.p99 / baseline.p99,
      serverCpu: cpuPerRequest(api) / cpuPerRequest(baseline),
      otherLoad: total > 0 ? (100 * (otherSeconds(baseline) + otherSeconds(api))) / total : 0,
      otherLoadBaseline: otherShare(baseline),
      otherLoadApi: otherShare(api),
    });
  }
  const quiet = pairs.filter((pair) => settings.quietBelow <= 0 || (pair.otherLoadBaseline <= settings.quietBelow && pair.otherLoadApi <= settings.quietBelow));
  const counted = quiet.length >= 3 ? quiet : pairs;
  return {
    baselineRun: combine('baseline: pg + JSON.stringify, GET by id', counted.map((pair) => pair.baseline)),
    retrieveMain: combine('GET /api/stripe_payments/:id', counted.map((pair) => pair.api)),
    pairs,
    counted,
    rps: spread(counted.map((pair) => pair.rps)),
    p99: spread(counted.map((pair) => pair.p99)),
    serverCpu: spread(counted.map((pair) => pair.serverCpu)),
  };
}

/** The pairs one per line, and the medians with their range. */
export function printReadPairs(bench: Bench, reads: ReadComparison): void {
  const { say } = bench;
  for (const [index, pair] of reads.pairs.entries()) {
    say(
      `  pair ${String(index + 1).padStart(2)}${reads.counted.includes(pair) ? ' ' : '*'}: req/s ${ratio(pair.rps)}× (${rps(pair.api.rps)} vs ${rps(pair.baseline.rps)}), p99 ${ratio(pair.p99)}× (${ms(pair.api.p99)} vs ${ms(pair.baseline.p99)} ms), ` +
        `server CPU per request ${ratio(pair.serverCpu)}×, other load ${pair.otherLoad.toFixed(0)}% of the machine (baseline's round ${pair.otherLoadBaseline.toFixed(0)}%, API's ${pair.otherLoadApi.toFixed(0)}%)`,
    );
  }
  const range = (s: { median: number; min: number; max: number }) => `${ratio(s.median)}× (pairs ${ratio(s.min)}–${ratio(s.max)})`;
  const { quietBelow } = bench.settings;
  if (reads.counted.length < reads.pairs.length) say(`  * left out of the medians: other processes took more than ${quietBelow}% of the machine in one of its rounds`);
  else if (quietBelow > 0 && reads.pairs.some((pair) => pair.otherLoadBaseline > quietBelow || pair.otherLoadApi > quietBelow)) {
    say(`  WARNING: fewer than 3 pairs were measured with other processes below ${quietBelow}% of the machine: the medians are of every pair, and other work moved them`);
  }
  say(`GET by id ÷ baseline, median of ${reads.counted.length} pairs: req/s ${range(reads.rps)} (target ≥ 0.8), p99 ${range(reads.p99)} (target ≤ 1.25), server CPU per request ${range(reads.serverCpu)}`);
}

/** What a prepared statement saves PostgreSQL, without any framework. */
export function measureUnpreparedBaseline(bench: Bench, ids: string[]): Promise<Measurement> {
  return measure(bench, 'baseline, query parsed and planned each time', bench.baseline, [bench.requests.baselineUnprepared(ids)]);
}

/** --read-only: the GET by id comparison alone at the first size, in about two minutes. */
export async function readOnlyRun(bench: Bench, size: number, baselineProfileDir: string | undefined): Promise<void> {
  const { settings, say, loader, requests } = bench;
  await loader.growTo(size);
  const ids = await loader.samplePaymentIds(10_000);
  say(`\n## GET by id beside the baseline, ${(await visibleRows(bench)).toLocaleString('en-US')} stripe payments`);
  await measure(bench, 'warm-up of the API (not reported)', bench.api, [requests.retrieve(ids)], { duration: 5, quiet: true });
  await measure(bench, 'warm-up of the baseline (not reported)', bench.baseline, [requests.baseline(ids)], { duration: 5, quiet: true });
  const reads = await compareReads(bench, ids);
  const { baselineRun, retrieveMain } = reads;
  say('');
  for (const run of [baselineRun, retrieveMain]) {
    const per = (seconds: number) => ms((1000 * seconds) / run.requests);
    say(`${run.label.padEnd(48)} ${rps(run.rps).padStart(7)} req/s  p99 ${ms(run.p99).padStart(6)} ms  CPU per request: server ${per(run.cpu.server)} ms, PostgreSQL ${per(run.cpu.postgres)} ms, load generator ${per(run.cpu.loadgen)} ms`);
  }
  say(`every server started as node ${[...settings.serverNodeOptions, ...(bench.compiled ? [] : ['--import tsx'])].join(' ')}${bench.compiled ? ' (compiled)' : ''}${settings.pin ? '; servers pinned to CPU 1, the load generator to CPU 0' : ''}`);
  say(`rounds of the counted pairs pooled: req/s ${ratio(retrieveMain.rps / baselineRun.rps)}×, p99 ${ratio(retrieveMain.p99 / baselineRun.p99)}×`);
  printReadPairs(bench, reads);
  if (baselineProfileDir) await addBaselineProfile(bench, baselineProfileDir, baselineRun);
  for (const profile of bench.profiles) say(`\n${profile}`);
}
