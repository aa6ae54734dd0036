import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, createCheckout, startTestContext, type TestContext } from '../support/context.ts';
import { countingApp } from '../support/statements.ts';

let context: TestContext;
const marker = `ql-${Date.now()}`;
const paymentIds: string[] = [];
let firstOrderId = '';

beforeAll(async () => {
  context = await startTestContext();
  // Six payments tagged with the marker, with distinct references to filter and sort on.
  for (let i = 0; i < 6; i += 1) {
    const { orderId } = await createCheckout(context, { lines: [{ quantity: 1, unit_amount_cents: 1000 + i }] });
    if (i === 0) firstOrderId = orderId;
    const response = await api(context).post('/api/stripe_payments', {
      data: {
        type: 'stripe_payments',
        attributes: { reference: `${marker}-${i}`, reference_origin: i % 2 === 0 ? 'even' : 'odd', metadata: { marker } },
        relationships: { order: { data: { type: 'orders', id: orderId } } },
      },
    });
    paymentIds.push(response.body.data.id);
  }
});
afterAll(async () => {
  await context?.close();
});

const list = (query: string) => api(context).get(`/api/stripe_payments?filter[q][reference_start]=${marker}&${query}`);

describe('include', () => {
  it('returns a compound document with linkage and each included resource once', async () => {
    const response = await list('include=order.line_items,payment_gateway&page[size]=25');
    expect(response.status).toBe(200);
    expect(response.body.data).toHaveLength(6);
    const included: { type: string; id: string; relationships: Record<string, { data: unknown[] }> }[] = response.body.included;
    const keys = included.map((resource) => `${resource.type}:${resource.id}`);
    expect(new Set(keys).size).toBe(keys.length);
    expect(included.filter((resource) => resource.type === 'orders')).toHaveLength(6);
    expect(included.filter((resource) => resource.type === 'line_items')).toHaveLength(6);
    const first = response.body.data.find((payment: { id: string }) => payment.id === paymentIds[0]);
    expect(first.relationships.order.data).toEqual({ type: 'orders', id: firstOrderId });
    const order = included.find((resource) => resource.id === firstOrderId);
    expect(order?.relationships.line_items?.data).toHaveLength(1);
  });

  it('rejects unknown paths with 400', async () => {
    const response = await api(context).get(`/api/stripe_payments/${paymentIds[0]}?include=order.nope`);
    expect(response.status).toBe(400);
    expect(response.body.errors[0].code).toBe('INVALID_INCLUDE');
  });

  it('costs the same number of SQL statements for 25 rows as for 2', async () => {
    // Counted on an app that nothing else talks to (see countingApp): the listening app also
    // answers the stand-in's webhooks and, once it listens, checks every gateway of the
    // shared database at Stripe, adding statements to whatever request is being counted.
    const counting = await countingApp(context.config);
    try {
      const count = async (size: number) => {
        const { status, body, statements } = await counting.get(`/api/stripe_payments?filter[q][reference_start]=${marker}&include=order,payment_gateway&page[size]=${size}`, context.token);
        expect(status).toBe(200);
        expect((body as { data: unknown[] }).data).toHaveLength(Math.min(size, paymentIds.length));
        return statements.length;
      };
      const small = await count(2);
      const large = await count(25);
      expect(large).toBe(small);
      // The list's transaction (its statement timeout, page ids, count, COMMIT); rows; and one per included relationship.
      expect(large).toBeLessThanOrEqual(8);
    } finally {
      await counting.close();
    }
  });
});

describe('counting statements', () => {
  it('never counts a request whose warm-up failed: its one-time reads would move into the count', async () => {
    // Under load the warm-up request once failed (a statement timeout); the table
    // catalogue reads it had not kept (3, one per table) then landed in the counted one.
    // A database that does not exist: every request answers 503.
    const missing = new URL(context.config.databaseUrl);
    missing.pathname = '/payments_missing_database';
    const counting = await countingApp({ ...context.config, databaseUrl: missing.toString() });
    try {
      await expect(counting.get('/api/stripe_payments', context.token)).rejects.toThrowError(/^warm-up of \/api\/stripe_payments answered 503 3 times/);
    } finally {
      await counting.close();
    }
  });
});

describe('fields', () => {
  it('applies sparse fieldsets to primary and included resources', async () => {
    const response = await api(context).get(
      `/api/stripe_payments/${paymentIds[0]}?include=order&fields[stripe_payments]=reference,order&fields[orders]=total_amount_cents`,
    );
    expect(response.status).toBe(200);
    expect(Object.keys(response.body.data.attributes)).toEqual(['reference']);
    expect(Object.keys(response.body.data.relationships)).toEqual(['order']);
    expect(Object.keys(response.body.included[0].attributes)).toEqual(['total_amount_cents']);
  });
});

describe('sort and page', () => {
  it('sorts on sortable attributes in both directions', async () => {
    const ascending = await list('sort=reference');
    expect(ascending.body.data.map((payment: { attributes: { reference: string } }) => payment.attributes.reference)).toEqual(
      [0, 1, 2, 3, 4, 5].map((i) => `${marker}-${i}`),
    );
    const descending = await list('sort=-reference&page[size]=2&page[number]=2');
    expect(descending.body.data.map((payment: { attributes: { reference: string } }) => payment.attributes.reference)).toEqual([
      `${marker}-3`,
      `${marker}-2`,
    ]);
    expect(descending.body.meta).toEqual({ record_count: 6, page_count: 3 });
    expect(new URL(descending.body.links.prev).searchParams.get('page[number]')).toBe('1');
  });

  it('rejects a non-sortable attribute', async () => {
    const response = await list('sort=client_secret');
    expect(response.status).toBe(400);
  });
});

