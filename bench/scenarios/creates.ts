// POST /api/stripe_payments beside the hand-written create of bench/baseline-server.ts, at
// 16 and 64 connections, each figure on orders of its own that no payment was made for;
// and what each money-moving request costs in SQL statements.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Bench } from '../bench.ts';
import { projectRoot } from '../database.ts';
import { combine, measure, type Measurement } from '../measure.ts';
import { ms, ratio, rps } from '../report.ts';
import { gcEvents } from './memory.ts';
import { onApi } from './profile.ts';

/** More orders than a figure's warm-up and window create at the baseline's rate: every create in it is its order's first. */
const ordersPerFigure = 30_000;

export interface CreateComparison {
  connections: number;
  baseline: Measurement;
  api: Measurement;
}

/** Baseline and API in alternating rounds (baseline, API, API, baseline), as GET by id is compared. */
export async function compareCreates(bench: Bench, connectionCounts: readonly number[] = [16, 64]): Promise<CreateComparison[]> {
  const { settings, requests, loader } = bench;
  const rounds = settings.profile ? 1 : settings.rounds;
  // With --trace-gc among the servers' options, what each server collected in the window (printCreates).
  const one = { latencies: true, serverLog: settings.serverNodeOptions.includes('--trace-gc') };
  const comparisons: CreateComparison[] = [];
  for (const connections of connectionCounts) {
    const baselineRounds: Measurement[] = [];
    const apiRounds: Measurement[] = [];
    const baselineRound = async (round: number) =>
      measure(bench, `baseline: pg + stripe, POST (${round + 1}) c=${connections}`, bench.baseline, [requests.baselineCreate(await loader.freshOrders(ordersPerFigure))], { ...one, connections });
    for (let round = 0; round < rounds; round += 1) {
      if (round % 2 === 0) baselineRounds.push(await baselineRound(round));
      const orders = await loader.freshOrders(ordersPerFigure);
      apiRounds.push(await onApi(bench, `create-c${connections}`, (target) => measure(bench, `POST /api/stripe_payments (${round + 1}) c=${connections}`, target, [requests.create(orders)], { ...one, connections })));
      if (round % 2 !== 0) baselineRounds.push(await baselineRound(round));
    }
    comparisons.push({
      connections,
      baseline: combine(`baseline: pg + stripe, POST, c=${connections}`, baselineRounds),
      api: combine(`POST /api/stripe_payments, c=${connections}`, apiRounds),
    });
  }
  return comparisons;
}

export function printCreates(bench: Bench, comparisons: CreateComparison[]): void {
  const { say } = bench;
  say('\n### POST /api/stripe_payments beside the hand-written create (fresh orders, alternating rounds)\n');
  say('| request | connections | req/s | p50 ms | p99 ms | errors | server CPU ms/req | PostgreSQL CPU ms/req | stand-in CPU ms/req | peak RSS MiB |');
  say('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  const per = (run: Measurement, seconds: number) => ms((1000 * seconds) / Math.max(1, run.requests));
  for (const { connections, baseline, api } of comparisons) {
    for (const run of [baseline, api]) {
      const rounds = run.rounds ? ` (rounds: ${run.rounds.map(rps).join(', ')})` : '';
      say(`| ${run.label}${rounds} | ${connections} | ${rps(run.rps)} | ${ms(run.p50)} | ${ms(run.p99)} | ${run.errors} | ${per(run, run.cpu.server)} | ${per(run, run.cpu.postgres)} | ${per(run, run.cpu.standin)} | ${run.peakRssMiB.toFixed(0)} |`);
    }
  }
  const collected = comparisons.flatMap(({ baseline, api }) => [baseline, api]).filter((run) => run.serverLog !== undefined);
  if (collected.length > 0) {
    say('\nGarbage collection in the measured windows (--trace-gc), every round of a figure together:\n');
    for (const run of collected) {
      const events = gcEvents(run.serverLog!);
      const pauses = events.map((event) => event.pauseMs);
      const full = events.filter((event) => event.kind.startsWith('Mark')).length;
      say(`- ${run.label}: ${events.length} collections (${full} mark-compact), ${ms(pauses.reduce((sum, pause) => sum + pause, 0))} ms of pauses over ${run.seconds.toFixed(0)} s, the longest ${ms(Math.max(0, ...pauses))} ms`);
    }
  }
  say('\nAPI ÷ baseline (targets: req/s ≥ 0.6, p99 ≤ 1.5, CPU per request ≤ 2 for the server and for PostgreSQL):\n');
  for (const { connections, baseline, api } of comparisons) {
    const cpu = (pick: (run: Measurement) => number) => ratio(pick(api) / api.requests / (pick(baseline) / baseline.requests));
    say(
      `- c=${connections}: req/s ${ratio(api.rps / baseline.rps)}×, p99 ${ratio(api.p99 / baseline.p99)}×, ` +
        `server CPU ${cpu((run) => run.cpu.server)}×, PostgreSQL CPU ${cpu((run) => run.cpu.postgres)}× per request`,
    );
  }
}

/**
 * The statements each money-moving request sends, BEGIN and COMMIT included, as
 * test/api/statement-counts.test.ts counts them (on a database of its own): the count is
 * the same on every machine, so it is taken from the test rather than from the load.
 */
export function statementCounts(bench: Bench): Record<string, number> {
  const file = path.join(bench.workDir, 'statement-counts.json');
  try {
    execFileSync('npx', ['vitest', 'run', 'test/api/statement-counts.test.ts'], {
      cwd: projectRoot,
      env: { ...process.env, DATABASE_URL: bench.settings.adminUrl, STATEMENT_COUNTS_FILE: file },
      stdio: 'ignore',
    });
  } catch {
    // The test fails when the create's count differs from the one it asserts: the counts it wrote are still what was sent.
    bench.say('(test/api/statement-counts.test.ts failed: the create sends another number of statements than the test asserts)');
  }
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Record<string, number>) : {};
}

export function printStatementCounts(bench: Bench, counts: Record<string, number>): void {
  bench.say('\n### SQL statements per request (BEGIN and COMMIT included; test/api/statement-counts.test.ts)\n');
  bench.say('| request | statements |');
  bench.say('| --- | --- |');
  bench.say('| baseline: pg + stripe, POST | 9 |');
  for (const [kind, count] of Object.entries(counts)) bench.say(`| ${kind} | ${count} |`);
}
