// npm run seed: demo data through the API of a running server, exactly as a client creates
// it (token, market, storefront sales channel, Stripe gateway, payment method, order, line
// items), then the curl commands to take it from there. It never touches the database, so it works against any deployment.
//
//   npm run seed -- --client-id ID --client-secret SECRET [--base-url http://127.0.0.1:3000]
//   (or API_CLIENT_ID / API_CLIENT_SECRET / BASE_URL in the environment)
import { randomBytes } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const jsonApi = 'application/vnd.api+json';

export interface SeedOptions {
  baseUrl: string;
  clientId: string;
  clientSecret: string;
  /** The gateway's `login`; the local Stripe stand-in takes any sk_test_ key. */
  stripeSecretKey?: string;
  stripePublishableKey?: string;
  currency?: string;
  /** The market's code; an existing market with this code is reused. */
  marketCode?: string;
}

export interface SeedResult {
  baseUrl: string;
  token: string;
  expiresIn: number;
  marketId: string;
  marketCode: string;
  /** The storefront's sales channel application: no secret, a market in scope. */
  salesChannelClientId: string;
  storefrontToken: string;
  gatewayId: string;
  paymentMethodId: string;
  orderId: string;
  orderNumber: string;
  lineItemIds: string[];
  totalAmount: string;
}

/** Commerce Layer's "Create a stripe payment" request body, for an order. */
export function createStripePaymentBody(orderId: string) {
  return { data: { type: 'stripe_payments', relationships: { order: { data: { type: 'orders', id: orderId } } } } };
}

class SeedError extends Error {
  override name = 'SeedError';
}

async function request(baseUrl: string, method: string, path: string, options: { token?: string; body?: unknown; json?: boolean } = {}) {
  const contentType = options.json ? 'application/json' : jsonApi;
  let response: Response;
  try {
    response = await fetch(`${baseUrl}${path}`, {
      method,
      headers: {
        Accept: options.json ? 'application/json' : jsonApi,
        ...(options.body !== undefined ? { 'Content-Type': contentType } : {}),
        ...(options.token ? { Authorization: `Bearer ${options.token}` } : {}),
      },
      ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
    });
  } catch (error) {
    throw new SeedError(`cannot reach ${baseUrl} (${(error as Error).message}): is the server running (npm start)?`);
  }
  const text = await response.text();
  const body = text ? (JSON.parse(text) as Record<string, any>) : {};
  if (!response.ok) {
    const detail = Array.isArray(body.errors) ? body.errors.map((error: { detail?: string }) => error.detail).join('; ') : text;
    throw new SeedError(`${method} ${path} answered ${response.status}: ${detail}`);
  }
  return body;
}

