import { createHash } from 'node:crypto';
import Stripe from 'stripe';
import type { StripeGateway } from '../generated/prisma/client.ts';
import type { Services } from '../services.ts';
import { gatewayClientIfOurs } from './stripe-account.ts';
import { handledEventTypes } from './stripe-events.ts';

/**
 * Each Stripe gateway's webhook endpoint: the URL Stripe delivers its account's events to
 * (`<public base URL>/webhooks/stripe/<gateway id>`) and the endpoint's signing secret.
 *
 * Like Commerce Layer, the endpoint is created at Stripe (POST /v1/webhook_endpoints) with
 * the gateway's key when the gateway is created; Stripe answers with the endpoint id and
 * its `whsec_` secret, which is sealed like the login and never returned. That needs a base
 * URL Stripe can reach: the configured public URL, or, with the local Stripe stand-in (or
 * stripe-mock) on loopback, the address the server listens on. Without one, the URL is
 * stored relative (`/webhooks/stripe/<id>`, to be put after the API's public base URL) and
 * nothing is registered; the merchant can create the endpoint in the Stripe dashboard and
 * give its secret as `webhook_endpoint_secret`.
 *
 * Endpoints are made with the pinned SDK's API version, so that events are rendered in
 * the version the SDK's types describe. An endpoint's version cannot change: one made
 * with another version (before this rule, or by another release) is replaced at start.
 * Events are never applied from their payload anyway (stripe-events.ts re-reads).
 */

/** The API version the SDK is pinned to: every request carries it, and our endpoints render events in it. */
export const pinnedApiVersion = Stripe.API_VERSION as Stripe.WebhookEndpointCreateParams.ApiVersion;

export interface WebhookEndpointSettings {
  /** Absolute URL Stripe reaches this server at, without a trailing slash; undefined while unknown. */
  baseUrl: string | undefined;
  /** Create and maintain endpoints at Stripe. */
  register: boolean;
}

const unknownBase: WebhookEndpointSettings = { baseUrl: undefined, register: false };

/** Sets the settings the HTTP layer knows (its public URL, then the address it listens on) in the services it passes to the domain. */
export function configureWebhookEndpoints(services: Services, settings: WebhookEndpointSettings): void {
  services.stripeWebhookEndpoints = settings;
}

export function webhookEndpointSettings(services: Services): WebhookEndpointSettings {
  return services.stripeWebhookEndpoints ?? unknownBase;
}

export function webhookPath(gatewayId: string): string {
  return `/webhooks/stripe/${gatewayId}`;
}

export function webhookEndpointUrl(services: Services, gatewayId: string): string {
  const { baseUrl } = webhookEndpointSettings(services);
  return `${baseUrl ?? ''}${webhookPath(gatewayId)}`;
}

function logFailure(services: Services, gatewayId: string, error: unknown, message: string): void {
  const stripeError = error instanceof Stripe.errors.StripeError ? { stripeErrorType: error.type, stripeCode: error.code, stripeMessage: error.message } : {};
  services.logger.warn({ gatewayId, ...stripeError, ...(stripeError.stripeErrorType ? {} : { err: { message: (error as Error).message } }) }, message);
}

/**
 * Creates the gateway's endpoint at Stripe and stores its id, URL and sealed secret; with
 * registration off, stores the URL only. Best effort: a gateway is usable without webhooks
 * (`_refresh` and the reconciliation job read PaymentIntents), so failures are logged.
 */
