import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCheckout, jsonApi, startTestContext, type TestContext } from '../support/context.ts';

let context: TestContext;
let ids: Record<string, string>;

beforeAll(async () => {
  context = await startTestContext();
  const checkout = await createCheckout(context);
  const payment = await context.http
    .post('/api/stripe_payments')
    .set('Accept', jsonApi)
    .set('Authorization', `Bearer ${context.token}`)
    .set('Content-Type', jsonApi)
    .send(JSON.stringify({ data: { type: 'stripe_payments', relationships: { order: { data: { type: 'orders', id: checkout.orderId } } } } }));
  ids = {
    orders: checkout.orderId,
    stripe_gateways: checkout.gatewayId,
    payment_gateways: checkout.gatewayId,
    payment_methods: checkout.paymentMethodId,
    stripe_payments: payment.body.data.id,
    line_items: 'NoSuchItem',
  };
});
afterAll(async () => {
  await context?.close();
});

const types = ['orders', 'line_items', 'stripe_gateways', 'payment_gateways', 'payment_methods', 'stripe_payments'] as const;
const nasty = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.constantFrom(
    "'; DROP TABLE orders; --",
    '%',
    '_',
    '\\',
    '\u0000',
    '\uD800',
    '__proto__',
    'constructor',
    '-1',
    '1e400',
    '99999999999999999999',
    'NaN',
    '2024-02-30T00:00:00Z',
    'order.order.order.order',
    'a,b,,c',
    '',
  ),
);
const queryKey = fc.oneof(
  fc.constantFrom('include', 'sort', 'page[number]', 'page[size]', 'page[after]', 'fields[orders]', 'fields[stripe_payments]', '__proto__', 'constructor[prototype]', 'filter[q]'),
  nasty.map((value) => `filter[q][${value}]`),
  fc.constantFrom('reference', 'created_at', 'number', 'line_items_sku_code', 'metadata').chain((attribute) =>
    fc.constantFrom('_eq', '_in', '_lt', '_cont', '_matches', '_null', '_jcont', '_true', '_or_id_eq').map((predicate) => `filter[q][${attribute}${predicate}]`),
  ),
);
/** Percent-encodes anything, a lone surrogate included (as the invalid UTF-8 bytes a client could send). */
function encodeLoosely(value: string): string {
  return [...value].map((char) => (/[\uD800-\uDFFF]/.test(char) ? '%ED%A0%80' : encodeURIComponent(char))).join('');
}
/** A `page[after]` cursor in the API's encoding with any content: it must be refused, never reach SQL as is. */
const forgedCursor = fc
  .record(
    {
      s: fc.oneof(fc.constantFrom(['-created_at'], ['created_at'], ['reference'], ['number']), fc.array(nasty, { maxLength: 2 })),
      v: fc.array(fc.oneof(nasty, fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.constant('2024-02-30 00:00:00')), { maxLength: 2 }),
      id: fc.oneof(nasty, fc.integer()),
    },
    { requiredKeys: [] },
  )
  .map((cursor) => Buffer.from(JSON.stringify(cursor)).toString('base64url'));
const queryString = fc
  .array(fc.oneof(fc.tuple(queryKey, nasty), fc.tuple(fc.constant('page[after]'), forgedCursor)), { maxLength: 4 })
  .map((pairs) => pairs.map(([key, value]) => `${encodeLoosely(key)}=${encodeLoosely(value)}`).join('&'));

const anyJson = fc.jsonValue({ maxDepth: 4 });
const document = (type: string) =>
  fc.record(
    {
      data: fc.record(
        {
          type: fc.oneof(fc.constant(type), nasty),
          id: fc.oneof(nasty, fc.constant(ids?.[type] ?? 'x')),
          attributes: fc.dictionary(fc.oneof(nasty, fc.constantFrom('quantity', 'metadata', 'options', 'login', 'currency_code', '_update', '_refresh')), anyJson, { maxKeys: 4 }),
          relationships: fc.dictionary(fc.constantFrom('order', 'payment_method', 'payment_gateway', '__proto__'), anyJson, { maxKeys: 2 }),
        },
        { requiredKeys: [] },
      ),
    },
    { requiredKeys: [] },
  );

