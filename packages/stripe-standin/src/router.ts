import * as charges from './charges.ts';
import { retrieveCharge } from './charges.ts';
import type { Handler } from './context.ts';
import * as events from './events.ts';
import type { Spec } from './params.ts';
import * as paymentIntents from './payment-intents.ts';
import * as paymentMethods from './payment-methods.ts';
import * as refunds from './refunds.ts';
import {
  cancelPaymentIntent,
  capturePaymentIntent,
  confirmPaymentIntent,
  createPaymentIntent,
  retrievePaymentIntent,
  updatePaymentIntent,
} from './payment-intents.ts';
import {
  createWebhookEndpoint,
  deleteWebhookEndpoint,
  listEvents,
  listRefunds,
  listWebhookEndpoints,
  retrieveEvent,
  retrieveWebhookEndpoint,
  updateWebhookEndpoint,
} from './events.ts';
import { retrievePaymentMethod } from './payment-methods.ts';
import { createRefund, retrieveRefund } from './refunds.ts';

export interface Route {
  method: 'GET' | 'POST' | 'DELETE';
  /** Matches the whole path; the one capture group, if any, is the object id. */
  pattern: RegExp;
  handler: Handler;
  /** The parameters it reads, and the pinned SDK's interface declaring Stripe's (checked by test/validation.test.ts). */
  params: { spec: Spec; sdk: string };
  /** Also open to a publishable key with the object's client secret, as Stripe.js calls it. */
  publishable?: true;
}

const ID = '([^/]+)';

const ROUTES: readonly Route[] = [
  { method: 'POST', pattern: /^\/v1\/payment_intents$/, handler: createPaymentIntent, params: { spec: paymentIntents.CREATE, sdk: 'PaymentIntentCreateParams' } },
  { method: 'GET', pattern: new RegExp(`^/v1/payment_intents/${ID}$`), handler: retrievePaymentIntent, params: { spec: paymentIntents.RETRIEVE, sdk: 'PaymentIntentRetrieveParams' }, publishable: true },
  { method: 'POST', pattern: new RegExp(`^/v1/payment_intents/${ID}$`), handler: updatePaymentIntent, params: { spec: paymentIntents.UPDATE, sdk: 'PaymentIntentUpdateParams' } },
  { method: 'POST', pattern: new RegExp(`^/v1/payment_intents/${ID}/confirm$`), handler: confirmPaymentIntent, params: { spec: paymentIntents.CONFIRM, sdk: 'PaymentIntentConfirmParams' }, publishable: true },
  { method: 'POST', pattern: new RegExp(`^/v1/payment_intents/${ID}/capture$`), handler: capturePaymentIntent, params: { spec: paymentIntents.CAPTURE, sdk: 'PaymentIntentCaptureParams' } },
  { method: 'POST', pattern: new RegExp(`^/v1/payment_intents/${ID}/cancel$`), handler: cancelPaymentIntent, params: { spec: paymentIntents.CANCEL, sdk: 'PaymentIntentCancelParams' } },
  { method: 'POST', pattern: /^\/v1\/refunds$/, handler: createRefund, params: { spec: refunds.CREATE, sdk: 'RefundCreateParams' } },
  { method: 'GET', pattern: /^\/v1\/refunds$/, handler: listRefunds, params: { spec: events.LIST_REFUNDS, sdk: 'RefundListParams' } },
  { method: 'GET', pattern: new RegExp(`^/v1/refunds/${ID}$`), handler: retrieveRefund, params: { spec: refunds.RETRIEVE, sdk: 'RefundRetrieveParams' } },
  { method: 'GET', pattern: new RegExp(`^/v1/charges/${ID}$`), handler: retrieveCharge, params: { spec: charges.RETRIEVE, sdk: 'ChargeRetrieveParams' } },
  { method: 'GET', pattern: new RegExp(`^/v1/payment_methods/${ID}$`), handler: retrievePaymentMethod, params: { spec: paymentMethods.RETRIEVE, sdk: 'PaymentMethodRetrieveParams' } },
  { method: 'POST', pattern: /^\/v1\/webhook_endpoints$/, handler: createWebhookEndpoint, params: { spec: events.CREATE, sdk: 'WebhookEndpointCreateParams' } },
  { method: 'GET', pattern: /^\/v1\/webhook_endpoints$/, handler: listWebhookEndpoints, params: { spec: events.LIST, sdk: 'WebhookEndpointListParams' } },
  { method: 'GET', pattern: new RegExp(`^/v1/webhook_endpoints/${ID}$`), handler: retrieveWebhookEndpoint, params: { spec: events.RETRIEVE, sdk: 'WebhookEndpointRetrieveParams' } },
  { method: 'POST', pattern: new RegExp(`^/v1/webhook_endpoints/${ID}$`), handler: updateWebhookEndpoint, params: { spec: events.UPDATE, sdk: 'WebhookEndpointUpdateParams' } },
  { method: 'DELETE', pattern: new RegExp(`^/v1/webhook_endpoints/${ID}$`), handler: deleteWebhookEndpoint, params: { spec: events.DELETE, sdk: 'WebhookEndpointDeleteParams' } },
  { method: 'GET', pattern: /^\/v1\/events$/, handler: listEvents, params: { spec: events.LIST_EVENTS, sdk: 'EventListParams' } },
  { method: 'GET', pattern: new RegExp(`^/v1/events/${ID}$`), handler: retrieveEvent, params: { spec: events.RETRIEVE, sdk: 'EventRetrieveParams' } },
];

/** Every route, for the tests that hold them to Stripe's declarations. */
export function routes(): readonly Route[] {
  return ROUTES;
}

export function matchRoute(method: string, path: string): { handler: Handler; id: string; publishable: boolean } | undefined {
  for (const route of ROUTES) {
    if (route.method !== method) continue;
    const match = route.pattern.exec(path);
    if (!match) continue;
    const raw = match[1] ?? '';
    let id: string;
    try {
      id = decodeURIComponent(raw);
    } catch {
      // A malformed escape cannot name an object; keep it verbatim so the lookup misses.
      id = raw;
    }
    return { handler: route.handler, id, publishable: route.publishable === true };
  }
  return undefined;
}
