import { createHash, randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it, onTestFinished, vi } from 'vitest';
import { deriveKey } from '../../src/crypto/keys.ts';
import { hashLoad, maxConcurrentHashes, resetHashPeak } from '../../src/crypto/password.ts';
import { requestFingerprint } from '../../src/plugins/idempotency.ts';
import { maxBodyDepth } from '../../src/plugins/input-guard.ts';
import { resources } from '../../src/resources/index.ts';
import { api, createCheckout, createdId, jsonApi, startTestContext, type TestContext } from '../support/context.ts';
import { confirm, getOrder, payableOrder, paymentStatusAfterWebhooks, trigger } from '../support/payments.ts';

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

/** A JSON:API request with the integration token; `payload` is sent as is. */
function send(method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, payload?: string, headers: Record<string, string> = {}) {
  return context.app.inject({
    method,
    url,
    headers: { accept: jsonApi, authorization: `Bearer ${context.token}`, 'content-type': jsonApi, ...headers },
    ...(payload === undefined ? {} : { payload }),
  });
}

function firstError(response: { body: string }) {
  return (JSON.parse(response.body) as { errors: { code: string; status: string; source?: Record<string, string>; detail: string }[] }).errors[0]!;
}

/** `levels` objects nested in one another, innermost holding 1. */
function nested(levels: number): unknown {
  let value: unknown = 1;
  for (let level = 0; level < levels; level += 1) value = { a: value };
  return value;
}

/** A new market, a sales channel and a guest token of that channel in that market. */
async function storefront(): Promise<{ marketId: string; token: string }> {
  const code = `shop-${randomBytes(4).toString('hex')}`;
  const marketId = await createdId(context, '/api/markets', { data: { type: 'markets', attributes: { name: 'Shop', code } } });
  const channel = await api(context).post('/api/applications', { data: { type: 'applications', attributes: { name: 'Storefront', kind: 'sales_channel' } } });
  const response = await context.http
    .post('/oauth/token')
    .set('Content-Type', 'application/json')
    .send({ grant_type: 'client_credentials', client_id: channel.body.data.attributes.client_id, scope: `market:code:${code}` });
  expect(response.status, response.text).toBe(200);
  return { marketId, token: response.body.access_token as string };
}

