// GET by id, the comparison the targets rest on: the API beside the baseline (one SQL
// query and JSON.stringify, no framework), and --read-only, that comparison alone.
import { visibleRows, type Bench } from '../bench.ts';
import { combine, measure, type Measurement } from '../measure.ts';
import { ms, ratio, rps } from '../report.ts';
import { addBaselineProfile, onApi } from './profile.ts';

/**
 * GET by id of the API beside the baseline's, in alternating rounds (baseline, API, API,
 * baseline, ...) so that a drift in the machine's speed weighs on both alike.
 */
export async function compareReads(bench: Bench, ids: string[]): Promise<{ baselineRun: Measurement; retrieveMain: Measurement }> {
  const { settings, requests } = bench;
  const baselineRounds: Measurement[] = [];
  const retrieveRounds: Measurement[] = [];
  const rounds = settings.profile ? 1 : settings.rounds;
  const one = { latencies: true };
  const baselineRound = (round: number) => measure(bench, `baseline: pg + JSON.stringify, GET by id (${round + 1})`, bench.baseline, [requests.baseline(ids)], one);
  for (let round = 0; round < rounds; round += 1) {
    const baselineFirst = round % 2 === 0;
    if (baselineFirst) baselineRounds.push(await baselineRound(round));
    retrieveRounds.push(await onApi(bench, 'retrieve', (target) => measure(bench, `GET /api/stripe_payments/:id (${round + 1})`, target, [requests.retrieve(ids)], one)));
    if (!baselineFirst) baselineRounds.push(await baselineRound(round));
  }
  return {
    baselineRun: combine('baseline: pg + JSON.stringify, GET by id', baselineRounds),
    retrieveMain: combine('GET /api/stripe_payments/:id', retrieveRounds),
  };
}

/** What a prepared statement saves PostgreSQL, without any framework. */
export function measureUnpreparedBaseline(bench: Bench, ids: string[]): Promise<Measurement> {
  return measure(bench, 'baseline, query parsed and planned each time', bench.baseline, [bench.requests.baselineUnprepared(ids)]);
}

/** --read-only: the GET by id comparison alone at the first size, in under a minute. */
export async function readOnlyRun(bench: Bench, size: number, baselineProfileDir: string | undefined): Promise<void> {
  const { settings, say, loader, requests } = bench;
  await loader.growTo(size);
  const ids = await loader.samplePaymentIds(10_000);
  say(`\n## GET by id beside the baseline, ${(await visibleRows(bench)).toLocaleString('en-US')} stripe payments`);
  await measure(bench, 'warm-up of the API (not reported)', bench.api, [requests.retrieve(ids)], { duration: 5, quiet: true });
  const { baselineRun, retrieveMain } = await compareReads(bench, ids);
  say('');
  for (const run of [baselineRun, retrieveMain]) {
    const per = (seconds: number) => ms((1000 * seconds) / run.requests);
    say(`${run.label.padEnd(48)} ${rps(run.rps).padStart(7)} req/s  p99 ${ms(run.p99).padStart(6)} ms  CPU per request: server ${per(run.cpu.server)} ms, PostgreSQL ${per(run.cpu.postgres)} ms, load generator ${per(run.cpu.loadgen)} ms`);
  }
  say(`every server started as node ${[...settings.serverNodeOptions, '--import tsx'].join(' ')}`);
  say(`GET by id ÷ baseline: req/s ${ratio(retrieveMain.rps / baselineRun.rps)}× (target ≥ 0.5), p99 ${ratio(retrieveMain.p99 / baselineRun.p99)}× (target ≤ 1.5)`);
  if (baselineProfileDir) await addBaselineProfile(bench, baselineProfileDir, baselineRun);
  for (const profile of bench.profiles) say(`\n${profile}`);
}
