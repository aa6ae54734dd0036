import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, expect, it } from 'vitest';
import { createCheckout, jsonApi, startTestContext, type TestContext } from '../support/context.ts';

let context: TestContext | undefined;
afterEach(async () => {
  await context?.close();
  context = undefined;
});

/** A POST over a keep-alive connection, as browsers and the SDK's fetch send them. */
function postKeepAlive(port: number, path: string, token: string, body: unknown, agent: http.Agent) {
  return new Promise<{ status: number; connection: string | undefined; body: string }>((resolve, reject) => {
    const request = http.request(
      { host: '127.0.0.1', port, path, method: 'POST', agent, headers: { 'content-type': jsonApi, accept: jsonApi, authorization: `Bearer ${token}` } },
      (response) => {
        let text = '';
        response.on('data', (chunk: Buffer) => (text += chunk.toString()));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, connection: response.headers.connection, body: text }));
      },
    );
    request.on('error', reject);
    request.end(JSON.stringify(body));
  });
}

it('finishes a request in flight when shutdown starts, then closes its connection instead of keeping it alive', async () => {
  context = await startTestContext();
  const { orderId } = await createCheckout(context);
  // Stripe answers slowly, so the payment request is still running when shutdown begins.
  context.standin.injectFaults({ kind: 'delay', ms: 1_000, times: 1, match: { method: 'POST', pathPrefix: '/v1/payment_intents' } });
  const agent = new http.Agent({ keepAlive: true });
  const { port } = context.app.server.address() as AddressInfo;
  const inFlight = postKeepAlive(port, '/api/stripe_payments', context.token, {
    data: { type: 'stripe_payments', attributes: {}, relationships: { order: { data: { type: 'orders', id: orderId } } } },
  }, agent);
  await expect.poll(() => context!.standin.requestLog().some((entry) => entry.path === '/v1/payment_intents'), { interval: 20 }).toBe(true);

  const shutdownStarted = Date.now();
  const closed = context.app.close();
  const response = await inFlight;
  await closed;

  expect(response.status).toBe(201);
  expect(JSON.parse(response.body).data.attributes.client_secret).toMatch(/^pi_/);
  expect(response.connection).toBe('close');
  // The keep-alive timeout is 72 s: a shutdown that waited for it would take that long.
  expect(Date.now() - shutdownStarted).toBeLessThan(10_000);
  agent.destroy();
}, 20_000);