describe('filter', () => {
  const references = async (query: string) => {
    const response = await list(`${query}&page[size]=25&sort=reference`);
    expect(response.status).toBe(200);
    return response.body.data.map((payment: { attributes: { reference: string } }) => payment.attributes.reference.slice(marker.length + 1));
  };

  it.each([
    ['filter[q][reference_eq]=MARK-2', ['2']],
    ['filter[q][reference_not_eq]=MARK-2', ['0', '1', '3', '4', '5']],
    ['filter[q][reference_in]=MARK-1,MARK-4', ['1', '4']],
    ['filter[q][reference_not_in]=MARK-1,MARK-4', ['0', '2', '3', '5']],
    ['filter[q][reference_origin_eq]=odd', ['1', '3', '5']],
    ['filter[q][reference_end]=-5', ['5']],
    ['filter[q][reference_cont]=-3', ['3']],
    ['filter[q][reference_end_any]=-1,-2', ['1', '2']],
    // Case-insensitive, as Commerce Layer's matchers are on PostgreSQL.
    ['filter[q][reference_cont]=QL-', ['0', '1', '2', '3', '4', '5']],
    ['filter[q][reference_matches]=%25-0', ['0']],
    ['filter[q][reference_or_reference_origin_eq]=MARK-0', ['0']],
    ['filter[q][reference_null]=false', ['0', '1', '2', '3', '4', '5']],
    ['filter[q][reference_blank]=true', []],
  ])('%s', async (query, expected) => {
    expect(await references(query.replaceAll('MARK', marker))).toEqual(expected);
  });

  it('filters on id_in and on dates', async () => {
    expect(await references(`filter[q][id_in]=${paymentIds[1]},${paymentIds[2]}`)).toEqual(['1', '2']);
    expect(await references('filter[q][created_at_gt]=2000-01-01T00:00:00Z')).toHaveLength(6);
    expect(await references('filter[q][created_at_lt]=2000-01-01T00:00:00Z')).toEqual([]);
  });

  it('filters orders on a relationship attribute', async () => {
    const response = await api(context).get(`/api/orders?filter[q][line_items_unit_amount_cents_eq]=1003`);
    expect(response.status).toBe(200);
    expect(response.body.data.length).toBeGreaterThanOrEqual(1);
    for (const order of response.body.data) expect(order.attributes.subtotal_amount_cents).toBe(1003);
  });

  it('keeps SQL out of values', async () => {
    const response = await list(`filter[q][reference_eq]=${encodeURIComponent("x'; DROP TABLE stripe_payments; --")}`);
    expect(response.status).toBe(200);
    expect(response.body.data).toEqual([]);
    expect((await list('')).body.data).toHaveLength(6);
  });

  it.each([
    ['filter[q][reference_wat]=1', 'unknown predicate'],
    ['filter[q][client_secret_eq]=x', 'attribute not filterable'],
    ['filter[q][created_at_gt]=yesterday', 'bad datetime'],
  ])('400 for %s (%s)', async (query) => {
    const response = await list(query);
    expect(response.status).toBe(400);
    expect(response.body.errors[0].source.parameter).toMatch(/^filter\[q\]/);
  });
});

describe('related resources and relationship links', () => {
  it('serves the links each response advertises', async () => {
    const payment = (await api(context).get(`/api/stripe_payments/${paymentIds[0]}`)).body.data;
    const path = (url: string) => new URL(url).pathname;
    const order = await api(context).get(path(payment.relationships.order.links.related));
    expect(order.status).toBe(200);
    expect(order.body.data).toMatchObject({ type: 'orders', id: firstOrderId });
    const linkage = await api(context).get(path(payment.relationships.order.links.self));
    expect(linkage.body.data).toEqual({ type: 'orders', id: firstOrderId });
    const gateway = await api(context).get(path(payment.relationships.payment_gateway.links.related));
    // Commerce Layer types the relationship payment_gateways.
    expect(gateway.body.data.type).toBe('payment_gateways');
    expect(gateway.body.data.attributes).not.toHaveProperty('login');

    const lineItems = await api(context).get(`/api/orders/${firstOrderId}/line_items`);
    expect(lineItems.status).toBe(200);
    expect(lineItems.body.data).toHaveLength(1);
    expect(lineItems.body.meta.record_count).toBe(1);
  });
});

describe('PATCH and DELETE', () => {
  it('refuses a body id other than the URL id, and attributes that are not updatable', async () => {
    const mismatch = await api(context).patch(`/api/stripe_payments/${paymentIds[0]}`, { data: { type: 'stripe_payments', id: paymentIds[1] } });
    expect(mismatch.status).toBe(400);
    expect(mismatch.body.errors[0].code).toBe('KEY_NOT_INCLUDED_IN_URL');
    const notUpdatable = await api(context).patch(`/api/stripe_payments/${paymentIds[0]}`, {
      data: { type: 'stripe_payments', id: paymentIds[0], attributes: { receipt_email: 'x@example.com' } },
    });
    expect(notUpdatable.status).toBe(400);
    expect(notUpdatable.body.errors[0].source.pointer).toBe('/data/attributes/receipt_email');
  });

  it('updates attributes and deletes with 204', async () => {
    const id = paymentIds[5]!;
    const patched = await api(context).patch(`/api/stripe_payments/${id}`, {
      data: { type: 'stripe_payments', id, attributes: { reference_origin: 'patched', return_url: 'https://shop.example.com/done' } },
    });
    expect(patched.status).toBe(200);
    expect(patched.body.data.attributes).toMatchObject({ reference_origin: 'patched', return_url: 'https://shop.example.com/done' });
    const deleted = await api(context).delete(`/api/stripe_payments/${id}`);
    expect(deleted.status).toBe(204);
    expect((await api(context).get(`/api/stripe_payments/${id}`)).status).toBe(404);
  });
});
