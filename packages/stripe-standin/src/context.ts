import { expandObject } from './expand.ts';
import { omitUnexpanded } from './versions.ts';
import type { Params } from './params.ts';
import type { Owner, Store } from './state.ts';

/** What an endpoint handler gets: parsed parameters and who is asking. */
export interface RequestContext {
  params: Params;
  /** The object id from the URL, '' for collection routes. */
  id: string;
  owner: Owner;
  /** The Stripe-Version header, which decides some defaults as on Stripe. */
  stripeVersion: string | undefined;
  /** The key the request authenticated with: webhook endpoints get the events of their own key's requests. */
  apiKey?: string;
  /**
   * Set when a publishable key made the request (Stripe.js): the client secret it sent,
   * which must be the object's. The secret and the key are not parameters then.
   */
  clientSecret?: string | undefined;
  store: Store;
}

export interface Reply {
  status: number;
  body: unknown;
}

/** Handlers are synchronous: each request is applied atomically to the in-memory state. */
export type Handler = (ctx: RequestContext) => Reply;

export function ok(ctx: RequestContext, object: object, expand: readonly string[] | undefined): Reply {
  const body = expandObject(object, expand, ctx.store, ctx.owner);
  // Rendered in the request's version, as Stripe does (the SDK always sends its pinned one).
  omitUnexpanded(body, expand, ctx.stripeVersion ?? ctx.store.accountApiVersion);
  return { status: 200, body };
}
