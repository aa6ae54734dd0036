import { Validator } from '@seriousme/openapi-schema-validator';
import Ajv2020Module from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { routesOf } from '../src/jsonapi/routes.ts';
import { registeredRoutes } from '../src/routes/docs.ts';
import { resources } from '../src/resources/index.ts';
import { api, createCheckout, jsonApi, startTestContext, type TestContext } from './support/context.ts';
import { confirm, payableOrder, trigger } from './support/payments.ts';

// ajv and ajv-formats come with fastify and the OpenAPI validator. Both are CommonJS
// modules that also set `exports.default`, which is what their types describe.
const Ajv2020 = Ajv2020Module.default;
const addFormats = addFormatsModule.default;

type Document = {
  openapi: string;
  paths: Record<string, Record<string, { responses: Record<string, { $ref?: string; content?: Record<string, unknown> }> }>>;
  components: Record<string, Record<string, unknown>>;
  servers?: unknown;
};

let context: TestContext;
let document: Document;
let ajv: InstanceType<typeof Ajv2020>;

beforeAll(async () => {
  context = await startTestContext();
  const response = await context.http.get('/openapi.json');
  expect(response.status).toBe(200);
  document = response.body as Document;
  ajv = new Ajv2020({ strict: false, validateSchema: false, allErrors: true });
  addFormats(ajv);
  // The whole document as one schema, so its $refs to #/components resolve.
  ajv.addSchema(document, 'openapi.json');
});
afterAll(async () => {
  await context?.close();
});