export async function registerWebhookEndpoint(services: Services, gatewayId: string): Promise<void> {
  const { db } = services;
  const gateway = await db.stripeGateway.findUnique({ where: { id: gatewayId } });
  if (!gateway) return;
  const url = webhookEndpointUrl(services, gateway.id);
  const settings = webhookEndpointSettings(services);
  // A secret without an endpoint id was given by the merchant, whose own endpoint it is.
  const manual = gateway.webhookSecretEncrypted !== null && gateway.webhookEndpointId === null;
  if (!settings.register || settings.baseUrl === undefined || manual) {
    if (gateway.webhookEndpointUrl !== url) await db.stripeGateway.update({ where: { id: gateway.id }, data: { webhookEndpointUrl: url } });
    return;
  }
  const client = gatewayClientIfOurs(services, gateway);
  if (!client) return;
  try {
    const endpoint = await client.webhookEndpoints.create(
      {
        url,
        enabled_events: [...handledEventTypes],
        // Without it Stripe renders events in the account's default version, whatever the SDK is pinned to.
        api_version: pinnedApiVersion,
        description: `Payments API, stripe gateway ${gateway.id}`,
        metadata: { gateway_id: gateway.id },
      },
      // One key per endpoint made for the gateway: a re-creation replaces a known endpoint.
      { idempotencyKey: `stripe_gateways/${gateway.id}/webhook_endpoints/${gateway.webhookEndpointId ?? 'first'}` },
    );
    if (!endpoint.secret) throw new Error('Stripe returned no webhook secret');
    await db.stripeGateway.update({
      where: { id: gateway.id },
      data: { webhookEndpointId: endpoint.id, webhookEndpointUrl: url, webhookSecretEncrypted: services.secretBox.seal(endpoint.secret) },
    });
  } catch (error) {
    logFailure(services, gateway.id, error, 'webhook endpoint registration at Stripe failed; the gateway works without webhooks');
    if (gateway.webhookEndpointUrl !== url) await db.stripeGateway.update({ where: { id: gateway.id }, data: { webhookEndpointUrl: url } });
  }
}

/**
 * At start: makes sure the endpoints this server registered still exist at Stripe with the
 * current URL (a restarted local stand-in forgets them; the public URL may have changed),
 * and registers gateways created while no base URL was known.
 */
export async function ensureWebhookEndpoints(services: Services): Promise<void> {
  const settings = webhookEndpointSettings(services);
  if (!settings.register || settings.baseUrl === undefined) return;
  const gateways = await services.db.stripeGateway.findMany({
    where: { disabledAt: null, OR: [{ webhookEndpointId: { not: null } }, { webhookSecretEncrypted: null }] },
  });
  for (const gateway of gateways) {
    const client = gatewayClientIfOurs(services, gateway);
    // Sealed with another key (another deployment sharing the database): not ours to manage.
    if (!client) continue;
    const url = webhookEndpointUrl(services, gateway.id);
    if (!gateway.webhookEndpointId) {
      await registerWebhookEndpoint(services, gateway.id);
      continue;
    }
    try {
      const endpoint = await client.webhookEndpoints.retrieve(gateway.webhookEndpointId);
      if (endpoint.api_version !== pinnedApiVersion) {
        await replaceWebhookEndpoint(services, gateway, client);
        continue;
      }
      if (endpoint.url !== url) {
        // One key per endpoint and URL it is moved to.
        const urlHash = createHash('sha256').update(url).digest('hex').slice(0, 16);
        await client.webhookEndpoints.update(gateway.webhookEndpointId, { url }, { idempotencyKey: `stripe_gateways/${gateway.id}/webhook_endpoints/${gateway.webhookEndpointId}/url/${urlHash}` });
        await services.db.stripeGateway.update({ where: { id: gateway.id }, data: { webhookEndpointUrl: url } });
      }
    } catch (error) {
      if (error instanceof Stripe.errors.StripeInvalidRequestError && error.statusCode === 404) {
        await registerWebhookEndpoint(services, gateway.id);
      } else {
        logFailure(services, gateway.id, error, 'webhook endpoint check at Stripe failed');
      }
    }
  }
}

/** A new endpoint (pinned version, current URL, new secret) first, then the old one goes: no event is lost in between. */
async function replaceWebhookEndpoint(services: Services, gateway: StripeGateway, client: Stripe): Promise<void> {
  await registerWebhookEndpoint(services, gateway.id);
  const updated = await services.db.stripeGateway.findUniqueOrThrow({ where: { id: gateway.id } });
  if (updated.webhookEndpointId === gateway.webhookEndpointId || !gateway.webhookEndpointId) return;
  await client.webhookEndpoints.del(gateway.webhookEndpointId).catch((error: unknown) => {
    logFailure(services, gateway.id, error, 'deletion of a replaced webhook endpoint at Stripe failed');
  });
}

/** Deletes the endpoint this server registered for a gateway being deleted; best effort. */
export async function deleteWebhookEndpoint(services: Services, gateway: StripeGateway): Promise<void> {
  if (!gateway.webhookEndpointId) return;
  const client = gatewayClientIfOurs(services, gateway);
  if (!client) return;
  await client.webhookEndpoints.del(gateway.webhookEndpointId).catch((error: unknown) => {
    logFailure(services, gateway.id, error, 'webhook endpoint deletion at Stripe failed');
  });
}