describe('text PostgreSQL cannot store is refused where it enters, naming the field', () => {
  // JSON text as a client sends it: escapes JSON.stringify would not produce for a lone surrogate key.
  const unstorableMetadata = ['{"a":"x\\u0000y"}', '{"a\\u0000":1}', '{"a":"\\ud800"}', '{"\\udc00":1}', '{"a":{"b":["ok","\\udbff"]}}'];
  const withMetadata = resources.filter((resource) => 'metadata' in resource.attributes);

  it('a NUL in a path id answers 400 naming the parameter, on every resource', async () => {
    for (const resource of resources) {
      const response = await send('GET', `/api/${resource.type}/%00`);
      expect(response.statusCode, `${resource.type}: ${response.body}`).toBe(400);
      expect(firstError(response).source).toEqual({ parameter: 'id' });
    }
    const related = await send('GET', '/api/orders/%00/line_items');
    expect(related.statusCode, related.body).toBe(400);
    const deleted = await send('DELETE', '/api/stripe_payments/%00');
    expect(deleted.statusCode, deleted.body).toBe(400);
  });

  it('metadata with a NUL or a lone surrogate, in a key or a value, answers 422 on every resource with metadata', async () => {
    expect(withMetadata.length).toBeGreaterThanOrEqual(8);
    const suffix = randomBytes(3).toString('hex');
    await createdId(context, '/api/markets', { data: { type: 'markets', attributes: { name: 'Metadata', code: `meta-${suffix}` } } });
    await createdId(context, '/api/customers', { data: { type: 'customers', attributes: { email: `meta-${suffix}@example.com` } } });
    // An authorization, a capture and a refund, and a void: records of this file's own.
    for (const steps of [['_authorize', '_place', '_capture', '_refund'], ['_authorize', '_place', '_cancel']]) {
      const order = await payableOrder(context);
      await confirm(order);
      await context.standin.webhooksIdle();
      for (const step of steps) expect((await trigger(context, order.orderId, { [step]: true })).status, step).toBe(200);
    }
    // A topic no test fires, at an address nothing listens on: this file's own webhook.
    const webhookId = await createdId(context, '/api/webhooks', { data: { type: 'webhooks', attributes: { topic: 'orders.destroy', callback_url: 'http://127.0.0.1:9/metadata' } } });
    onTestFinished(async () => {
      await api(context).delete(`/api/webhooks/${webhookId}`);
    });
    for (const resource of withMetadata) {
      if (!resource.actions.includes('update')) continue;
      const list = await send('GET', `/api/${resource.type}?page[size]=1`);
      const id = (JSON.parse(list.body) as { data: { id: string }[] }).data[0]?.id;
      expect(id, `a ${resource.type} record to update`).toBeDefined();
      for (const metadata of unstorableMetadata) {
        const payload = `{"data":{"type":"${resource.type}","id":"${id}","attributes":{"metadata":${metadata}}}}`;
        const response = await send('PATCH', `/api/${resource.type}/${id}`, payload);
        expect(response.statusCode, `${resource.type} ${metadata}: ${response.body}`).toBe(422);
        expect(firstError(response)).toMatchObject({ code: 'VALIDATION_ERROR', source: { pointer: '/data/attributes/metadata' } });
      }
    }
    for (const resource of withMetadata) {
      if (!resource.actions.includes('create')) continue;
      const response = await send('POST', `/api/${resource.type}`, `{"data":{"type":"${resource.type}","attributes":{"metadata":{"a":"\\u0000"}}}}`);
      expect(response.statusCode, `${resource.type}: ${response.body}`).toBe(422);
      expect(firstError(response).source).toEqual({ pointer: '/data/attributes/metadata' });
    }
  });

  it('attributes and relationship ids with a NUL answer 422 pointing at the field', async () => {
    const attribute = await send('PATCH', `/api/orders/${ids.orders}`, JSON.stringify({ data: { type: 'orders', id: ids.orders, attributes: { reference: 'a\u0000b' } } }));
    expect(attribute.statusCode, attribute.body).toBe(422);
    expect(firstError(attribute).source).toEqual({ pointer: '/data/attributes/reference' });
    const relationship = await send(
      'POST',
      '/api/line_items',
      JSON.stringify({
        data: { type: 'line_items', attributes: { sku_code: 'A', quantity: 1, unit_amount_cents: 100 }, relationships: { order: { data: { type: 'orders', id: `${ids.orders}\u0000` } } } },
      }),
    );
    expect(relationship.statusCode, relationship.body).toBe(422);
    expect(firstError(relationship).source).toEqual({ pointer: '/data/relationships/order' });
  });

  it('the OAuth endpoints answer 400 invalid_request naming the field', async () => {
    const { clientId, clientSecret } = context.credentials;
    const cases: [string, string, string, string][] = [
      ['/oauth/token', 'application/json', JSON.stringify({ grant_type: 'client_credentials', client_id: 'x\u0000' }), '/client_id'],
      ['/oauth/token', 'application/x-www-form-urlencoded', `grant_type=client_credentials&client_id=${clientId}&client_secret=${clientSecret}&scope=market:id:%00`, '/scope'],
      ['/oauth/token', 'application/json', JSON.stringify({ grant_type: 'password', client_id: clientId, username: 'ada\u0000@example.com', password: 'x' }), '/username'],
      ['/oauth/revoke', 'application/json', JSON.stringify({ client_id: 'x\u0000', token: 'y' }), '/client_id'],
      ['/oauth/revoke', 'application/x-www-form-urlencoded', `client_id=${clientId}&client_secret=${clientSecret}&token=%00`, '/token'],
    ];
    for (const [url, contentType, payload, pointer] of cases) {
      const response = await context.app.inject({ method: 'POST', url, headers: { 'content-type': contentType }, payload });
      expect(response.statusCode, `${url} ${payload}: ${response.body}`).toBe(400);
      expect(firstError(response)).toMatchObject({ code: 'INVALID_REQUEST', source: { pointer } });
    }
  });
});

