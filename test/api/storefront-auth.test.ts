import { createPublicKey, randomBytes, verify, type JsonWebKey } from 'node:crypto';
import { jwtIsSalesChannel, jwtVerify } from '@commercelayer/js-auth';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, jsonApi, startTestContext, type TestContext } from '../support/context.ts';

/**
 * What a storefront team does with Commerce Layer's auth: a sales channel application,
 * a market in the token's scope, guests and signed-in customers paying for their order.
 */
let context: TestContext;
let salesChannelId: string;
const marketCode = `eu-${randomBytes(3).toString('hex')}`;
let market: { id: string; number: number };
let paymentMethodId: string;
const customer = { email: `ada-${randomBytes(3).toString('hex')}@example.com`, password: 'correct horse battery' };

const body = (response: { body: unknown }) => response.body as Record<string, any>;

async function created(url: string, document: unknown) {
  const response = await api(context).post(url, document);
  if (response.status !== 201) throw new Error(`${url}: ${response.status} ${response.text}`);
  return body(response).data as { id: string; attributes: Record<string, any> };
}

function token(fields: Record<string, string>) {
  return context.http.post('/oauth/token').set('Content-Type', 'application/json').send(fields);
}

/** Requests as a storefront makes them, with its own token. */
function as(accessToken: string) {
  const headers = (request: ReturnType<TestContext['http']['get']>) =>
    request.set('Accept', jsonApi).set('Authorization', `Bearer ${accessToken}`);
  return {
    get: (url: string) => headers(context.http.get(url)),
    post: (url: string, document: unknown) => headers(context.http.post(url)).set('Content-Type', jsonApi).send(JSON.stringify(document)),
    patch: (url: string, document: unknown) => headers(context.http.patch(url)).set('Content-Type', jsonApi).send(JSON.stringify(document)),
  };
}

const claimsOf = (jwt: string) => JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString()) as Record<string, any>;

beforeAll(async () => {
  context = await startTestContext();
  const application = await created('/api/applications', { data: { type: 'applications', attributes: { name: 'Storefront', kind: 'sales_channel' } } });
  salesChannelId = application.attributes.client_id;
  const created_ = await created('/api/markets', { data: { type: 'markets', attributes: { name: 'Europe', code: marketCode } } });
  market = { id: created_.id, number: created_.attributes.number };
  const gateway = await created('/api/stripe_gateways', {
    data: { type: 'stripe_gateways', attributes: { name: 'Stripe', login: `sk_test_${randomBytes(12).toString('hex')}` } },
  });
  paymentMethodId = (
    await created('/api/payment_methods', {
      data: {
        type: 'payment_methods',
        attributes: { payment_source_type: 'stripe_payments', currency_code: 'EUR', price_amount_cents: 0 },
        relationships: { payment_gateway: { data: { type: 'stripe_gateways', id: gateway.id } }, market: { data: { type: 'markets', id: market.id } } },
      },
    })
  ).id;
  await created('/api/customers', { data: { type: 'customers', attributes: customer } });
});
afterAll(async () => {
  await context?.close();
});

describe('applications', () => {
  it('shows an integration secret once, and gives sales channels none', async () => {
    const integration = await created('/api/applications', { data: { type: 'applications', attributes: { name: 'ERP', kind: 'integration' } } });
    expect(integration.attributes.client_secret).toMatch(/^[\w-]{40,}$/);
    const read = await api(context).get(`/api/applications/${integration.id}`);
    expect(body(read).data.attributes.client_secret).toBeNull();
    const signIn = await token({ grant_type: 'client_credentials', client_id: integration.attributes.client_id, client_secret: integration.attributes.client_secret });
    expect(signIn.status).toBe(200);
    const channel = await api(context).get(`/api/applications?filter[q][client_id_eq]=${salesChannelId}`);
    expect(body(channel).data[0].attributes).toMatchObject({ kind: 'sales_channel', client_secret: null, public_access: true });
  });

  it("ends a deleted application's tokens at once", async () => {
    const integration = await created('/api/applications', { data: { type: 'applications', attributes: { name: 'Temp', kind: 'integration' } } });
    const signIn = await token({ grant_type: 'client_credentials', client_id: integration.attributes.client_id, client_secret: integration.attributes.client_secret });
    const temp = as(body(signIn).access_token);
    expect((await temp.get('/api/markets')).status).toBe(200);
    expect((await api(context).delete(`/api/applications/${integration.id}`)).status).toBe(204);
    const after = await temp.get('/api/markets');
    expect(after.status).toBe(401);
    expect(body(after).errors[0].code).toBe('INVALID_TOKEN');
  });
});

