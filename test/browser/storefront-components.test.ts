import { execFileSync } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { existsSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, createdId, startTestContext, type TestContext } from '../support/context.ts';

/**
 * Commerce Layer's own storefront components (@commercelayer/react-components 4.29, React
 * 18) in Debian's chromium, on a page of another origin with a sales channel token: the
 * components read the order, select its only payment method and create the stripe
 * payment through CORS. Stripe.js cannot load offline, so the test stops there.
 *
 * The components take only the host of `endpoint` and call `https://<host>/api`, so the
 * API is reached as a storefront reaches it: over TLS on port 443. A TLS proxy on a
 * loopback address of its own (self-signed, created for the run, kept in memory) forwards
 * to the app, and chromium resolves the API host to it.
 */

const chromiumPath = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((candidate) => existsSync(candidate));
if (!chromiumPath) console.warn('storefront components test skipped: no chromium (apt-get update && apt-get install -y chromium)');

const apiHost = 'api.storefront.test';
const currency = 'DKK';
const here = path.dirname(fileURLToPath(import.meta.url));

interface Seen {
  method: string;
  path: string;
  status: number;
  allowOrigin: string | undefined;
}

let context: TestContext;
let browser: Browser | undefined;
let proxy: https.Server | undefined;
let pageServer: http.Server | undefined;
let proxyAddress = '';
let pageUrl = '';
let orderId = '';
let paymentMethodId = '';
let token = '';
/** Why the browser cannot be driven on this machine, when it cannot. */
let unavailable: string | undefined;

/** A self-signed certificate for the API host, from openssl's stdout: never written to disk. */
function certificate(): { key: string; cert: string } {
  const pem = execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', `/CN=${apiHost}`, '-keyout', '-'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  }).toString();
  const key = /-----BEGIN PRIVATE KEY-----[\s\S]+?-----END PRIVATE KEY-----/.exec(pem)?.[0];
  const cert = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(pem)?.[0];
  if (!key || !cert) throw new Error('openssl made no certificate');
  return { key, cert };
}

/** TLS on <address>:443 in front of the app, as a storefront's reverse proxy. */
async function startProxy(target: AddressInfo): Promise<https.Server> {
  const server = https.createServer(certificate(), (request, response) => {
    const forwarded = http.request({ host: '127.0.0.1', port: target.port, method: request.method, path: request.url, headers: request.headers }, (answer) => {
      response.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(response);
    });
    forwarded.on('error', () => response.writeHead(502).end());
    request.pipe(forwarded);
  });
  // A loopback address of its own, so that port 443 is free whatever else runs here.
  for (let attempt = 0; ; attempt += 1) {
    const address = `127.${randomInt(1, 255)}.${randomInt(1, 255)}.${randomInt(2, 255)}`;
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(443, address, () => {
          server.off('error', reject);
          resolve();
        });
      });
      proxyAddress = address;
      return server;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EACCES' || attempt === 5) throw error;
    }
  }
}