describe(`bodies nested deeper than ${maxBodyDepth} levels are refused before anything else reads them`, () => {
  it('takes metadata up to the bound and refuses one level more', async () => {
    // The document, data and attributes are three levels; metadata's own object a fourth.
    const within = await send('PATCH', `/api/orders/${ids.orders}`, JSON.stringify({ data: { type: 'orders', id: ids.orders, attributes: { metadata: nested(maxBodyDepth - 3) } } }));
    expect(within.statusCode, within.body).toBe(200);
    const beyond = await send('PATCH', `/api/orders/${ids.orders}`, JSON.stringify({ data: { type: 'orders', id: ids.orders, attributes: { metadata: nested(maxBodyDepth - 2) } } }));
    expect(beyond.statusCode, beyond.body).toBe(400);
    expect(firstError(beyond).source).toEqual({ pointer: '/data/attributes/metadata' });
  });

  it('refuses ~2,600-level metadata on a customer sign-up with a storefront token', async () => {
    const { token } = await storefront();
    const email = `deep-${randomBytes(3).toString('hex')}@example.com`;
    const response = await send(
      'POST',
      '/api/customers',
      JSON.stringify({ data: { type: 'customers', attributes: { email, password: 'correct horse battery', metadata: nested(2_600) } } }),
      { authorization: `Bearer ${token}` },
    );
    expect(response.statusCode, response.body.slice(0, 300)).toBe(400);
    expect(firstError(response)).toMatchObject({ code: 'BAD_REQUEST', source: { pointer: '/data/attributes/metadata' } });
    expect(await context.db.customer.count({ where: { email } })).toBe(0);
  });

  it('refuses a ~10,000-level body with an Idempotency-Key, even on a route that answers 405, and claims no key', async () => {
    const key = `deep-${randomBytes(6).toString('hex')}`;
    const shallow = await send('POST', `/api/orders/${ids.orders}`, '{"data":{}}');
    expect(shallow.statusCode, shallow.body).toBe(405);
    const deep = '['.repeat(10_000) + ']'.repeat(10_000);
    for (const url of [`/api/orders/${ids.orders}`, '/api/orders']) {
      const response = await send('POST', url, deep, { 'idempotency-key': key });
      expect(response.statusCode, `${url}: ${response.body}`).toBe(400);
      expect(firstError(response).code).toBe('BAD_REQUEST');
    }
    expect(await context.db.idempotencyKey.count({ where: { key } })).toBe(0);
  });
});

/** Writes bytes as they are to the listening server and reads the whole answer: what a client past any HTTP library sends. */
function rawRequest(bytes: Buffer): Promise<{ status: number; headers: string; body: string }> {
  const { port } = context.app.server.address() as { port: number };
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    // The server closes after each of these answers (Connection: close, or a refused request).
    // The request is not half-closed: Node's server aborts a request whose client ended first.
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const [head = '', body = ''] = text.split('\r\n\r\n', 2);
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1]), headers: head.toLowerCase(), body });
    });
    // Requests stay within one read of the server (~20 kB): unread bytes at its close would reset
    // the connection and could drop the answer. Errors after the answer are of no interest.
    socket.on('error', () => undefined);
    socket.write(bytes);
  });
}

describe("Fastify's and Node's own refusals are JSON:API error documents", () => {
  const get = (path: Buffer | string, headers = '') =>
    Buffer.concat([
      Buffer.from('GET '),
      Buffer.isBuffer(path) ? path : Buffer.from(path),
      Buffer.from(` HTTP/1.1\r\nHost: localhost\r\nAccept: ${jsonApi}\r\nAuthorization: Bearer ${context.token}\r\nConnection: close\r\n${headers}\r\n`),
    ]);
  const cases: [string, () => Buffer, number, string][] = [
    ['a URL that does not decode', () => get('/api/orders/%FF'), 400, 'BAD_REQUEST'],
    ['a truncated percent sequence', () => get('/api/orders/%E0%A4%A'), 400, 'BAD_REQUEST'],
    ['a path parameter over the router limit', () => get(`/api/orders/${'a'.repeat(200)}`), 414, 'URI_TOO_LONG'],
    ['a request line over the header limit', () => get(`/api/orders?filter[q][reference_eq]=${'a'.repeat(20_000)}`), 431, 'REQUEST_HEADER_FIELDS_TOO_LARGE'],
    ['headers over the limit', () => get('/api/orders', `X-Padding: ${'a'.repeat(20_000)}\r\n`), 431, 'REQUEST_HEADER_FIELDS_TOO_LARGE'],
    ['raw UTF-8 bytes in the path', () => get(Buffer.from('/api/orders/\u00e9', 'utf8')), 400, 'BAD_REQUEST'],
    ['raw Latin-1 bytes in the path', () => get(Buffer.from('/api/orders/\xff\xfe', 'latin1')), 400, 'BAD_REQUEST'],
    ['a control byte in the path', () => get(Buffer.from('/api/orders/\x01', 'latin1')), 400, 'BAD_REQUEST'],
    ['a Content-Length that is not a number', () => Buffer.from('POST /api/orders HTTP/1.1\r\nHost: localhost\r\nContent-Length: abc\r\n\r\n{}'), 400, 'BAD_REQUEST'],
    ['bad JSON', () => Buffer.from(`POST /api/orders HTTP/1.1\r\nHost: localhost\r\nAccept: ${jsonApi}\r\nContent-Type: ${jsonApi}\r\nAuthorization: Bearer ${context.token}\r\nContent-Length: 1\r\nConnection: close\r\n\r\n{`), 400, 'BAD_REQUEST'],
  ];
  it.each(cases)('%s', async (_label, bytes, status, code) => {
    const response = await rawRequest(bytes());
    expect(response.status, response.headers + response.body).toBe(status);
    expect(response.headers).toContain(`content-type: ${jsonApi}`);
    const error = firstError(response);
    expect(error).toMatchObject({ status: String(status), code });
  });
});