describe('POST /oauth/token for a sales channel', () => {
  it('needs a market in scope, by code, id or number, and puts it in the token', async () => {
    const missing = await token({ grant_type: 'client_credentials', client_id: salesChannelId });
    expect(missing.status).toBe(400);
    expect(body(missing).errors[0].code).toBe('INVALID_SCOPE');
    for (const scope of [`market:code:${marketCode}`, `market:id:${market.id}`, `market:${market.number}`]) {
      const response = await token({ grant_type: 'client_credentials', client_id: salesChannelId, scope });
      expect(response.status).toBe(200);
      expect(body(response)).toMatchObject({ token_type: 'bearer', scope, expires_in: context.config.tokenTtlSeconds });
      expect(body(response).refresh_token).toBeUndefined();
      const claims = claimsOf(body(response).access_token);
      expect(claims.application).toMatchObject({ client_id: salesChannelId, kind: 'sales_channel', public: true });
      expect(claims.market).toMatchObject({ id: [market.id], code: marketCode, number: market.number });
      expect(claims.owner).toBeUndefined();
    }
    const unknown = await token({ grant_type: 'client_credentials', client_id: salesChannelId, scope: 'market:code:nowhere' });
    expect(unknown.status).toBe(400);
    expect(body(unknown).errors[0].code).toBe('INVALID_SCOPE');
  });

  it('refuses a market scope for an integration: its tokens reach every market', async () => {
    const response = await token({
      grant_type: 'client_credentials',
      client_id: context.credentials.clientId,
      client_secret: context.credentials.clientSecret,
      scope: `market:code:${marketCode}`,
    });
    expect(response.status).toBe(400);
    expect(body(response).errors[0].code).toBe('INVALID_SCOPE');
  });
});