/** A JSON pointer as a URI fragment: ~ and / escaped, then percent-encoded ({id}, +). */
const pointer = (...segments: string[]) =>
  segments.map((segment) => encodeURIComponent(segment.replace(/~/g, '~0').replace(/\//g, '~1'))).join('/');

/** Validates a response against the schema the document gives for its path, method, status and type. */
function expectDocumented(path: string, method: string, response: { status: number; body: unknown; headers: Record<string, string> }) {
  const operation = document.paths[path]?.[method];
  expect(operation, `${method.toUpperCase()} ${path} is documented`).toBeDefined();
  const status = String(response.status);
  let declared = operation!.responses[status];
  expect(declared, `${method.toUpperCase()} ${path} documents ${status}`).toBeDefined();
  let location = `#/${pointer('paths', path, method, 'responses', status)}`;
  if (declared!.$ref) {
    location = declared!.$ref;
    declared = document.components.responses![declared!.$ref.split('/').pop()!] as typeof declared;
  }
  const contentType = response.headers['content-type']?.split(';')[0] ?? '';
  if (!declared!.content) return;
  expect(Object.keys(declared!.content)).toContain(contentType);
  const validate = ajv.getSchema(`openapi.json${location}/${pointer('content', contentType, 'schema')}`)!;
  const valid = validate(response.body);
  expect(valid, `${method.toUpperCase()} ${path} ${status}: ${JSON.stringify(validate.errors, null, 1)}`).toBe(true);
}

describe('the OpenAPI document', () => {
  it('is a valid OpenAPI 3.1 document', async () => {
    expect(document.openapi).toBe('3.1.0');
    const result = await new Validator().validate(structuredClone(document) as never);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
  });

  it('declares each tag once, and every tag an operation uses', () => {
    // OpenAPI 3.1: tag names are unique. Swagger UI groups operations by tag name, so a
    // second tag of the same name merges two groups and drops one description.
    const names = ((document as { tags?: { name: string }[] }).tags ?? []).map((tag) => tag.name);
    expect(names.filter((name, index) => names.indexOf(name) !== index)).toEqual([]);
    const used = Object.values(document.paths).flatMap((item) => Object.values(item).flatMap((operation) => (operation as { tags?: string[] }).tags ?? []));
    expect([...new Set(used)].filter((name) => !names.includes(name))).toEqual([]);
  });

  it('has a docs page that reads the same document, and needs no token', async () => {
    const page = await context.http.get('/docs');
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toMatch(/text\/html/);
    const json = await context.http.get('/docs/json');
    expect(json.body).toEqual(document);
  });

  it('documents every route the app registered; the undocumented /api ones answer 405', async () => {
    const routes = registeredRoutes(context.app);
    expect(routes.some((route) => route.url.startsWith('/api/'))).toBe(true);
    expect(routes.some((route) => route.url === '/oauth/token')).toBe(true);

    const documented = new Set(
      Object.entries(document.paths).flatMap(([path, item]) => Object.keys(item).map((method) => `${method.toUpperCase()} ${path}`)),
    );
    const missing: string[] = [];
    const refused: string[] = [];
    for (const { method, url } of routes) {
      // HEAD mirrors GET; OPTIONS is CORS preflight; /docs is the page that renders the document.
      if (method === 'HEAD' || method === 'OPTIONS' || url === '/docs' || url.startsWith('/docs/')) continue;
      const path = url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
      if (documented.has(`${method} ${path}`)) continue;
      // The engine answers verbs a resource does not offer with 405; those stay out of the document.
      if (path.startsWith('/api/')) {
        const response = await context.http[method.toLowerCase() as 'put' | 'post' | 'patch' | 'delete'](path.replace('{id}', 'someid'))
          .set('Accept', jsonApi)
          .set('Authorization', `Bearer ${context.token}`)
          .set('Content-Type', jsonApi)
          .send('{}');
        if (response.status === 405 && response.body.errors?.[0]?.code === 'METHOD_NOT_ALLOWED') {
          refused.push(`${method} ${url}`);
          continue;
        }
      }
      missing.push(`${method} ${url}`);
    }
    expect(missing, 'routes the document lacks').toEqual([]);
    expect(refused).toEqual(expect.arrayContaining(['PUT /api/orders', 'PUT /api/orders/:id', 'POST /api/payment_gateways']));
    // And the other way round: nothing documented that the app does not serve.
    const unserved = [...documented].filter((operation) => {
      const [method, path] = operation.split(' ') as [string, string];
      return !context.app.hasRoute({ method: method as 'GET', url: path.replace(/\{([A-Za-z0-9_]+)\}/g, ':$1') });
    });
    expect(unserved).toEqual([]);
  });

  it("lists, for every /api route, each status the route table says it can answer", () => {
    for (const declaration of resources) {
      for (const route of routesOf(declaration)) {
        if (route.operation === 'refused') continue;
        const path = `/api${route.url.replace(/:([A-Za-z0-9_]+)/g, '{$1}')}`;
        const operation = document.paths[path]?.[route.method.toLowerCase()];
        expect(Object.keys(operation?.responses ?? {}).map(Number), `${route.method} ${path}`).toEqual(route.statuses);
        // An Idempotency-Key still in flight answers 409 on any write that takes one.
        if (route.method === 'POST' || route.method === 'PATCH') expect(route.statuses, `${route.method} ${path}`).toContain(409);
      }
    }
    // Triggers that call Stripe (_place, _capture, ...) make the order's PATCH answer what Stripe's failures answer.
    expect(Object.keys(document.paths['/api/orders/{id}']!.patch!.responses)).toEqual(expect.arrayContaining(['409', '502', '503', '504']));
    expect(Object.keys(document.paths['/api/markets/{id}']!.patch!.responses)).not.toContain('502');
    expect(document.components.responses!.error_504).toMatchObject({ headers: { 'Retry-After': expect.anything() } });
  });

  it('describes the bearer and OAuth2 client-credentials schemes and requires one on every /api operation only', () => {
    expect(document.components.securitySchemes).toMatchObject({
      bearerAuth: { type: 'http', scheme: 'bearer' },
      oauth2: { type: 'oauth2', flows: { clientCredentials: { tokenUrl: '/oauth/token' } } },
    });
    expect(document.servers).toEqual([{ url: '/', description: 'This server' }]);
    for (const [path, item] of Object.entries(document.paths)) {
      for (const operation of Object.values(item) as { security?: unknown[] }[]) {
        if (path.startsWith('/api/')) expect(operation.security, path).toEqual([{ bearerAuth: [] }, { oauth2: [] }]);
        else expect(operation.security ?? [], path).toEqual([]);
      }
    }
  });

  it('takes its request bodies from the zod schemas the server validates with', () => {
    const schemas = document.components.schemas as Record<string, Record<string, any>>;
    const gateway = schemas.stripe_gateways_create!.properties.data.properties.attributes;
    expect(gateway.required).toEqual(['name', 'login']);
    expect(gateway.properties.login).toMatchObject({ pattern: expect.stringContaining('sk|rk'), description: expect.stringMatching(/write-only/i) });
    expect(schemas.stripe_gateways_resource!.properties.attributes.properties.login).toBeUndefined();
    expect(schemas.stripe_payments_update!.properties.data.properties.attributes.properties._refresh).toMatchObject({ type: 'boolean', description: expect.stringMatching(/trigger/i) });
    expect(schemas.line_items_update!.properties.data.required).toEqual(['type', 'id']);
    const grants = schemas.token_request!.oneOf as { properties: { grant_type: { const: string } }; required: string[] }[];
    expect(grants.map((grant) => grant.properties.grant_type.const)).toEqual(['client_credentials', 'password', 'refresh_token']);
    expect(grants[1]!.required).toEqual(expect.arrayContaining(['grant_type', 'client_id', 'username', 'password']));

    // The create-stripe-payment request of Commerce Layer's docs is a valid body; extra attributes are not.
    const validate = ajv.getSchema('openapi.json#/components/schemas/stripe_payments_create')!;
    expect(validate({ data: { type: 'stripe_payments', relationships: { order: { data: { type: 'orders', id: 'QWERtyUpBa' } } } } })).toBe(true);
    expect(validate({ data: { type: 'stripe_payments', attributes: { amount_cents: 1 }, relationships: { order: { data: { type: 'orders', id: 'x' } } } } })).toBe(false);
    expect(validate({ data: { type: 'stripe_payments' } })).toBe(false);
  });

  it('gives every request body an example its schema accepts; POST /api/stripe_payments has the one of Commerce Layer\'s page', () => {
    let checked = 0;
    for (const [path, item] of Object.entries(document.paths as Record<string, Record<string, any>>)) {
      for (const [method, operation] of Object.entries(item)) {
        for (const [contentType, media] of Object.entries((operation.requestBody?.content ?? {}) as Record<string, any>)) {
          if (path.startsWith('/webhooks/')) continue; // Stripe's events, signed by Stripe: nothing to try by hand
          expect(media.example, `${method} ${path} ${contentType}`).toBeDefined();
          const validate = ajv.compile({ $ref: `openapi.json#/paths/${pointer(path)}/${method}/requestBody/content/${pointer(contentType)}/schema` });
          expect(validate(media.example), `${method} ${path}: ${JSON.stringify(validate.errors)}`).toBe(true);
          checked += 1;
        }
      }
    }
    expect(checked).toBeGreaterThan(15);
    const create = (document.paths as Record<string, Record<string, any>>)['/api/stripe_payments']!.post;
    expect(create.requestBody.content['application/vnd.api+json'].example).toEqual({
      data: { type: 'stripe_payments', relationships: { order: { data: { type: 'orders', id: 'QWERtyUpBa' } } } },
    });
  });

  it('lists the query language parameters on reads', () => {
    const list = document.paths['/api/orders']!.get as unknown as { parameters: { $ref: string }[] };
    const names = list.parameters.map((parameter) => (document.components.parameters![parameter.$ref.split('/').pop()!] as { name: string }).name);
    expect(names).toEqual(expect.arrayContaining(['include', 'fields[orders]', 'fields[line_items]', 'sort', 'page[number]', 'page[size]', 'page[after]', 'filter[q]']));
    const filter = document.components.parameters!['orders.filter'] as { description: string; style: string };
    expect(filter.style).toBe('deepObject');
    expect(filter.description).toContain('line_items_sku_code');
  });
});

describe('responses match the document', () => {
  it('for the token, resources, related routes, linkage and deletes', async () => {
    const client = api(context);
    const token = await context.http
      .post('/oauth/token')
      .send({ grant_type: 'client_credentials', client_id: context.credentials.clientId, client_secret: context.credentials.clientSecret });
    expectDocumented('/oauth/token', 'post', token);

    const checkout = await createCheckout(context);
    const payment = await client.post('/api/stripe_payments', {
      data: { type: 'stripe_payments', relationships: { order: { data: { type: 'orders', id: checkout.orderId } } } },
    });
    expectDocumented('/api/stripe_payments', 'post', payment);
    const paymentId = payment.body.data.id as string;

    expectDocumented('/api/orders', 'get', await client.get('/api/orders?include=line_items,payment_method.payment_gateway,payment_source&page[size]=5'));
    const byCursor = await client.get('/api/orders?page[after]=&page[size]=1');
    expectDocumented('/api/orders', 'get', byCursor);
    const next = new URL(byCursor.body.links.next ?? byCursor.body.links.first);
    expectDocumented('/api/orders', 'get', await client.get(`${next.pathname}${next.search}`));
    expectDocumented('/api/orders/{id}', 'get', await client.get(`/api/orders/${checkout.orderId}?include=stripe_payments.order&fields[orders]=number,status,stripe_payments`));
    expectDocumented('/api/orders/{id}/line_items', 'get', await client.get(`/api/orders/${checkout.orderId}/line_items?sort=-quantity`));
    expectDocumented('/api/orders/{id}/payment_source', 'get', await client.get(`/api/orders/${checkout.orderId}/payment_source`));
    expectDocumented('/api/orders/{id}/relationships/line_items', 'get', await client.get(`/api/orders/${checkout.orderId}/relationships/line_items`));
    expectDocumented('/api/payment_methods/{id}/payment_gateway', 'get', await client.get(`/api/payment_methods/${checkout.paymentMethodId}/payment_gateway`));
    expectDocumented('/api/payment_methods/{id}/relationships/payment_gateway', 'get', await client.get(`/api/payment_methods/${checkout.paymentMethodId}/relationships/payment_gateway`));
    expectDocumented('/api/stripe_gateways/{id}', 'get', await client.get(`/api/stripe_gateways/${checkout.gatewayId}`));
    expectDocumented('/api/payment_gateways', 'get', await client.get('/api/payment_gateways'));
    expectDocumented('/api/stripe_payments/{id}', 'patch', await client.patch(`/api/stripe_payments/${paymentId}`, {
      data: { type: 'stripe_payments', id: paymentId, attributes: { _refresh: true, reference: 'r-1' } },
    }));
    expectDocumented('/api/stripe_payments/{id}', 'delete', await client.delete(`/api/stripe_payments/${paymentId}`));
    // Some twenty requests, a PaymentIntent among them: more than the default 5 s on a busy machine.
  }, 30_000);

  it('for an order trigger Stripe fails', async () => {
    const order = await payableOrder(context);
    await confirm(order);
    // Webhooks read the PaymentIntent too: delivered first, so that the faults are _place's.
    await context.standin.webhooksIdle();
    // More failures than the SDK retries: _place cannot read the PaymentIntent.
    context.standin.injectFaults({ kind: 'status', status: 500, times: 5, match: { method: 'GET', pathPrefix: `/v1/payment_intents/${order.paymentIntentId}` } });
    const response = await trigger(context, order.orderId, { _place: true });
    context.standin.clearFaults();
    expect(response.status).toBe(502);
    expectDocumented('/api/orders/{id}', 'patch', response);
  }, 30_000);

  it('for errors', async () => {
    const client = api(context);
    expectDocumented('/api/orders', 'get', await context.http.get('/api/orders'));
    expectDocumented('/api/orders', 'get', await client.get('/api/orders?sort=nope'));
    expectDocumented('/api/orders', 'get', await client.get('/api/orders?page[after]=not-a-cursor'));
    expectDocumented('/api/orders/{id}', 'get', await client.get('/api/orders/missing'));
    expectDocumented('/api/line_items', 'post', await client.post('/api/line_items', { data: { type: 'line_items', attributes: { quantity: 0 } } }));
    expectDocumented('/oauth/token', 'post', await context.http.post('/oauth/token').send({ grant_type: 'client_credentials', client_id: 'nobody', client_secret: 'x' }));
  });

  it('for the service and health routes', async () => {
    expectDocumented('/', 'get', await context.http.get('/'));
    expectDocumented('/health/live', 'get', await context.http.get('/health/live'));
    expectDocumented('/health/ready', 'get', await context.http.get('/health/ready'));
  });
});
