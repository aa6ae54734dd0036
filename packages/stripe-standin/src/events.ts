import { ok } from './context.ts';
import type { Handler, RequestContext } from './context.ts';
import { parameterInvalid, parameterInvalidEmpty, parameterMissing, resourceMissing } from './errors.ts';
import { newId, randomAlphanumeric, unixNow } from './ids.ts';
import { boolean, described, expandOnly, integer, mergeMetadata, metadata, parseParams, string, stringList } from './params.ts';
import { keyDigest } from './state.ts';
import type { Owner, Store } from './state.ts';
import { renderEventObject } from './versions.ts';

/**
 * Events and webhook endpoints (https://docs.stripe.com/api/events,
 * https://docs.stripe.com/api/webhook_endpoints). Endpoint handlers record what happened
 * with `emitEvent`; the server hands each request's events to the webhook dispatcher,
 * which signs and POSTs them to the endpoints of the same account.
 */

export interface StripeEvent {
  id: string;
  object: 'event';
  /** The connected account the event happened on, when it came from a Stripe-Account request. */
  account?: string;
  api_version: string | null;
  created: number;
  data: { object: Record<string, unknown> };
  livemode: boolean;
  pending_webhooks: number;
  request: { id: string | null; idempotency_key: string | null };
  type: string;
}

export interface WebhookEndpoint {
  id: string;
  object: 'webhook_endpoint';
  api_version: string | null;
  application: null;
  created: number;
  description: string | null;
  enabled_events: string[];
  livemode: boolean;
  metadata: Record<string, string>;
  status: 'enabled' | 'disabled';
  url: string;
}

/** Records that something happened: a snapshot of `object` now, delivered after the request. */
export function emitEvent(ctx: Pick<RequestContext, 'store' | 'owner' | 'apiKey'>, type: string, object: object): StripeEvent {
  return recordEvent(ctx.store, ctx.owner, type, object, ctx.apiKey);
}

/**
 * `apiKey`: the key of the request that caused the event; undefined for events sent to
 * every endpoint. The event keeps a full snapshot; it is rendered in the account's default
 * version when read through the API, in each endpoint's version when delivered.
 */
export function recordEvent(store: Store, owner: Owner, type: string, object: object, apiKey?: string): StripeEvent {
  const event: StripeEvent = {
    id: newId('evt'),
    object: 'event',
    ...(owner.account !== undefined ? { account: owner.account } : {}),
    api_version: store.accountApiVersion,
    created: unixNow(),
    data: { object: structuredClone(object) as Record<string, unknown> },
    livemode: owner.livemode,
    pending_webhooks: 0,
    request: { id: null, idempotency_key: null },
    type,
  };
  store.events.insert(event, owner);
  store.outbox.push({ event, owner, apiKey });
  return event;
}

/** Whether an endpoint subscribes to an event type ("*" is every type). */
export function subscribes(endpoint: WebhookEndpoint, type: string): boolean {
  return endpoint.status === 'enabled' && (endpoint.enabled_events.includes('*') || endpoint.enabled_events.includes(type));
}

