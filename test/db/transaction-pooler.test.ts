// The API behind PgBouncer 1.18 in transaction mode (DATABASE_POOLER=transaction): each
// transaction may run on another server connection, so named prepared statements and
// session state do not follow a client. Skipped, saying so, where pgbouncer is not installed
// (Debian: apt-get install pgbouncer).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, createCheckout, startTestContext, type TestContext } from '../support/context.ts';
import { confirm, getOrder, payableOrder, paymentStatusAfterWebhooks, trigger } from '../support/payments.ts';
import { pgbouncerBinary, startPgBouncer, type PgBouncer } from '../support/pgbouncer.ts';
import { testDatabaseUrl } from '../support/test-database-url.ts';

const binary = pgbouncerBinary();
if (!binary) console.warn('transaction-pooler.test.ts skipped: no pgbouncer binary (apt-get install pgbouncer)');

describe.skipIf(!binary)('behind PgBouncer in transaction mode', { timeout: 60_000 }, () => {
  let bouncer: PgBouncer;
  let context: TestContext;

  beforeAll(async () => {
    // Fewer server connections than the app's pool has clients: transactions move between them.
    bouncer = await startPgBouncer(binary!, testDatabaseUrl(), { serverConnections: 2 });
    context = await startTestContext({ databaseUrl: bouncer.urlOf(testDatabaseUrl()), databasePooler: 'transaction', databasePoolMax: 6 });
  });
  afterAll(async () => {
    await context?.close();
    await bouncer?.stop();
  });

  it('creates an order and its stripe payment, takes the payment through place, capture and refund', async () => {
    const order = await payableOrder(context);
    await confirm(order);
    expect(await paymentStatusAfterWebhooks(context, order.orderId)).toBe('authorized');
    const placed = await trigger(context, order.orderId, { _place: true });
    expect(placed.status, placed.text).toBe(200);
    const captured = await trigger(context, order.orderId, { _capture: true });
    expect(captured.status, captured.text).toBe(200);
    expect(captured.body.data.attributes).toMatchObject({ status: 'placed', payment_status: 'paid' });
    const refunded = await trigger(context, order.orderId, { _refund: true, _refund_amount_cents: 1000 });
    expect(refunded.status, refunded.text).toBe(200);
    expect(refunded.body.data.attributes.payment_status).toBe('partially_refunded');
    const read = await getOrder(context, order.orderId, '?include=line_items,payment_source,captures,refunds');
    expect(read.included?.filter((resource) => resource.type === 'captures')).toHaveLength(1);
    expect(read.included?.filter((resource) => resource.type === 'refunds')).toHaveLength(1);
  });

  it('lists with filters, includes, counts and cursors', async () => {
    const { orderId } = await createCheckout(context, { lines: [{ quantity: 1, unit_amount_cents: 500 }, { quantity: 3, unit_amount_cents: 200 }] });
    const filtered = await api(context).get(`/api/orders?filter[q][id_eq]=${orderId}&filter[q][line_items_unit_amount_cents_gt]=100&include=line_items`);
    expect(filtered.status, filtered.text).toBe(200);
    expect(filtered.body.data.map((row: { id: string }) => row.id)).toEqual([orderId]);
    expect(filtered.body.included).toHaveLength(2);
    expect(filtered.body.meta.record_count).toBe(1);
    const items = await api(context).get(`/api/line_items?filter[q][order_id_eq]=${orderId}&sort=-unit_amount_cents&page[after]=&page[size]=1`);
    expect(items.status, items.text).toBe(200);
    expect(items.body.data).toHaveLength(1);
    const next = await api(context).get(new URL(items.body.links.next).pathname + new URL(items.body.links.next).search);
    expect(next.status, next.text).toBe(200);
    expect(next.body.data).toHaveLength(1);
  });

  it('answers concurrent reads and writes, each on whichever server connection it gets', async () => {
    const { orderId } = await createCheckout(context);
    const reads = Array.from({ length: 30 }, (_, index) =>
      index % 3 === 0 ? api(context).get(`/api/orders/${orderId}?include=line_items`) : index % 3 === 1 ? api(context).get(`/api/orders?filter[q][id_eq]=${orderId}`) : api(context).get(`/api/line_items?filter[q][order_id_eq]=${orderId}`),
    );
    const writes = Array.from({ length: 6 }, () =>
      api(context).post('/api/line_items', {
        data: { type: 'line_items', attributes: { sku_code: 'POOL', name: 'Pooled', quantity: 1, unit_amount_cents: 100 }, relationships: { order: { data: { type: 'orders', id: orderId } } } },
      }),
    );
    const responses = await Promise.all([...reads, ...writes]);
    expect(responses.map((response) => response.status).filter((status) => status >= 300)).toEqual([]);
    const order = await getOrder(context, orderId);
    expect(order.data.attributes.total_amount_cents).toBe(2500 + 600);
  });
});