export async function seed(options: SeedOptions): Promise<SeedResult> {
  const baseUrl = options.baseUrl.replace(/\/+$/, '');
  const currency = options.currency ?? 'EUR';
  const tokenBody = await request(baseUrl, 'POST', '/oauth/token', {
    json: true,
    body: { grant_type: 'client_credentials', client_id: options.clientId, client_secret: options.clientSecret },
  });
  const token = tokenBody.access_token as string;
  const create = async (type: string, attributes: Record<string, unknown>, relationships: Record<string, { type: string; id: string }> = {}) => {
    const data = {
      type,
      attributes,
      relationships: Object.fromEntries(Object.entries(relationships).map(([name, linkage]) => [name, { data: linkage }])),
    };
    return (await request(baseUrl, 'POST', `/api/${type}`, { token, body: { data } })).data as { id: string; attributes: Record<string, any> };
  };

  // Reused on later runs: market codes and the storefront application are meant to stay.
  const marketCode = options.marketCode ?? 'europe';
  const existingMarket = (await request(baseUrl, 'GET', `/api/markets?filter[q][code_eq]=${encodeURIComponent(marketCode)}`, { token })).data[0];
  const market = existingMarket ?? (await create('markets', { name: 'Europe (seed)', code: marketCode, reference: 'seed' }));
  const storefrontName = 'Storefront (seed)';
  const channels = await request(baseUrl, 'GET', `/api/applications?filter[q][name_eq]=${encodeURIComponent(storefrontName)}&filter[q][kind_eq]=sales_channel`, { token });
  const salesChannel = channels.data[0] ?? (await create('applications', { name: storefrontName, kind: 'sales_channel' }));
  const salesChannelClientId = salesChannel.attributes.client_id as string;

  const gateway = await create('stripe_gateways', {
    name: 'Stripe (seed)',
    login: options.stripeSecretKey ?? `sk_test_seed${randomBytes(12).toString('hex')}`,
    publishable_key: options.stripePublishableKey ?? 'pk_test_seed',
    reference: 'seed',
  });
  const paymentMethod = await create(
    'payment_methods',
    { name: 'Stripe card payments', payment_source_type: 'stripe_payments', currency_code: currency, price_amount_cents: 0, reference: 'seed' },
    { payment_gateway: { type: 'stripe_gateways', id: gateway.id }, market: { type: 'markets', id: market.id } },
  );
  const order = await create(
    'orders',
    { currency_code: currency, customer_email: 'shopper@example.com', language_code: 'en', reference: 'seed' },
    { payment_method: { type: 'payment_methods', id: paymentMethod.id }, market: { type: 'markets', id: market.id } },
  );
  const lines = [
    { sku_code: 'TSHIRTMM000000FFFFFFXLXX', name: 'Black T-shirt, XL', quantity: 2, unit_amount_cents: 1900 },
    { sku_code: 'MUGXXXXXXXXXXXXXXXXXXXXX', name: 'Mug', quantity: 1, unit_amount_cents: 1250 },
  ];
  const lineItemIds: string[] = [];
  for (const line of lines) {
    lineItemIds.push((await create('line_items', { ...line, reference: 'seed' }, { order: { type: 'orders', id: order.id } })).id);
  }
  const seeded = await request(baseUrl, 'GET', `/api/orders/${order.id}`, { token });
  const storefrontTokenBody = await request(baseUrl, 'POST', '/oauth/token', {
    json: true,
    body: storefrontTokenRequest(salesChannelClientId, marketCode),
  });
  return {
    baseUrl,
    token,
    expiresIn: tokenBody.expires_in as number,
    marketId: market.id as string,
    marketCode,
    salesChannelClientId,
    storefrontToken: storefrontTokenBody.access_token as string,
    gatewayId: gateway.id,
    paymentMethodId: paymentMethod.id,
    orderId: order.id,
    orderNumber: seeded.data.attributes.number as string,
    lineItemIds,
    totalAmount: seeded.data.attributes.formatted_total_amount as string,
  };
}

/** What a storefront sends: its sales channel's client id (no secret) and the market in scope. */
function storefrontTokenRequest(clientId: string, marketCode: string) {
  return { grant_type: 'client_credentials', client_id: clientId, scope: `market:code:${marketCode}` };
}

/** Single quotes for the shell, whatever the value holds. */
function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

export interface CurlCommands {
  token: string;
  storefrontToken: string;
  createStripePayment: string;
  retrieveOrder: string;
}

/** The curl commands to paste after seeding: each runs as it is, token included. */
export function curlCommands(result: SeedResult, credentials: { clientId: string; clientSecret: string }): CurlCommands {
  const headers = [`-H ${shellQuote(`Accept: ${jsonApi}`)}`, `-H ${shellQuote(`Authorization: Bearer ${result.token}`)}`];
  const storefrontHeaders = [`-H ${shellQuote(`Accept: ${jsonApi}`)}`, `-H ${shellQuote(`Authorization: Bearer ${result.storefrontToken}`)}`];
  const tokenCommand = (request: Record<string, string>) =>
    [
      `curl -s -X POST ${shellQuote(`${result.baseUrl}/oauth/token`)} \\`,
      `  -H 'Content-Type: application/json' \\`,
      `  -d ${shellQuote(JSON.stringify(request))}`,
    ].join('\n');
  return {
    token: tokenCommand({ grant_type: 'client_credentials', client_id: credentials.clientId, client_secret: credentials.clientSecret }),
    storefrontToken: tokenCommand(storefrontTokenRequest(result.salesChannelClientId, result.marketCode)),
    // As a storefront sends it (with its sales channel token), formatted as on Commerce Layer's "Create a stripe payment" page.
    createStripePayment: [
      `curl -s -X POST ${shellQuote(`${result.baseUrl}/api/stripe_payments`)} \\`,
      ...storefrontHeaders.map((header) => `  ${header} \\`),
      `  -H ${shellQuote(`Content-Type: ${jsonApi}`)} \\`,
      `  -d ${shellQuote(JSON.stringify(createStripePaymentBody(result.orderId), null, 2))}`,
    ].join('\n'),
    retrieveOrder: [
      `curl -s ${shellQuote(`${result.baseUrl}/api/orders/${result.orderId}?include=line_items,payment_method,payment_source`)} \\`,
      ...headers.map((header, index) => `  ${header}${index < headers.length - 1 ? ' \\' : ''}`),
    ].join('\n'),
  };
}