describe('a guest checkout with a sales channel token', () => {
  it('creates an order in its market, pays it, and cannot touch what belongs to the merchant', async () => {
    const guest = as(body(await token({ grant_type: 'client_credentials', client_id: salesChannelId, scope: `market:code:${marketCode}` })).access_token);
    const order = await guest.post('/api/orders', {
      data: { type: 'orders', attributes: { currency_code: 'EUR' }, relationships: { payment_method: { data: { type: 'payment_methods', id: paymentMethodId } } } },
    });
    expect(order.status).toBe(201);
    const orderId = body(order).data.id as string;
    expect(body(order).data.relationships.market).toBeDefined();

    // The merchant prices the cart; the shopper's token may change quantities, never prices.
    const priced = await guest.post('/api/line_items', {
      data: { type: 'line_items', attributes: { sku_code: 'TSHIRT', quantity: 1, unit_amount_cents: 1 }, relationships: { order: { data: { type: 'orders', id: orderId } } } },
    });
    expect(priced.status).toBe(403);
    expect(body(priced).errors[0].code).toBe('FORBIDDEN');
    const line = await api(context).post('/api/line_items', {
      data: { type: 'line_items', attributes: { sku_code: 'TSHIRT', quantity: 1, unit_amount_cents: 1500 }, relationships: { order: { data: { type: 'orders', id: orderId } } } },
    });
    expect(line.status).toBe(201);
    const lineId = body(line).data.id as string;
    const repriced = await guest.patch(`/api/line_items/${lineId}`, { data: { type: 'line_items', id: lineId, attributes: { unit_amount_cents: 1 } } });
    expect(repriced.status).toBe(403);
    expect(body(repriced).errors[0].source).toEqual({ pointer: '/data/attributes/unit_amount_cents' });
    const more = await guest.patch(`/api/line_items/${lineId}`, { data: { type: 'line_items', id: lineId, attributes: { quantity: 2 } } });
    expect(more.status).toBe(200);

    const payment = await guest.post('/api/stripe_payments', {
      data: { type: 'stripe_payments', relationships: { order: { data: { type: 'orders', id: orderId } } } },
    });
    expect(payment.status).toBe(201);
    expect(body(payment).data.attributes.client_secret).toMatch(/^pi_\w+_secret_\w+$/);
    const intent = context.standin.paymentIntents().find((pi) => pi.id === body(payment).data.attributes.stripe_id);
    expect(intent?.amount).toBe(3000);

    const withOrder = await guest.get(`/api/stripe_payments/${body(payment).data.id}?include=order`);
    expect(withOrder.status).toBe(200);
    expect(body(withOrder).included[0].attributes.total_amount_cents).toBe(3000);
    const gateway = await guest.get(`/api/stripe_payments/${body(payment).data.id}?include=payment_gateway`);
    expect(gateway.status).toBe(403);
    expect((await guest.get('/api/stripe_payments')).status).toBe(403);

    const capture = await guest.patch(`/api/orders/${orderId}`, { data: { type: 'orders', id: orderId, attributes: { _capture: true } } });
    expect(capture.status).toBe(403);
    expect(body(capture).errors[0].source).toEqual({ pointer: '/data/attributes/_capture' });
  });

  it('no longer sees a payment method the merchant disabled', async () => {
    const method = await created('/api/payment_methods', {
      data: {
        type: 'payment_methods',
        attributes: { payment_source_type: 'stripe_payments', currency_code: 'EUR', price_amount_cents: 0 },
        relationships: { market: { data: { type: 'markets', id: market.id } } },
      },
    });
    const guest = as(body(await token({ grant_type: 'client_credentials', client_id: salesChannelId, scope: `market:code:${marketCode}` })).access_token);
    expect((await guest.get(`/api/payment_methods/${method.id}`)).status).toBe(200);
    const disabled = await api(context).patch(`/api/payment_methods/${method.id}`, { data: { type: 'payment_methods', id: method.id, attributes: { _disable: true } } });
    expect(disabled.status).toBe(200);
    expect(body(disabled).data.attributes.disabled_at).not.toBeNull();
    expect((await guest.get(`/api/payment_methods/${method.id}`)).status).toBe(404);
    const enabled = await api(context).patch(`/api/payment_methods/${method.id}`, { data: { type: 'payment_methods', id: method.id, attributes: { _enable: true } } });
    expect(body(enabled).data.attributes.disabled_at).toBeNull();
    expect((await guest.get(`/api/payment_methods/${method.id}`)).status).toBe(200);
  });

  it('cannot choose a payment method of another market; the merchant cannot either', async () => {
    const other = await created('/api/markets', { data: { type: 'markets', attributes: { name: 'Elsewhere', code: `x-${randomBytes(3).toString('hex')}` } } });
    const foreignMethod = await created('/api/payment_methods', {
      data: {
        type: 'payment_methods',
        attributes: { payment_source_type: 'stripe_payments', currency_code: 'EUR', price_amount_cents: 0 },
        relationships: { market: { data: { type: 'markets', id: other.id } } },
      },
    });
    const guest = as(body(await token({ grant_type: 'client_credentials', client_id: salesChannelId, scope: `market:code:${marketCode}` })).access_token);
    const link = { data: { type: 'orders', attributes: { currency_code: 'EUR' }, relationships: { payment_method: { data: { type: 'payment_methods', id: foreignMethod.id } } } } };
    const byGuest = await guest.post('/api/orders', link);
    expect(byGuest.status).toBe(422);
    expect(body(byGuest).errors[0].source).toEqual({ pointer: '/data/relationships/payment_method' });
    const byMerchant = await api(context).post('/api/orders', {
      data: { ...link.data, relationships: { ...link.data.relationships, market: { data: { type: 'markets', id: market.id } } } },
    });
    expect(byMerchant.status).toBe(422);
    expect(body(byMerchant).errors[0].detail).toMatch(/market/);
  });
});

