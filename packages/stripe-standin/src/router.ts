import { retrieveCharge } from './charges.ts';
import type { Handler } from './context.ts';
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

interface Route {
  method: 'GET' | 'POST' | 'DELETE';
  /** Matches the whole path; the one capture group, if any, is the object id. */
  pattern: RegExp;
  handler: Handler;
}

const ID = '([^/]+)';

const ROUTES: readonly Route[] = [
  { method: 'POST', pattern: /^\/v1\/payment_intents$/, handler: createPaymentIntent },
  { method: 'GET', pattern: new RegExp(`^/v1/payment_intents/${ID}$`), handler: retrievePaymentIntent },
  { method: 'POST', pattern: new RegExp(`^/v1/payment_intents/${ID}$`), handler: updatePaymentIntent },
  { method: 'POST', pattern: new RegExp(`^/v1/payment_intents/${ID}/confirm$`), handler: confirmPaymentIntent },
  { method: 'POST', pattern: new RegExp(`^/v1/payment_intents/${ID}/capture$`), handler: capturePaymentIntent },
  { method: 'POST', pattern: new RegExp(`^/v1/payment_intents/${ID}/cancel$`), handler: cancelPaymentIntent },
  { method: 'POST', pattern: /^\/v1\/refunds$/, handler: createRefund },
  { method: 'GET', pattern: /^\/v1\/refunds$/, handler: listRefunds },
  { method: 'GET', pattern: new RegExp(`^/v1/refunds/${ID}$`), handler: retrieveRefund },
  { method: 'GET', pattern: new RegExp(`^/v1/charges/${ID}$`), handler: retrieveCharge },
  { method: 'GET', pattern: new RegExp(`^/v1/payment_methods/${ID}$`), handler: retrievePaymentMethod },
  { method: 'POST', pattern: /^\/v1\/webhook_endpoints$/, handler: createWebhookEndpoint },
  { method: 'GET', pattern: /^\/v1\/webhook_endpoints$/, handler: listWebhookEndpoints },
  { method: 'GET', pattern: new RegExp(`^/v1/webhook_endpoints/${ID}$`), handler: retrieveWebhookEndpoint },
  { method: 'POST', pattern: new RegExp(`^/v1/webhook_endpoints/${ID}$`), handler: updateWebhookEndpoint },
  { method: 'DELETE', pattern: new RegExp(`^/v1/webhook_endpoints/${ID}$`), handler: deleteWebhookEndpoint },
  { method: 'GET', pattern: /^\/v1\/events$/, handler: listEvents },
  { method: 'GET', pattern: new RegExp(`^/v1/events/${ID}$`), handler: retrieveEvent },
];

export function matchRoute(method: string, path: string): { handler: Handler; id: string } | undefined {
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
    return { handler: route.handler, id };
  }
  return undefined;
}
