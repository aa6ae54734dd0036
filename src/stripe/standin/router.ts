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
import { retrievePaymentMethod } from './payment-methods.ts';
import { createRefund, retrieveRefund } from './refunds.ts';

interface Route {
  method: 'GET' | 'POST';
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
  { method: 'GET', pattern: new RegExp(`^/v1/refunds/${ID}$`), handler: retrieveRefund },
  { method: 'GET', pattern: new RegExp(`^/v1/charges/${ID}$`), handler: retrieveCharge },
  { method: 'GET', pattern: new RegExp(`^/v1/payment_methods/${ID}$`), handler: retrievePaymentMethod },
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