describe('Idempotency-Key from storefronts', () => {
  it("keeps one shopper's keys apart from another's of the same storefront", async () => {
    const guestToken = async () => body(await token({ grant_type: 'client_credentials', client_id: salesChannelId, scope: `market:code:${marketCode}` })).access_token as string;
    const orderFor = async () => {
      const order = await created('/api/orders', {
        data: {
          type: 'orders',
          attributes: { currency_code: 'EUR' },
          relationships: { market: { data: { type: 'markets', id: market.id } }, payment_method: { data: { type: 'payment_methods', id: paymentMethodId } } },
        },
      });
      await created('/api/line_items', {
        data: { type: 'line_items', attributes: { sku_code: 'MUG', quantity: 1, unit_amount_cents: 700 }, relationships: { order: { data: { type: 'orders', id: order.id } } } },
      });
      return order.id;
    };
    const pay = (accessToken: string, orderId: string) =>
      as(accessToken)
        .post('/api/stripe_payments', { data: { type: 'stripe_payments', relationships: { order: { data: { type: 'orders', id: orderId } } } } })
        .set('Idempotency-Key', 'checkout-1');
    const first = await pay(await guestToken(), await orderFor());
    expect(first.status, first.text).toBe(201);
    // Another shopper, the same storefront and the same (unlucky) key, another order: their own payment.
    const second = await pay(await guestToken(), await orderFor());
    expect(second.status).toBe(201);
    expect(body(second).data.id).not.toBe(body(first).data.id);
  });
});

describe('customers: password and refresh_token grants', () => {
  it('signs a customer in, owns the orders they create, and rotates the refresh token', async () => {
    const wrong = await token({ grant_type: 'password', client_id: salesChannelId, scope: `market:code:${marketCode}`, username: customer.email, password: 'not it' });
    expect(wrong.status).toBe(400);
    expect(body(wrong).errors[0].code).toBe('INVALID_GRANT');

    const signIn = await token({ grant_type: 'password', client_id: salesChannelId, scope: `market:code:${marketCode}`, username: customer.email.toUpperCase(), password: customer.password });
    expect(signIn.status).toBe(200);
    expect(body(signIn)).toMatchObject({ owner_type: 'customer', scope: `market:code:${marketCode}` });
    expect(body(signIn).refresh_token).toMatch(/^[\w-]{40,}$/);
    const customerId = body(signIn).owner_id as string;
    expect(claimsOf(body(signIn).access_token).owner).toEqual({ id: customerId, type: 'Customer' });

    const shopper = as(body(signIn).access_token);
    const order = await shopper.post('/api/orders', { data: { type: 'orders', attributes: { currency_code: 'EUR' } } });
    expect(order.status).toBe(201);
    expect(body(order).data.attributes.customer_email).toBe(customer.email);
    const self = await shopper.get(`/api/customers/${customerId}`);
    expect(self.status).toBe(200);
    expect(body(self).data.attributes).toMatchObject({ email: customer.email, has_password: true });
    expect(body(self).data.attributes.password).toBeUndefined();

    // A guest of the same market does not see the customer's order.
    const guest = as(body(await token({ grant_type: 'client_credentials', client_id: salesChannelId, scope: `market:code:${marketCode}` })).access_token);
    expect((await guest.get(`/api/orders/${body(order).data.id}`)).status).toBe(404);

    const refreshed = await token({ grant_type: 'refresh_token', client_id: salesChannelId, refresh_token: body(signIn).refresh_token });
    expect(refreshed.status).toBe(200);
    expect(body(refreshed)).toMatchObject({ owner_id: customerId, scope: `market:code:${marketCode}` });
    expect(body(refreshed).refresh_token).not.toBe(body(signIn).refresh_token);
    const renewed = as(body(refreshed).access_token);
    expect((await renewed.get(`/api/orders/${body(order).data.id}`)).status).toBe(200);

    // The used refresh token coming back means it leaked: the whole session ends.
    const replay = await token({ grant_type: 'refresh_token', client_id: salesChannelId, refresh_token: body(signIn).refresh_token });
    expect(replay.status).toBe(400);
    expect(body(replay).errors[0].code).toBe('INVALID_GRANT');
    const afterReplay = await renewed.get(`/api/orders/${body(order).data.id}`);
    expect(afterReplay.status).toBe(401);
    expect(body(afterReplay).errors[0].code).toBe('INVALID_TOKEN');
    const next = await token({ grant_type: 'refresh_token', client_id: salesChannelId, refresh_token: body(refreshed).refresh_token });
    expect(next.status).toBe(400);
  });

  it('revokes a refresh token through /oauth/revoke, which ends its access tokens', async () => {
    const signIn = await token({ grant_type: 'password', client_id: salesChannelId, scope: `market:code:${marketCode}`, username: customer.email, password: customer.password });
    const shopper = as(body(signIn).access_token);
    expect((await shopper.get(`/api/customers/${body(signIn).owner_id}`)).status).toBe(200);
    const revoked = await context.http.post('/oauth/revoke').send({ client_id: salesChannelId, token: body(signIn).refresh_token });
    expect(revoked.status).toBe(200);
    expect(revoked.body).toEqual({});
    expect((await shopper.get(`/api/customers/${body(signIn).owner_id}`)).status).toBe(401);
    const exchange = await token({ grant_type: 'refresh_token', client_id: salesChannelId, refresh_token: body(signIn).refresh_token });
    expect(exchange.status).toBe(400);
  });
});

