import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, createCheckout, startTestContext, type TestContext } from '../support/context.ts';

// Lists over more rows than a count should visit: what a client sees of record_count
// above 10,000 matching rows.
let context: TestContext;
const marker = `large-${Date.now()}`;
const bulkRows = 10_001;
let orderId = '';

beforeAll(async () => {
  context = await startTestContext();
  const checkout = await createCheckout(context);
  orderId = checkout.orderId;
  // One statement instead of 10,001 API calls; every row hangs off this test's own order and
  // gateway and carries the marker, so other tests' lists never match them.
  await context.db.$executeRawUnsafe(
    `INSERT INTO "stripe_payments" ("id", "order_id", "payment_gateway_id", "intent_state", "amount_cents", "currency_code",
       "reference", "reference_origin", "created_at", "updated_at")
     SELECT $1 || '-' || lpad(n::text, 5, '0'), $2, $3, 'created', 2500, 'EUR', $1 || '-' || lpad(n::text, 5, '0'), $1,
       TIMESTAMP '2024-01-01' + n * INTERVAL '1 second', now()
     FROM generate_series(1, ${bulkRows}) AS n`,
    marker,
    orderId,
    checkout.gatewayId,
  );
  // Current statistics, as autovacuum would keep them: the estimate is only as good as they are.
  await context.db.$executeRawUnsafe('ANALYZE "stripe_payments"');
});
afterAll(async () => {
  if (orderId) await context?.db.$executeRawUnsafe('DELETE FROM "stripe_payments" WHERE "order_id" = $1', orderId);
  await context?.close();
});

const list = (query: string) => api(context).get(`/api/stripe_payments?filter[q][reference_origin_eq]=${marker}&${query}`);

describe('record_count', () => {
  it('is exact up to 10,000 matching rows, without the estimate flag', async () => {
    const few = await list(`filter[q][reference_in]=${marker}-00001,${marker}-00002,${marker}-00003&page[size]=2`);
    expect(few.status).toBe(200);
    expect(few.body.meta).toEqual({ record_count: 3, page_count: 2 });

    // 10,000 exactly: the last count that is still exact.
    const limit = await list(`filter[q][reference_not_eq]=${marker}-00001&page[size]=25`);
    expect(limit.status).toBe(200);
    expect(limit.body.meta).toEqual({ record_count: 10_000, page_count: 400 });
  });

  it('is PostgreSQL’s estimate above 10,000, flagged, and never below 10,001', async () => {
    const response = await list('page[size]=25');
    expect(response.status).toBe(200);
    expect(response.body.data).toHaveLength(25);
    const { record_count: count, page_count: pages, record_count_estimated: estimated } = response.body.meta;
    expect(estimated).toBe(true);
    expect(count).toBeGreaterThanOrEqual(10_001);
    // Fresh statistics put the estimate near the 10,001 rows that match.
    expect(count).toBeLessThan(2 * bulkRows);
    expect(pages).toBe(Math.ceil(count / 25));
    expect(new URL(response.body.links.last).searchParams.get('page[number]')).toBe(String(pages));
  });
});