/** Every answer is JSON:API: a success document or an errors array whose status matches. */
function expectWellFormed(response: { statusCode: number; headers: Record<string, unknown>; body: string }, label: string) {
  expect(response.statusCode, `${label} -> ${response.body.slice(0, 300)}`).toBeLessThan(500);
  if (response.statusCode === 204) return;
  const parsed = JSON.parse(response.body) as { data?: unknown; errors?: { status: string; code: string }[] };
  if (response.statusCode >= 400) {
    expect(Array.isArray(parsed.errors), label).toBe(true);
    for (const error of parsed.errors!) expect(error.status, label).toBe(String(response.statusCode));
  } else {
    expect('data' in parsed, label).toBe(true);
  }
}

const runs = { numRuns: 60 };

describe('adversarial input never produces a 500', () => {
  it('query strings on every read route', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...types), fc.boolean(), queryString, async (type, member, query) => {
        const url = `/api/${type}${member ? `/${ids[type]}` : ''}?${query}`;
        const response = await context.app.inject({ method: 'GET', url, headers: { accept: jsonApi, authorization: `Bearer ${context.token}` } });
        expectWellFormed(response, `GET ${url}`);
      }),
      runs,
    );
  });

  it('documents on every write route', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...types), fc.constantFrom('POST', 'PATCH'), document('x'), async (type, method, body) => {
        const url = method === 'POST' ? `/api/${type}` : `/api/${type}/${ids[type]}`;
        const payload = JSON.stringify(body).replace('"type":"x"', `"type":"${type}"`);
        const response = await context.app.inject({
          method,
          url,
          headers: { accept: jsonApi, authorization: `Bearer ${context.token}`, 'content-type': jsonApi },
          payload,
        });
        expectWellFormed(response, `${method} ${url} ${payload.slice(0, 200)}`);
      }),
      runs,
    );
  });

  it('raw bodies, media types and headers', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...types),
        fc.oneof(fc.string({ unit: 'binary', maxLength: 200 }), anyJson.map((value) => JSON.stringify(value)), fc.constant('{"__proto__":{"x":1},"data":{}}')),
        fc.constantFrom(jsonApi, 'application/json', 'text/plain', `${jsonApi}; ext=x`, 'application/x-www-form-urlencoded', ''),
        fc.constantFrom(jsonApi, '*/*', 'application/json', 'text/html', `${jsonApi}; profile=x`),
        async (type, payload, contentType, accept) => {
          const response = await context.app.inject({
            method: 'POST',
            url: `/api/${type}`,
            headers: { accept, authorization: `Bearer ${context.token}`, ...(contentType ? { 'content-type': contentType } : {}) },
            payload,
          });
          expectWellFormed(response, `POST /api/${type} ${contentType} ${accept} ${payload.slice(0, 100)}`);
        },
      ),
      runs,
    );
  });

  it('the token endpoint', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(anyJson.map((value) => JSON.stringify(value)), fc.string({ maxLength: 100 })),
        fc.constantFrom('application/json', 'application/x-www-form-urlencoded', 'text/plain'),
        async (payload, contentType) => {
          const response = await context.app.inject({ method: 'POST', url: '/oauth/token', headers: { 'content-type': contentType }, payload });
          expect(response.statusCode, `${contentType} ${payload.slice(0, 100)} -> ${response.body.slice(0, 200)}`).toBeLessThan(500);
          expect(response.statusCode).not.toBe(200);
        },
      ),
      runs,
    );
  });

  it('refuses a body over the configured limit with 413', async () => {
    const response = await context.app.inject({
      method: 'POST',
      url: '/api/orders',
      headers: { accept: jsonApi, authorization: `Bearer ${context.token}`, 'content-type': jsonApi },
      payload: JSON.stringify({ data: { type: 'orders', attributes: { reference: 'x'.repeat(2_000_000) } } }),
    });
    expect(response.statusCode).toBe(413);
    expect(JSON.parse(response.body).errors[0].code).toBe('PAYLOAD_TOO_LARGE');
  });
});
