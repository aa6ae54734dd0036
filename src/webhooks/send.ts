import { createHmac } from 'node:crypto';
import dns, { type LookupAddress } from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import { addressProblem, callbackUrlProblem, type CallbackUrlPolicy } from './callback-url.ts';

/** callbacks-security.md: base64 of the HMAC-SHA256 of the raw body, keyed with the shared secret. */
export function signatureOf(body: string, sharedSecret: string): string {
  return createHmac('sha256', sharedSecret).update(body).digest('base64');
}

export interface Delivery {
  url: string;
  body: string;
  topic: string;
  /** The event's id: the same on every retry, for the receiver to deduplicate on. */
  deliveryId: string;
  sharedSecret: string;
}

export interface DeliveryResult {
  /** 2xx within the timeout. */
  ok: boolean;
  /** The HTTP status, as Commerce Layer's `response_code` (a string), or null when none came. */
  code: string | null;
  message: string;
}

/** Resolves as the connection would and refuses an address the callback URL rule forbids (a name pointing inside). */
export function guardedLookup(policy: CallbackUrlPolicy) {
  return (hostname: string, options: dns.LookupOptions, callback: (error: Error | null, address: string | LookupAddress[], family?: number) => void) => {
    dns.lookup(hostname, { ...options, all: true }, (error, addresses) => {
      if (error) return callback(error, '');
      const refused = addresses.find((entry) => addressProblem(entry.address, policy) !== null);
      if (refused) return callback(new Error(`${hostname} resolves to ${refused.address}: callback_url ${addressProblem(refused.address, policy)}`), '');
      if (options.all) return callback(null, addresses);
      return callback(null, addresses[0]!.address, addresses[0]!.family);
    });
  };
}

/**
 * POSTs one event: signed, with its topic and delivery id, no redirect followed, at most
 * `timeoutMs` for the whole answer. Never throws: a failure is a result.
 */
export function deliver(delivery: Delivery, policy: CallbackUrlPolicy, timeoutMs: number): Promise<DeliveryResult> {
  const problem = callbackUrlProblem(delivery.url, policy);
  if (problem) return Promise.resolve({ ok: false, code: null, message: `callback_url ${problem}` });
  const url = new URL(delivery.url);
  const client = url.protocol === 'https:' ? https : http;
  return new Promise((resolve) => {
    let settled = false;
    const settle = (result: DeliveryResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(result);
    };
    const request = client.request(
      url,
      {
        method: 'POST',
        agent: false,
        lookup: guardedLookup(policy) as never,
        headers: {
          'Content-Type': 'application/json',
          'Content-Length': Buffer.byteLength(delivery.body),
          'User-Agent': 'stripe-payments-api-webhooks',
          'X-CommerceLayer-Signature': signatureOf(delivery.body, delivery.sharedSecret),
          'X-CommerceLayer-Topic': delivery.topic,
          'X-Delivery-Id': delivery.deliveryId,
        },
      },
      (response) => {
        const code = response.statusCode ?? 0;
        // The body is not needed; read it so the answer counts only once complete.
        response.on('data', () => {});
        response.on('end', () =>
          settle({
            ok: code >= 200 && code < 300,
            code: String(code),
            message: code >= 300 && code < 400 ? `${response.statusMessage ?? ''} (redirects are not followed)`.trim() : (response.statusMessage ?? ''),
          }),
        );
        response.on('error', (error) => settle({ ok: false, code: String(code), message: error.message }));
      },
    );
    const timer = setTimeout(() => {
      settle({ ok: false, code: null, message: `no answer within ${timeoutMs} ms` });
      request.destroy();
    }, timeoutMs);
    request.on('error', (error) => settle({ ok: false, code: null, message: error.message }));
    request.end(delivery.body);
  });
}