describe('signing keys', () => {
  const verifyWith = (jwks: { keys: JsonWebKey[] }, jwt: string) => {
    const [header, payload, signature] = jwt.split('.') as [string, string, string];
    const { kid, alg } = JSON.parse(Buffer.from(header, 'base64url').toString()) as { kid: string; alg: string };
    const jwk = jwks.keys.find((key) => key.kid === kid);
    if (!jwk || alg !== 'RS512') return false;
    return verify('sha512', Buffer.from(`${header}.${payload}`), createPublicKey({ key: jwk, format: 'jwk' }), Buffer.from(signature, 'base64url'));
  };

  it('publishes the public key that verifies tokens, and keeps old tokens valid after a rotation', async () => {
    const before = await context.http.get('/.well-known/jwks.json');
    expect(before.status).toBe(200);
    expect(before.body.keys[0]).toMatchObject({ kty: 'RSA', alg: 'RS512', use: 'sig' });
    expect(before.body.keys[0].d).toBeUndefined();
    expect(verifyWith(before.body, context.token)).toBe(true);

    await context.app.signingKeys.rotate({ force: true });
    const after = await context.http.get('/.well-known/jwks.json');
    expect(after.body.keys.length).toBe(before.body.keys.length + 1);
    const fresh = await token({ grant_type: 'client_credentials', client_id: context.credentials.clientId, client_secret: context.credentials.clientSecret });
    const freshKid = JSON.parse(Buffer.from(body(fresh).access_token.split('.')[0], 'base64url').toString()).kid;
    expect(freshKid).toBe(after.body.keys[0].kid);
    expect(verifyWith(after.body, body(fresh).access_token)).toBe(true);
    // The token signed before the rotation still opens the API.
    expect((await api(context).get('/api/markets')).status).toBe(200);
  });

  it("is read and verified by Commerce Layer's own @commercelayer/js-auth", async () => {
    const storefront = await token({ grant_type: 'client_credentials', client_id: salesChannelId, scope: `market:code:${marketCode}` });
    const accessToken = body(storefront).access_token as string;
    const kid = JSON.parse(Buffer.from(accessToken.split('.')[0]!, 'base64url').toString()).kid;
    const jwks = await context.http.get('/.well-known/jwks.json');
    const decoded = await jwtVerify(accessToken, { jwk: jwks.body.keys.find((key: { kid: string }) => key.kid === kid) });
    expect(jwtIsSalesChannel(decoded.payload)).toBe(true);
    expect(decoded.payload).toMatchObject({ market: { id: [market.id] }, scope: `market:code:${marketCode}` });
    const tampered = `${accessToken.slice(0, -4)}AAAA`;
    await expect(jwtVerify(tampered, { jwk: jwks.body.keys[0] })).rejects.toThrow();
  });
});