/** The storefront's page and its bundle, on an origin of its own. */
async function startPage(): Promise<http.Server> {
  const bundle = await build({
    entryPoints: [path.join(here, 'storefront', 'page.mjs')],
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'browser',
    target: 'chrome120',
    minify: true,
    logLevel: 'silent',
    define: { 'process.env.NODE_ENV': '"production"' },
  });
  const script = bundle.outputFiles[0]!.contents;
  const config = JSON.stringify({ accessToken: token, endpoint: `https://${apiHost}`, orderId });
  const html = `<!doctype html><html><head><meta charset="utf-8"><title>Checkout</title></head><body><div id="root"></div><script>window.storefront = ${config};</script><script type="module" src="/bundle.js"></script></body></html>`;
  const server = http.createServer((request, response) => {
    if (request.url === '/bundle.js') response.writeHead(200, { 'content-type': 'text/javascript' }).end(script);
    else response.writeHead(200, { 'content-type': 'text/html' }).end(html);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  pageUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  return server;
}

describe.skipIf(!chromiumPath)("Commerce Layer's storefront components", () => {
  beforeAll(async () => {
    context = await startTestContext();
    const created = (url: string, body: unknown) => createdId(context, url, body);
    const code = `web-${randomBytes(3).toString('hex')}`;
    const market = await created('/api/markets', { data: { type: 'markets', attributes: { name: 'Web', code } } });
    const application = await api(context).post('/api/applications', { data: { type: 'applications', attributes: { name: 'Web storefront', kind: 'sales_channel' } } });
    const gateway = await created('/api/stripe_gateways', {
      data: { type: 'stripe_gateways', attributes: { name: 'Stripe', login: `sk_test_${randomBytes(12).toString('hex')}`, publishable_key: 'pk_test_storefront' } },
    });
    // One method in the market and currency: the components select it by themselves. Methods
    // offered in every market are available too, so the currency is one no other test uses.
    paymentMethodId = await created('/api/payment_methods', {
      data: {
        type: 'payment_methods',
        attributes: { name: 'Card', payment_source_type: 'stripe_payments', currency_code: currency, price_amount_cents: 0 },
        relationships: { payment_gateway: { data: { type: 'payment_gateways', id: gateway } }, market: { data: { type: 'markets', id: market } } },
      },
    });
    orderId = await created('/api/orders', {
      data: { type: 'orders', attributes: { currency_code: currency, customer_email: 'shopper@example.com' }, relationships: { market: { data: { type: 'markets', id: market } } } },
    });
    await created('/api/line_items', {
      data: { type: 'line_items', attributes: { sku_code: 'TSHIRT', name: 'T-shirt', quantity: 2, unit_amount_cents: 1500 }, relationships: { order: { data: { type: 'orders', id: orderId } } } },
    });
    const issued = await context.http
      .post('/oauth/token')
      .set('Content-Type', 'application/json')
      .send({ grant_type: 'client_credentials', client_id: application.body.data.attributes.client_id, scope: `market:code:${code}` });
    token = issued.body.access_token;

    try {
      proxy = await startProxy(context.app.server.address() as AddressInfo);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EACCES') throw error;
      unavailable = 'listening on port 443 needs root (or CAP_NET_BIND_SERVICE) here';
      return;
    }
    pageServer = await startPage();
    browser = await chromium.launch({
      executablePath: chromiumPath!,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
        `--host-resolver-rules=MAP ${apiHost} ${proxyAddress}`,
        // The proxy's certificate is self-signed.
        '--ignore-certificate-errors',
      ],
    });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await new Promise((resolve) => (pageServer ? pageServer.close(resolve) : resolve(undefined)));
    await new Promise((resolve) => (proxy ? proxy.close(resolve) : resolve(undefined)));
    await context?.close();
  });

  it('read the order, select the Stripe method and create the stripe payment through CORS', async (test) => {
    if (unavailable) {
      console.warn(`storefront components test skipped: ${unavailable}`);
      test.skip();
    }
    const page = await browser!.newPage();
    const seen: Seen[] = [];
    const failed: string[] = [];
    page.on('response', (response) => {
      const url = new URL(response.url());
      if (url.host === apiHost) seen.push({ method: response.request().method(), path: `${url.pathname}${url.search}`, status: response.status(), allowOrigin: response.headers()['access-control-allow-origin'] });
    });
    page.on('requestfailed', (request) => failed.push(`${request.method()} ${request.url()}: ${request.failure()?.errorText}`));
    // Nothing leaves the machine: Stripe.js and anything else not ours is refused at once.
    await page.route((url) => url.host !== apiHost && url.hostname !== '127.0.0.1', (route) => route.abort());

    // The stripe payment's creation, or the first refusal that stops the components short of it.
    const created = page.waitForResponse(
      (response) => new URL(response.url()).host === apiHost && (response.status() >= 400 || (response.request().method() === 'POST' && new URL(response.url()).pathname === '/api/stripe_payments')),
      { timeout: 60_000 },
    );
    await page.goto(pageUrl);
    const answer = await created.catch((error: unknown) => {
      throw new Error(`no POST /api/stripe_payments: ${String(error)}\nseen: ${JSON.stringify(seen)}\nfailed: ${failed.join('; ')}`);
    });
    expect(`${answer.request().method()} ${new URL(answer.url()).pathname} ${answer.status()}`, JSON.stringify(seen)).toBe('POST /api/stripe_payments 201');
    if (process.env.STOREFRONT_TEST_TRACE) console.log(seen);
    expect(answer.headers()['access-control-allow-origin']).toBeDefined();

    // The components' first read is the order with what they need of it, answered.
    const firstRead = seen.find((entry) => entry.method === 'GET' && entry.path.startsWith(`/api/orders/${orderId}`));
    expect(firstRead, JSON.stringify(seen)).toBeDefined();
    expect(firstRead!.status).toBe(200);
    expect(decodeURIComponent(firstRead!.path)).toContain('available_payment_methods');
    expect(seen.filter((entry) => entry.status >= 400), JSON.stringify(seen)).toEqual([]);

    const payment = (await answer.json()) as { data: { id: string; attributes: { client_secret: string | null } } };
    expect(payment.data.attributes.client_secret).toMatch(/^pi_.+_secret_/);
    const linked = await api(context).get(`/api/orders/${orderId}?include=payment_method,payment_source`);
    expect(linked.body.data.relationships.payment_method.data).toEqual({ type: 'payment_methods', id: paymentMethodId });
    expect(linked.body.data.relationships.payment_source.data).toEqual({ type: 'stripe_payments', id: payment.data.id });
    await page.close();
  }, 120_000);
});
