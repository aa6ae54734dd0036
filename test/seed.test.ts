import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { curlCommands, report, seed, type SeedResult } from '../scripts/seed.ts';
import { api, startTestContext, type TestContext } from './support/context.ts';

const run = promisify(execFile);
const hasCurl = await run('curl', ['--version']).then(
  () => true,
  () => false,
);

let context: TestContext;
let baseUrl: string;
let result: SeedResult;
beforeAll(async () => {
  context = await startTestContext();
  const address = context.app.server.address();
  if (address === null || typeof address === 'string') throw new Error('the test server is not listening on TCP');
  baseUrl = `http://127.0.0.1:${address.port}`;
  result = await seed({ baseUrl, ...context.credentials });
});
afterAll(async () => {
  await context?.close();
});

describe('npm run seed', () => {
  it('creates a market, a storefront, a gateway, a payment method and an order with line items through the API', async () => {
    const order = await api(context).get(`/api/orders/${result.orderId}?include=line_items,payment_method.payment_gateway,market`);
    expect(order.status).toBe(200);
    expect(order.body.data.attributes).toMatchObject({ status: 'draft', currency_code: 'EUR', total_amount_cents: 5050 });
    expect(order.body.data.relationships.market.data).toEqual({ type: 'markets', id: result.marketId });
    const channel = await api(context).get(`/api/applications?filter[q][client_id_eq]=${result.salesChannelClientId}`);
    expect(channel.body.data[0].attributes.kind).toBe('sales_channel');
    const included = order.body.included.map((resource: { type: string; id: string }) => `${resource.type}:${resource.id}`);
    expect(included).toEqual(
      expect.arrayContaining([
        ...result.lineItemIds.map((id) => `line_items:${id}`),
        `payment_methods:${result.paymentMethodId}`,
        // Commerce Layer types a payment method's gateway payment_gateways.
        `payment_gateways:${result.gatewayId}`,
        `markets:${result.marketId}`,
      ]),
    );
  });

  it('reuses the market and the storefront application when run again', async () => {
    const again = await seed({ baseUrl, ...context.credentials });
    expect(again.marketId).toBe(result.marketId);
    expect(again.salesChannelClientId).toBe(result.salesChannelClientId);
    expect(again.orderId).not.toBe(result.orderId);
  });

  it('prints the token, create-stripe-payment and retrieve commands with the seeded ids', () => {
    const text = report(result, context.credentials);
    expect(text).toContain(result.orderId);
    expect(text).toContain(`Authorization: Bearer ${result.token}`);
    expect(text).toContain(`Authorization: Bearer ${result.storefrontToken}`);
    expect(text).toContain(`market:code:${result.marketCode}`);
    expect(text).toContain(`${baseUrl}/oauth/token`);
    expect(text).toContain(`${baseUrl}/api/stripe_payments`);
    expect(text).toContain(`${baseUrl}/api/orders/${result.orderId}?include=`);
  });

  it.skipIf(!hasCurl)('prints commands that run as pasted', async () => {
    const commands = curlCommands(result, context.credentials);
    const token = JSON.parse((await run('bash', ['-c', commands.token])).stdout);
    expect(token.token_type).toBe('bearer');
    const storefront = JSON.parse((await run('bash', ['-c', commands.storefrontToken])).stdout);
    expect(storefront.scope).toBe(`market:code:${result.marketCode}`);

    const created = JSON.parse((await run('bash', ['-c', commands.createStripePayment])).stdout);
    expect(created.data).toMatchObject({ type: 'stripe_payments', attributes: { client_secret: expect.stringMatching(/^pi_.+_secret_/) } });

    const retrieved = JSON.parse((await run('bash', ['-c', commands.retrieveOrder])).stdout);
    expect(retrieved.data.relationships.payment_source.data).toEqual({ type: 'stripe_payments', id: created.data.id });
  });
});
