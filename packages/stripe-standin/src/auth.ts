import { StripeApiError } from './errors.ts';

export type AuthResult =
  /** `publishable`: a pk_ key, which Stripe.js uses for the few calls a browser may make with a client secret. */
  | { ok: true; apiKey: string; livemode: boolean; publishable: boolean }
  | { ok: false; apiKey: string; error: StripeApiError };

/** Secret and restricted keys, test or live, as Stripe issues them. */
const SECRET_KEY = /^(sk|rk)_(test|live)_[A-Za-z0-9_]+$/;

/**
 * Reads the API key the way Stripe does: `Authorization: Bearer <key>`, or HTTP basic
 * auth with the key as user name and an empty password. `apiKey` is '' when none was sent.
 */
export function authenticate(authorization: string | undefined, bodyKey?: string): AuthResult {
  // Stripe.js sends its publishable key as the `key` parameter rather than a header.
  const apiKey = keyFromHeader(authorization ?? '') || (bodyKey ?? '');
  if (apiKey === '') return { ok: false, apiKey, error: unauthorized(MISSING_KEY) };
  if (PUBLISHABLE_KEY.test(apiKey)) return { ok: true, apiKey, livemode: apiKey.includes('_live_'), publishable: true };
  if (!SECRET_KEY.test(apiKey)) return { ok: false, apiKey, error: unauthorized(`Invalid API Key provided: ${mask(apiKey)}`) };
  return { ok: true, apiKey, livemode: apiKey.includes('_live_'), publishable: false };
}

const PUBLISHABLE_KEY = /^pk_(test|live)_[A-Za-z0-9_]+$/;

/** What Stripe answers a publishable key on an endpoint that needs a secret one. */
export function publishableKeyRefused(): StripeApiError {
  return unauthorized('This API call cannot be made with a publishable API key. Please use a secret API key.');
}

function keyFromHeader(header: string): string {
  const [scheme = '', ...rest] = header.trim().split(/\s+/);
  const credentials = rest.join(' ');
  if (scheme.toLowerCase() === 'bearer') return credentials;
  if (scheme.toLowerCase() === 'basic') {
    const decoded = Buffer.from(credentials, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    return colon === -1 ? decoded : decoded.slice(0, colon);
  }
  return '';
}

const MISSING_KEY =
  "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). " +
  'See https://stripe.com/docs/api#authentication for details, or we can help at https://support.stripe.com/.';

function unauthorized(message: string): StripeApiError {
  return new StripeApiError(401, { type: 'invalid_request_error', message });
}

/** Stripe never echoes a whole key; it shows the last four characters. */
function mask(key: string): string {
  return key.length <= 8 ? '*'.repeat(key.length) : `${'*'.repeat(key.length - 4)}${key.slice(-4)}`;
}