function httpUrl(required: boolean) {
  const base = required ? string({ required: true, maxLength: 5000 }) : string({ maxLength: 5000 });
  return described({ kind: 'string', required }, (value: unknown, param: string) => {
    const url = base(value, param);
    if (typeof url !== 'string') return url;
    let parsed: URL | undefined;
    try {
      parsed = new URL(url);
    } catch {
      parsed = undefined;
    }
    if (!parsed || (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')) {
      throw parameterInvalid(param, 'Invalid URL: URL must be a valid http or https URL.', 'url_invalid');
    }
    return url;
  });
}

function eventList(required: boolean) {
  return described({ kind: 'list', required }, (value: unknown, param: string): string[] | undefined => {
    if (value === undefined && required) throw parameterMissing(param);
    if (value === '' && required) throw parameterInvalidEmpty(param);
    const events = stringList()(value, param);
    if (events !== undefined && events.length === 0) throw parameterInvalid(param, 'enabled_events must not be empty');
    return events;
  });
}

export const CREATE = {
  url: httpUrl(true),
  enabled_events: eventList(true),
  description: string({ maxLength: 5000 }),
  metadata: metadata(),
  api_version: string(),
  connect: boolean(),
  expand: stringList(),
};

export const UPDATE = {
  url: httpUrl(false),
  enabled_events: eventList(false),
  description: string({ maxLength: 5000 }),
  metadata: metadata(),
  disabled: boolean(),
  expand: stringList(),
};

function findEndpoint(ctx: RequestContext): WebhookEndpoint {
  const endpoint = ctx.store.webhookEndpoints.get(ctx.id, ctx.owner);
  if (!endpoint) throw resourceMissing('webhook_endpoint', ctx.id, 'id');
  return endpoint;
}

export const createWebhookEndpoint: Handler = (ctx) => {
  const p = parseParams(CREATE, ctx.params);
  const endpoint: WebhookEndpoint = {
    id: newId('we'),
    object: 'webhook_endpoint',
    api_version: p.api_version ?? null,
    application: null,
    created: unixNow(),
    description: p.description ?? null,
    // Required by the spec above.
    enabled_events: p.enabled_events as string[],
    livemode: ctx.owner.livemode,
    metadata: mergeMetadata({}, p.metadata),
    status: 'enabled',
    // Required by the spec above.
    url: p.url as string,
  };
  const secret = `whsec_${randomAlphanumeric(32)}`;
  ctx.store.webhookEndpoints.insert(endpoint, ctx.owner);
  ctx.store.webhookSecrets.set(endpoint.id, secret);
  if (ctx.apiKey) ctx.store.webhookEndpointKeys.set(endpoint.id, keyDigest(ctx.apiKey));
  // The secret is in the create response only, as on Stripe.
  return { status: 200, body: { ...structuredClone(endpoint), secret } };
};

export const RETRIEVE = expandOnly();

export const retrieveWebhookEndpoint: Handler = (ctx) => {
  parseParams(RETRIEVE, ctx.params);
  return ok(ctx, findEndpoint(ctx), undefined);
};

export const updateWebhookEndpoint: Handler = (ctx) => {
  const p = parseParams(UPDATE, ctx.params);
  const endpoint = findEndpoint(ctx);
  if (typeof p.url === 'string') endpoint.url = p.url;
  if (p.enabled_events) endpoint.enabled_events = p.enabled_events;
  if (p.description !== undefined) endpoint.description = p.description;
  endpoint.metadata = mergeMetadata(endpoint.metadata, p.metadata);
  if (p.disabled !== undefined) endpoint.status = p.disabled ? 'disabled' : 'enabled';
  return ok(ctx, endpoint, undefined);
};

export const DELETE = {};

export const deleteWebhookEndpoint: Handler = (ctx) => {
  parseParams(DELETE, ctx.params);
  const endpoint = findEndpoint(ctx);
  ctx.store.webhookEndpoints.delete(endpoint.id, ctx.owner);
  ctx.store.webhookSecrets.delete(endpoint.id);
  ctx.store.webhookEndpointKeys.delete(endpoint.id);
  return { status: 200, body: { id: endpoint.id, object: 'webhook_endpoint', deleted: true } };
};

export const LIST = { limit: integer({ min: 1 }), starting_after: string(), ending_before: string(), expand: stringList() };

/** A Stripe list, newest first, without pagination beyond `limit` (the stand-in holds few objects). */
function list(ctx: RequestContext, url: string, objects: object[], limit: number | undefined): { status: number; body: unknown } {
  if (limit !== undefined && limit > 100) throw parameterInvalid('limit', 'This value must be less than or equal to 100.');
  const newestFirst = [...objects].reverse();
  const page = newestFirst.slice(0, limit ?? 10);
  return { status: 200, body: { object: 'list', data: structuredClone(page), has_more: newestFirst.length > page.length, url } };
}

export const listWebhookEndpoints: Handler = (ctx) => {
  const p = parseParams(LIST, ctx.params);
  const mine = ctx.store.webhookEndpoints.all().filter(({ owner }) => sameScope(owner, ctx.owner)).map(({ object }) => object);
  return list(ctx, '/v1/webhook_endpoints', mine, p.limit);
};

export const retrieveEvent: Handler = (ctx) => {
  parseParams(RETRIEVE, ctx.params);
  const event = ctx.store.events.get(ctx.id, ctx.owner);
  if (!event) throw resourceMissing('event', ctx.id, 'id');
  return { status: 200, body: renderEvent(event, event.api_version ?? ctx.store.accountApiVersion) };
};

export const LIST_EVENTS = { ...LIST, type: string() };
/** An event as an endpoint of `version` (or the API, in the event's own version) gets it. */
export function renderEvent(event: StripeEvent, version: string): StripeEvent {
  return { ...structuredClone(event), api_version: version, data: { ...event.data, object: renderEventObject(event.data.object, version) } };
}

export const listEvents: Handler = (ctx) => {
  const p = parseParams(LIST_EVENTS, ctx.params);
  const mine = ctx.store.events
    .all()
    .filter(({ owner, object }) => sameScope(owner, ctx.owner) && (!p.type || object.type === p.type))
    .map(({ object }) => renderEvent(object, object.api_version ?? ctx.store.accountApiVersion));
  return list(ctx, '/v1/events', mine, p.limit);
};

export const LIST_REFUNDS = { ...LIST, payment_intent: string(), charge: string() };

/** GET /v1/refunds?payment_intent=pi_...: a PaymentIntent's refunds, newest first. */
export const listRefunds: Handler = (ctx) => {
  const p = parseParams(LIST_REFUNDS, ctx.params);
  const mine = ctx.store.refunds
    .all()
    .filter(
      ({ owner, object }) =>
        sameScope(owner, ctx.owner) && (!p.payment_intent || object.payment_intent === p.payment_intent) && (!p.charge || object.charge === p.charge),
    )
    .map(({ object }) => object);
  return list(ctx, '/v1/refunds', mine, p.limit);
};

function sameScope(a: Owner, b: Owner): boolean {
  return a.livemode === b.livemode && (a.account ?? '') === (b.account ?? '');
}