describe('secrets never rest in idempotency_keys', () => {
  it("stores no integration client_secret: a replay answers 410 SECRET_NOT_REPLAYABLE with the record's location", async () => {
    const key = `app-${randomBytes(6).toString('hex')}`;
    const document = { data: { type: 'applications', attributes: { name: 'ERP', kind: 'integration' } } };
    const first = await api(context).post('/api/applications', document).set('Idempotency-Key', key);
    expect(first.status, first.text).toBe(201);
    const secret = first.body.data.attributes.client_secret as string;
    expect(secret).toMatch(/^[\w-]{40,}$/);
    const [record] = await context.db.idempotencyKey.findMany({ where: { key } });
    expect(record?.state).toBe('done');
    expect(JSON.stringify(record)).not.toContain(secret);
    const replay = await api(context).post('/api/applications', document).set('Idempotency-Key', key);
    expect(replay.status, replay.text).toBe(410);
    expect(replay.text).not.toContain(secret);
    expect(replay.body.errors[0]).toMatchObject({ code: 'SECRET_NOT_REPLAYABLE', status: '410' });
    expect(replay.headers.location).toBe(first.headers.location);
    expect(replay.headers['idempotent-replayed']).toBe('true');
    // The secret itself was not lost: it signs in.
    const signIn = await context.http
      .post('/oauth/token')
      .set('Content-Type', 'application/json')
      .send({ grant_type: 'client_credentials', client_id: first.body.data.attributes.client_id, client_secret: secret });
    expect(signIn.status).toBe(200);
  });

  it('still replays answers without a secret as they were (a sales channel has none)', async () => {
    const key = `channel-${randomBytes(6).toString('hex')}`;
    const document = { data: { type: 'applications', attributes: { name: 'Shop', kind: 'sales_channel' } } };
    const first = await api(context).post('/api/applications', document).set('Idempotency-Key', key);
    const replay = await api(context).post('/api/applications', document).set('Idempotency-Key', key);
    expect([first.status, replay.status]).toEqual([201, 201]);
    expect(replay.body.data.id).toBe(first.body.data.id);
  });

  it("keys request fingerprints: a customer sign-up's stored hash is no unsalted digest of its body", async () => {
    const key = `signup-${randomBytes(6).toString('hex')}`;
    const password = 'correct horse battery staple';
    const body = { data: { type: 'customers', attributes: { email: `${key}@example.com`, password } } };
    const response = await api(context).post('/api/customers', body).set('Idempotency-Key', key);
    expect(response.status, response.text).toBe(201);
    const [record] = await context.db.idempotencyKey.findMany({ where: { key } });
    expect(record).toBeDefined();
    const unsalted = (text: string) => createHash('sha256').update(text).digest('hex');
    // What an offline guesser would compute from the request's shape and a candidate password.
    expect(record!.requestHash).not.toBe(unsalted(`POST /api/customers\n${JSON.stringify(body)}`));
    expect(record!.requestHash).toBe(requestFingerprint(deriveKey(context.config.encryptionKey, 'idempotency-key request fingerprint'), 'POST', '/api/customers', body));
    expect(JSON.stringify(record)).not.toContain(password);
    // Another deployment's key gives another fingerprint of the same request.
    expect(requestFingerprint(randomBytes(32), 'POST', '/api/customers', body)).not.toBe(record!.requestHash);
  });
});

