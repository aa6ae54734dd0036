import { createHash } from 'node:crypto';
import type { Charge, PaymentIntent, PaymentMethod, Refund } from './objects.ts';
import type { StripeEvent, WebhookEndpoint } from './events.ts';
import type { CardOutcome } from './test-cards.ts';
import { DEFAULT_ACCOUNT_API_VERSION } from './versions.ts';

/**
 * Who a request acts for. Objects are visible to requests of the same mode (test/live
 * key) and the same Stripe-Account header. Keys of one mode share one platform account,
 * because the stand-in cannot tell which keys belong together (a rolled key must still
 * see the objects made with the old one).
 */
export interface Owner {
  livemode: boolean;
  account?: string | undefined;
}

export function scopeOf(owner: Owner): string {
  return `${owner.livemode ? 'live' : 'test'}|${owner.account ?? ''}`;
}

/**
 * What the stand-in keeps of an API key: a digest, so that its state (which may be written
 * to a data folder) never holds a key.
 */
export function keyDigest(apiKey: string): string {
  return createHash('sha256').update(apiKey).digest('base64url');
}

export class Collection<T extends { id: string }> {
  private readonly entries = new Map<string, { object: T; owner: Owner }>();

  /** Replaces the contents with saved entries, oldest first. */
  restore(entries: Array<{ object: T; owner: Owner }>): void {
    this.entries.clear();
    for (const entry of entries) this.entries.set(entry.object.id, entry);
  }

  insert(object: T, owner: Owner): T {
    this.entries.set(object.id, { object, owner });
    return object;
  }

  get(id: string, owner: Owner): T | undefined {
    const entry = this.entries.get(id);
    return entry && scopeOf(entry.owner) === scopeOf(owner) ? entry.object : undefined;
  }

  delete(id: string, owner: Owner): boolean {
    if (!this.get(id, owner)) return false;
    return this.entries.delete(id);
  }

  /** The other mode when the id exists there: Stripe names it in the "No such ..." message. */
  otherModeOf(id: string, owner: Owner): 'test' | 'live' | undefined {
    const entry = this.entries.get(id);
    if (!entry || entry.owner.livemode === owner.livemode) return undefined;
    return entry.owner.livemode ? 'live' : 'test';
  }

  /** Every object with its owner, oldest first (Map keeps insertion order). */
  all(): Array<{ object: T; owner: Owner }> {
    return [...this.entries.values()];
  }
}

export class Store {
  /** The account's default API version: what events are rendered in for endpoints without one, and responses to requests without Stripe-Version. */
  accountApiVersion = DEFAULT_ACCOUNT_API_VERSION;
  readonly paymentIntents = new Collection<PaymentIntent>();
  readonly charges = new Collection<Charge>();
  readonly refunds = new Collection<Refund>();
  readonly paymentMethods = new Collection<PaymentMethod>();
  /** How payments with a PaymentMethod end, from the test card it was made from. */
  readonly cardOutcomes = new Map<string, CardOutcome>();
  /** return_url per PaymentIntent: Stripe keeps it for redirects but does not expose it. */
  readonly returnUrls = new Map<string, string>();
  readonly webhookEndpoints = new Collection<WebhookEndpoint>();
  /** Signing secret per endpoint id: Stripe shows it only in the create response. */
  readonly webhookSecrets = new Map<string, string>();
  readonly events = new Collection<StripeEvent>();
  /** The digest of the key each endpoint was created with (see WebhookDispatcher.enqueue). */
  readonly webhookEndpointKeys = new Map<string, string>();
  /** Events emitted by the request being handled, not yet handed to the webhook dispatcher. */
  readonly outbox: Array<{ event: StripeEvent; owner: Owner; apiKey: string | undefined }> = [];
}