export function report(result: SeedResult, credentials: { clientId: string; clientSecret: string }): string {
  const commands = curlCommands(result, credentials);
  return [
    `Seeded ${result.baseUrl}:`,
    `  markets          ${result.marketId} (code ${result.marketCode})`,
    `  applications     sales channel ${result.salesChannelClientId} (the storefront's client id; it has no secret)`,
    `  stripe_gateways  ${result.gatewayId}`,
    `  payment_methods  ${result.paymentMethodId}`,
    `  orders           ${result.orderId} (number ${result.orderNumber}, total ${result.totalAmount})`,
    `  line_items       ${result.lineItemIds.join(', ')}`,
    '',
    `# A new back-office (integration) access token (the commands below carry tokens valid for ${result.expiresIn} s):`,
    commands.token,
    '',
    `# A new storefront (sales channel) access token for the market ${result.marketCode}:`,
    commands.storefrontToken,
    '',
    '# The storefront creates a stripe payment for the seeded order: 201 with the PaymentIntent client_secret.',
    commands.createStripePayment,
    '',
    '# The back office reads the order with its line items, payment method and (once created) payment:',
    commands.retrieveOrder,
    '',
  ].join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      'base-url': { type: 'string' },
      'client-id': { type: 'string' },
      'client-secret': { type: 'string' },
      'stripe-secret-key': { type: 'string' },
      'stripe-publishable-key': { type: 'string' },
      currency: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const usage =
    'Usage: npm run seed -- --client-id ID --client-secret SECRET [--base-url URL] [--stripe-secret-key sk_test_...] ' +
    '[--stripe-publishable-key pk_test_...] [--currency EUR]\n' +
    'Defaults come from API_CLIENT_ID, API_CLIENT_SECRET, BASE_URL (http://127.0.0.1:3000), STRIPE_SECRET_KEY, STRIPE_PUBLISHABLE_KEY.\n' +
    'The client credentials are those printed at the first `npm start`, or API_CLIENT_ID/API_CLIENT_SECRET given to the server.\n';
  if (values.help) {
    process.stdout.write(usage);
    return;
  }
  const clientId = values['client-id'] ?? process.env.API_CLIENT_ID;
  const clientSecret = values['client-secret'] ?? process.env.API_CLIENT_SECRET;
  if (!clientId || !clientSecret) {
    process.stderr.write(`Client credentials are missing.\n${usage}`);
    process.exitCode = 1;
    return;
  }
  const stripeSecretKey = values['stripe-secret-key'] ?? process.env.STRIPE_SECRET_KEY;
  const stripePublishableKey = values['stripe-publishable-key'] ?? process.env.STRIPE_PUBLISHABLE_KEY;
  const result = await seed({
    baseUrl: values['base-url'] ?? process.env.BASE_URL ?? 'http://127.0.0.1:3000',
    clientId,
    clientSecret,
    ...(stripeSecretKey ? { stripeSecretKey } : {}),
    ...(stripePublishableKey ? { stripePublishableKey } : {}),
    ...(values.currency ? { currency: values.currency } : {}),
  });
  process.stdout.write(report(result, { clientId, clientSecret }));
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error: Error) => {
    process.stderr.write(`${error instanceof SeedError ? error.message : error.stack}\n`);
    process.exitCode = 1;
  });
}
