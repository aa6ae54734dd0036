// Lists and growth: at each table size, GET by id, the list's first and a deep page (by
// number and by cursor) and a filtered count, and the SQL the store sends for them in
// PostgreSQL alone; at the first size, the list beside every other request.
import { visibleRows, type Bench } from '../bench.ts';
import { measure, type Measurement } from '../measure.ts';
import { deepPageCursor, explain, explainFullCount, explainWithoutJit, listStatements, plannerEstimate, type Explained } from '../plans.ts';
import { countParams, listParams, query } from '../requests.ts';
import { exactCountLimit } from '../../src/jsonapi/store.ts';
import { onApi } from './profile.ts';

export interface SizeResult {
  /** Visible stripe payments when measured (bulk-loaded plus any the API created). */
  rows: number;
  loadSeconds: number;
  retrieve: Measurement;
  list: Measurement;
  deep: Measurement;
  /** The deep page by `page[after]` instead of `page[number]`. */
  deepByCursor: Measurement | undefined;
  deepPage: number;
  count: Measurement;
  plans: { name: string; explained: Explained }[];
}

/**
 * Grows the table to `size` and measures it. `first`: the first size, where the API is
 * warmed up first; `last`: the last, whose list and count are profiled under --profile.
 */
export async function measureSize(bench: Bench, size: number, { first, last }: { first: boolean; last: boolean }): Promise<{ result: SizeResult; ids: string[] }> {
  const { settings, say, loader, admin, requests } = bench;
  const loadSeconds = await loader.growTo(size);
  const rows = await visibleRows(bench);
  say(`\n## ${rows.toLocaleString('en-US')} stripe payments (bulk load to ${size.toLocaleString('en-US')}: ${loadSeconds.toFixed(1)} s)`);
  const ids = await loader.samplePaymentIds(10_000);
  if (first) {
    // A fresh process is slow for its first seconds (JIT, pool connections): not a figure.
    await measure(bench, 'warm-up of the API (not reported)', bench.api, [requests.retrieve(ids), requests.listByIds(ids)], { duration: 5, quiet: true });
  }
  const matching = (await admin.query<{ count: number }>(
    `SELECT count(*)::int AS count FROM stripe_payments WHERE intent_state = 'created' AND reference_origin = 'storefront'`,
  )).rows[0]!.count;
  // 90% of the way through the filtered list: where a crawler or an export gets to.
  const deepPage = Math.max(1, Math.floor((0.9 * matching) / listParams['page[size]']));
  const growth = { connections: settings.growthConnections };
  const retrieve = await measure(bench, `GET by id @${size}`, bench.api, [requests.retrieve(ids)], growth);
  const list = await (last ? onApi(bench, 'list-growth', (target) => measure(bench, `list @${size}`, target, [requests.list()], growth)) : measure(bench, `list @${size}`, bench.api, [requests.list()], growth));
  const deep = await measure(bench, `list, page ${deepPage} @${size}`, bench.api, [requests.list(deepPage)], growth);
  const [deepStatement] = await listStatements('stripe_payments', query({ ...listParams, 'page[number]': deepPage }));
  const cursor = deepStatement ? await deepPageCursor(admin, 'stripe_payments', query(listParams), deepStatement) : undefined;
  const deepByCursor = cursor ? await measure(bench, `list, page ${deepPage} by cursor @${size}`, bench.api, [requests.listAfter(cursor)], growth) : undefined;
  const count = await (last ? onApi(bench, 'count-growth', (target) => measure(bench, `filtered count @${size}`, target, [requests.count()], growth)) : measure(bench, `filtered count @${size}`, bench.api, [requests.count()], growth));

  // The same lists in PostgreSQL alone: the statements the app's store generates, and
  // beside them what they replaced, on the same rows.
  const plans: SizeResult['plans'] = [];
  const [page, countStatement] = await listStatements('stripe_payments', query(listParams));
  const [cursorStatement] = cursor ? await listStatements('stripe_payments', query({ ...listParams, 'page[after]': cursor }), admin) : [];
  const [, filteredCount] = await listStatements('stripe_payments', query(countParams));
  const add = (name: string, explained: Explained | undefined) => {
    if (explained) plans.push({ name, explained });
  };
  if (page && countStatement && deepStatement && filteredCount) {
    add('list: page ids', await explain(admin, page));
    const countPlan = await explain(admin, countStatement);
    add(`list: record_count, exact up to ${exactCountLimit.toLocaleString('en-US')}`, countPlan);
    const estimate = await plannerEstimate(admin, countStatement);
    if (estimate) {
      plans.push({
        name: `list: record_count above that, planner estimate (${estimate.estimatedRows.toLocaleString('en-US')} estimated, ${estimate.actualRows.toLocaleString('en-US')} actual)`,
        explained: { executionMs: estimate.planningMs, planningMs: estimate.planningMs, jitMs: 0, shape: 'EXPLAIN without ANALYZE: planning only' },
      });
    }
    add('list: full count(*), as before (not run by the API)', await explainFullCount(admin, countStatement));
    add(`list page ${deepPage}: page ids`, await explain(admin, deepStatement));
    if (cursorStatement) add(`list page ${deepPage} by cursor: page ids`, await explain(admin, cursorStatement));
    add(`filtered count: record_count, exact up to ${exactCountLimit.toLocaleString('en-US')}`, await explain(admin, filteredCount));
    if (countPlan.jitMs > 0) add('list: record_count, jit off', await explainWithoutJit(admin, countStatement));
  } else {
    say('  (the store no longer sends a page query and a capped count: SQL plans skipped)');
  }
  return { result: { rows, loadSeconds, retrieve, list, deep, deepByCursor, deepPage, count, plans }, ids };
}

export function measureListMain(bench: Bench): Promise<Measurement> {
  return onApi(bench, 'list', (target) => measure(bench, 'GET /api/stripe_payments?include=order&...', target, [bench.requests.list()]));
}
