import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { AppConfig } from '../config.ts';
import { idPattern } from '../ids.ts';
import { configureWebhookEndpoints, ensureWebhookEndpoints } from '../payments/stripe-webhook-endpoints.ts';
import { defaultToleranceSeconds, receiveStripeWebhook, WebhookRejected } from '../payments/stripe-events.ts';
import type { Services } from '../services.ts';

export interface StripeWebhookOptions {
  /**
   * The absolute URL Stripe reaches this server at (e.g. https://payments.example.com):
   * gateways' webhook_endpoint_url starts with it and their endpoints are registered at
   * Stripe. Unset: the address the server listens on, registered only when the Stripe API
   * is on loopback (the local stand-in, stripe-mock); otherwise URLs stay relative.
   */
  publicUrl?: string;
  /** Largest age of a signed delivery, seconds; default Stripe's 300. 0 turns the check off. */
  toleranceSeconds?: number;
}

function isLoopback(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '::1' || hostname === '[::1]' || hostname.startsWith('127.');
}

/** Where the local stand-in can reach a server listening on `address`. */
function listenUrl(address: AddressInfo | string | null): string | undefined {
  if (!address || typeof address === 'string') return undefined;
  const unspecified = address.address === '0.0.0.0' || address.address === '::';
  const host = unspecified ? '127.0.0.1' : address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return `http://${host}:${address.port}`;
}

/**
 * POST /webhooks/stripe/:gatewayId, outside /api: Stripe has no bearer token, it signs the
 * raw body instead, so this scope keeps the body as bytes. At listen, gateways' webhook
 * endpoints are checked at Stripe (the reconciliation job, for missed deliveries, is in
 * src/plugins/jobs.ts).
 */
export async function registerStripeWebhookRoutes(app: FastifyInstance, services: Services, config: AppConfig, options: StripeWebhookOptions = {}): Promise<void> {
  const publicUrl = options.publicUrl?.replace(/\/+$/, '');
  const register = publicUrl !== undefined || isLoopback(config.stripe.apiUrl.hostname);
  configureWebhookEndpoints(services, { baseUrl: publicUrl, register });
  const tolerance = options.toleranceSeconds ?? defaultToleranceSeconds;

  app.addHook('onListen', async () => {
    // Synchronously, before listen() callers go on: gateways created from now on get absolute URLs.
    if (publicUrl === undefined) configureWebhookEndpoints(services, { baseUrl: listenUrl(app.server.address()), register });
    await ensureWebhookEndpoints(services).catch((error: unknown) => {
      app.log.warn({ err: { message: (error as Error).message } }, 'webhook endpoints could not be checked at start');
    });
  });

  await app.register(async (scope) => {
    // The signature covers the exact bytes Stripe sent: no JSON parsing before verification.
    scope.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
    scope.post<{ Params: { gatewayId: string } }>(
      '/webhooks/stripe/:gatewayId',
      // Stripe's bursts are not a client's abuse: no rate limit here.
      { config: { rateLimit: false } },
      async (request, reply) => {
        const signature = request.headers['stripe-signature'];
        try {
          if (!idPattern.test(request.params.gatewayId)) throw new WebhookRejected(404, 'No such gateway');
          if (!Buffer.isBuffer(request.body)) throw new WebhookRejected(400, 'Expected a JSON body');
          const result = await receiveStripeWebhook(services, request.params.gatewayId, request.body, typeof signature === 'string' ? signature : undefined, tolerance);
          return reply.code(200).type('application/json').send({ received: true, ...result });
        } catch (error) {
          if (!(error instanceof WebhookRejected)) throw error;
          request.log.warn({ gatewayId: request.params.gatewayId, reason: error.message }, 'stripe webhook rejected');
          return reply.code(error.status).type('application/json').send({ error: { message: error.message } });
        }
      },
    );
  });
}