describe('smaller holes', () => {
  it('bounds the concurrent slow hashes of 40 wrong-secret token requests, and answers a cheap request meanwhile', async () => {
    resetHashPeak();
    let finished = 0;
    const wrongSecrets = Array.from({ length: 40 }, (_, index) =>
      context.http
        .post('/oauth/token')
        .set('Content-Type', 'application/json')
        .send({ grant_type: 'client_credentials', client_id: context.credentials.clientId, client_secret: `wrong-${index}` })
        .then((response) => {
          finished += 1;
          return response.status;
        }),
    );
    // Once the hashes queue up, a request that needs none is answered while they still run.
    await vi.waitFor(() => expect(hashLoad().waiting).toBeGreaterThan(0), { timeout: 30_000, interval: 5 });
    const cheap = await api(context).get(`/api/orders/${ids.orders}`);
    expect(cheap.status).toBe(200);
    expect(finished).toBeLessThan(40);
    expect(await Promise.all(wrongSecrets)).toEqual(Array(40).fill(401));
    expect(hashLoad().peak).toBe(maxConcurrentHashes);
    // 40 scrypt checks, two at a time, on a shared machine: a generous limit, not a speed target.
  }, 120_000);

  it("a draft order's payment_status goes back to unpaid when its authorized payment is deleted", async () => {
    const order = await payableOrder(context);
    const intent = await confirm(order);
    expect('status' in intent && intent.status).toBe('requires_capture');
    const authorized = await trigger(context, order.orderId, { _authorize: true });
    expect(authorized.status, authorized.text).toBe(200);
    expect(await paymentStatusAfterWebhooks(context, order.orderId)).toBe('authorized');
    expect((await getOrder(context, order.orderId)).data.attributes.status).toBe('draft');

    const deleted = await api(context).delete(`/api/stripe_payments/${order.paymentId}`);
    expect(deleted.status, deleted.text).toBe(204);
    expect((await order.stripe.paymentIntents.retrieve(order.paymentIntentId)).status).toBe('canceled');
    // Also once the cancellation's webhooks have been delivered.
    expect(await paymentStatusAfterWebhooks(context, order.orderId)).toBe('unpaid');

    // A new payment starts from there and authorizes again.
    const again = await api(context).post('/api/stripe_payments', {
      data: { type: 'stripe_payments', relationships: { order: { data: { type: 'orders', id: order.orderId } } } },
    });
    expect(again.status, again.text).toBe(201);
  });

  it('builds links and Location from PUBLIC_URL when set, never from the Host header a client sends', async () => {
    const behindProxy = await startTestContext({ publicUrl: new URL('https://shop.example.com/payments/') });
    try {
      const headers = { accept: jsonApi, authorization: `Bearer ${behindProxy.token}`, 'content-type': jsonApi, host: 'evil.example', 'x-forwarded-host': 'evil.example' };
      const created = await behindProxy.app.inject({
        method: 'POST',
        url: '/api/markets',
        headers,
        payload: JSON.stringify({ data: { type: 'markets', attributes: { name: 'Proxied' } } }),
      });
      expect(created.statusCode, created.body).toBe(201);
      const id = (JSON.parse(created.body) as { data: { id: string } }).data.id;
      expect(created.headers.location).toBe(`https://shop.example.com/payments/api/markets/${id}`);
      const list = await behindProxy.app.inject({ method: 'GET', url: '/api/markets?page[size]=1', headers });
      const document = JSON.parse(list.body) as { data: { links: { self: string } }[]; links: Record<string, string> };
      expect(document.data[0]!.links.self).toMatch(/^https:\/\/shop\.example\.com\/payments\/api\/markets\//);
      expect(document.links.first).toMatch(/^https:\/\/shop\.example\.com\/payments\/api\/markets\?/);
      expect(list.body).not.toContain('evil.example');
    } finally {
      await behindProxy.close();
    }
  }, 30_000);

  it("a disabled market's existing storefront tokens stop reading its orders, and work again once it is enabled", async () => {
    const { marketId, token } = await storefront();
    const asStorefront = { authorization: `Bearer ${token}` };
    const created = await send('POST', '/api/orders', JSON.stringify({ data: { type: 'orders', attributes: { currency_code: 'EUR' } } }), asStorefront);
    expect(created.statusCode, created.body).toBe(201);
    const orderId = (JSON.parse(created.body) as { data: { id: string } }).data.id;
    expect((await send('GET', `/api/orders/${orderId}`, undefined, asStorefront)).statusCode).toBe(200);

    const disabled = await send('PATCH', `/api/markets/${marketId}`, JSON.stringify({ data: { type: 'markets', id: marketId, attributes: { _disable: true } } }));
    expect(disabled.statusCode, disabled.body).toBe(200);
    for (const [method, url] of [['GET', `/api/orders/${orderId}`], ['GET', '/api/payment_methods/none']] as const) {
      const refused = await send(method, url, undefined, asStorefront);
      expect(refused.statusCode, `${url}: ${refused.body}`).toBe(401);
      expect(firstError(refused).code).toBe('INVALID_TOKEN');
    }

    await send('PATCH', `/api/markets/${marketId}`, JSON.stringify({ data: { type: 'markets', id: marketId, attributes: { _enable: true } } }));
    expect((await send('GET', `/api/orders/${orderId}`, undefined, asStorefront)).statusCode).toBe(200);
  });
});
