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
  // 30 more, for cursor paging: ties in created_at and reference, and NULL references.
  await context.db.$executeRawUnsafe(
    `INSERT INTO "stripe_payments" ("id", "order_id", "payment_gateway_id", "intent_state", "amount_cents", "currency_code",
       "reference", "reference_origin", "created_at", "updated_at")
     SELECT $1 || '-' || lpad(n::text, 2, '0'), $2, $3, 'created', 2500, 'EUR', CASE WHEN n % 3 = 0 THEN NULL ELSE 'ref-' || (n % 4) END, $1,
       TIMESTAMP '2024-06-01' + (n / 5) * INTERVAL '1 millisecond', now()
     FROM generate_series(1, 30) AS n`,
    `${marker}-ties`,
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

describe('page[after]', () => {
  const ties = (query: string) => api(context).get(`/api/stripe_payments?filter[q][reference_origin_eq]=${marker}-ties&${query}`);
  const ids = (response: { body: { data: { id: string }[] } }) => response.body.data.map((payment) => payment.id);
  const pathOf = (link: string) => {
    const url = new URL(link);
    return `${url.pathname}${url.search}`;
  };

  /** Every page by cursor, following links.next from the first. */
  async function walk(query: string, size: number): Promise<{ ids: string[]; pages: number }> {
    let response = await ties(`${query}&page[after]=&page[size]=${size}`);
    const seen: string[] = [];
    let pages = 0;
    for (;;) {
      expect(response.status, response.text).toBe(200);
      pages += 1;
      seen.push(...ids(response));
      expect(response.body.links.first).toBeDefined();
      expect(response.body.links.last).toBeUndefined();
      const next: string | undefined = response.body.links.next;
      if (!next) break;
      expect(response.body.data).toHaveLength(size);
      const params = new URL(next).searchParams;
      expect(params.get('page[number]')).toBeNull();
      expect(params.get('filter[q][reference_origin_eq]')).toBe(`${marker}-ties`);
      response = await api(context).get(pathOf(next));
    }
    return { ids: seen, pages };
  }

  it.each(['', 'sort=created_at', 'sort=reference', 'sort=-reference', 'sort=reference,-created_at', 'sort=-reference_origin,reference'])(
    'gives the rows page[number] gives, in the same order (%s)',
    async (sort) => {
      const numbered = [...ids(await ties(`${sort}&page[size]=25&page[number]=1`)), ...ids(await ties(`${sort}&page[size]=25&page[number]=2`))];
      expect(numbered).toHaveLength(30);
      const walked = await walk(sort, 7);
      expect(walked.ids).toEqual(numbered);
      expect(walked.pages).toBe(5);
    },
  );

  it('keeps Commerce Layer’s meta on cursor pages', async () => {
    const response = await ties('page[after]=&page[size]=7');
    expect(response.body.meta).toEqual({ record_count: 30, page_count: 5 });
  });

  it('answers 400 with the parameter for a cursor that is not ours or not for this sort', async () => {
    const first = await ties('sort=reference&page[after]=&page[size]=7');
    const cursor = new URL(first.body.links.next).searchParams.get('page[after]')!;
    const decoded = JSON.parse(Buffer.from(cursor, 'base64url').toString());
    const forged = (changes: Record<string, unknown>) => Buffer.from(JSON.stringify({ ...decoded, ...changes })).toString('base64url');
    for (const [query, parameter] of [
      ['page[after]=not%20a%20cursor', 'page[after]'],
      [`page[after]=${Buffer.from('{"s":').toString('base64url')}`, 'page[after]'],
      [`sort=reference&page[after]=${forged({ v: [42] })}`, 'page[after]'],
      [`sort=reference&page[after]=${forged({ v: ['a', 'b'] })}`, 'page[after]'],
      [`sort=reference&page[after]=${forged({ id: { $gt: '' } })}`, 'page[after]'],
      [`sort=created_at&page[after]=${forged({ s: ['created_at'], v: ['2024-02-31 00:00:00'] })}`, 'page[after]'],
      [`sort=-reference&page[after]=${cursor}`, 'page[after]'],
      [`sort=reference&page[after]=${cursor}&page[number]=2`, 'page[number]'],
    ]) {
      const response = await ties(`${query}&page[size]=7`);
      expect(response.status, query).toBe(400);
      expect(response.body.errors[0].code).toBe('INVALID_PAGE_VALUE');
      expect(response.body.errors[0].source).toEqual({ parameter });
    }
    // The genuine cursor still works.
    expect((await ties(`sort=reference&page[after]=${cursor}&page[size]=7`)).status).toBe(200);
  });
});

describe('a list that takes too long', () => {
  let slow: TestContext;
  beforeAll(async () => {
    slow = await startTestContext({ listStatementTimeoutMs: 300 });
  });
  afterAll(async () => {
    await slow?.close();
  });

  it('is stopped by PostgreSQL and answered 503, and the connection serves the next list', async () => {
    const url = `/api/stripe_payments?filter[q][reference_origin_eq]=${marker}-ties&page[size]=5`;
    // A table lock makes the list wait for as long as the test wants, whatever the machine's
    // speed: the statement timeout counts waiting like working.
    await slow.db.$transaction(
      async (tx) => {
        await tx.$executeRawUnsafe('LOCK TABLE "stripe_payments" IN ACCESS EXCLUSIVE MODE');
        const response = await api(slow).get(url);
        expect(response.status, response.text).toBe(503);
        expect(response.headers['retry-after']).toBe('2');
        expect(response.body.errors[0]).toMatchObject({ status: '503', code: 'SERVICE_UNAVAILABLE' });
        expect(response.body.errors[0].detail).toContain('longer than 0.3 s');
      },
      { timeout: 15_000 },
    );
    const after = await api(slow).get(url);
    expect(after.status).toBe(200);
    expect(after.body.meta.record_count).toBe(30);
  });
});
