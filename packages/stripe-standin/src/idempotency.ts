import { StripeApiError } from './errors.ts';
import { keyDigest } from './state.ts';

/**
 * Stripe's idempotent requests (https://docs.stripe.com/api/idempotent_requests): the
 * first request with a key stores its status and body; later requests with the same key
 * and the same parameters get that response again, marked `Idempotent-Replayed: true`.
 * Keys are scoped to the API key and the Stripe-Account, and expire after 24 hours.
 */

const TTL_MS = 24 * 60 * 60 * 1000;
const MAX_KEY_LENGTH = 255;

export interface StoredResponse {
  status: number;
  body: unknown;
}

export interface Entry {
  endpoint: string;
  fingerprint: string;
  createdAt: number;
  /** Absent while the first request is still being answered. */
  response?: StoredResponse;
}

export type Admission =
  /** First use: call `finish` with the response to store, or with nothing to forget the key. */
  | { kind: 'new'; finish(response?: StoredResponse): void }
  | { kind: 'replay'; response: StoredResponse }
  | { kind: 'rejected'; error: StripeApiError };

export class IdempotencyStore {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly now: () => number = Date.now) {}

  admit(scope: { apiKey: string; account: string | undefined }, key: string, endpoint: string, params: unknown): Admission {
    if (key.length > MAX_KEY_LENGTH) {
      return { kind: 'rejected', error: idempotencyError(400, `Idempotency-Key must be at most ${MAX_KEY_LENGTH} characters long.`, 'invalid_request_error') };
    }
    this.forgetExpired();
    const id = JSON.stringify([keyDigest(scope.apiKey), scope.account ?? null, key]);
    const fingerprint = canonicalJson(params);
    const existing = this.entries.get(id);
    if (existing) {
      if (existing.endpoint !== endpoint) {
        return {
          kind: 'rejected',
          error: idempotencyError(
            400,
            `Keys for idempotent requests can only be used for the same endpoint they were first used for ('${existing.endpoint}' vs '${endpoint}'). ` +
              `Try using a key other than '${key}' if you meant to execute a different request.`,
          ),
        };
      }
      if (existing.fingerprint !== fingerprint) {
        return {
          kind: 'rejected',
          error: idempotencyError(
            400,
            'Keys for idempotent requests can only be used with the same parameters they were first used with. ' +
              `Try using a key other than '${key}' if you meant to execute a different request.`,
          ),
        };
      }
      if (!existing.response) {
        // Stripe answers 409 while the first request holds the key; clients retry those.
        return {
          kind: 'rejected',
          error: idempotencyError(
            409,
            'There is currently another in-progress request using this Idempotent Key (that probably means you submitted twice, ' +
              `and the other request is still going through): ${key}. Please try again later.`,
          ),
        };
      }
      return { kind: 'replay', response: existing.response };
    }
    const entry: Entry = { endpoint, fingerprint, createdAt: this.now() };
    this.entries.set(id, entry);
    return {
      kind: 'new',
      finish: (response) => {
        if (this.entries.get(id) !== entry) return;
        if (response) entry.response = response;
        else this.entries.delete(id);
      },
    };
  }

  /** The answered entries, keyed by scope and key, for the data folder. */
  saved(): Array<[string, Entry]> {
    this.forgetExpired();
    return [...this.entries].filter(([, entry]) => entry.response !== undefined);
  }

  restore(entries: Array<[string, Entry]>): void {
    this.entries.clear();
    for (const [id, entry] of entries) this.entries.set(id, entry);
    this.forgetExpired();
  }

  private forgetExpired(): void {
    const cutoff = this.now() - TTL_MS;
    for (const [id, entry] of this.entries) {
      if (entry.createdAt > cutoff) break; // insertion order is age order
      this.entries.delete(id);
    }
  }
}

function idempotencyError(status: number, message: string, type: 'idempotency_error' | 'invalid_request_error' = 'idempotency_error'): StripeApiError {
  return new StripeApiError(status, { type, message });
}

/** JSON with object keys sorted, so that equal parameters compare equal whatever their order. */
function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    typeof v === 'object' && v !== null && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}
