import type { Action } from './resource.ts';
import type { AnyResource } from './store.ts';

/**
 * The routes of a declaration, once: the engine registers them (engine.ts) and the
 * OpenAPI document describes them (src/openapi/document.ts), so the document lists every
 * route and every status a route can answer. A status a new kind of failure brings is
 * added here, for the routes that can meet it.
 */

export type RouteOperation = 'list' | 'create' | 'retrieve' | 'update' | 'delete' | 'related' | 'linkage' | 'refused';
export type RouteMethod = 'GET' | 'POST' | 'PATCH' | 'DELETE' | 'PUT';

export interface Route {
  method: RouteMethod;
  /** Below /api, in Fastify's syntax: `/stripe_payments/:id/order`. */
  url: string;
  operation: RouteOperation;
  /** For related resources and linkage. */
  relationship?: string;
  /** What the route answers: its success first, then every error status. A refused route answers 405 only. */
  statuses: readonly number[];
}

// Answers every route of its kind can give, whatever the resource; 503 when the database is unavailable.
const readErrors = [400, 401, 403, 406, 429, 500, 503];
const writeErrors = [400, 401, 403, 406, 413, 415, 422, 429, 500, 503];
// A POST or PATCH whose Idempotency-Key is still in flight answers 409 (src/plugins/idempotency.ts).
const keyInFlight = 409;
// A step that calls Stripe: Stripe failed (502), could not be reached or rate limits (503), timed out (504),
// or is still busy with the same call (409).
const stripeErrors = [409, 502, 503, 504];

const sorted = (success: number, errors: readonly number[]) => [success, ...[...new Set(errors)].sort((a, b) => a - b)];

/** Whether a declaration's write calls Stripe: its own step, or a trigger it takes. */
function callsStripe(declaration: AnyResource, action: 'create' | 'update' | 'delete'): boolean {
  if (declaration.callsStripe?.includes(action)) return true;
  if (action === 'delete') return false;
  return Object.values(declaration.triggers).some((trigger) => trigger.callsStripe && (action === 'update' || trigger.creatable));
}

/** Every route the engine registers for a declaration, in registration order. */
export function routesOf(declaration: AnyResource): Route[] {
  const collection = `/${declaration.type}`;
  const member = `${collection}/:id`;
  const allowed = (action: Action) => declaration.actions.includes(action);
  const upstream = (action: 'create' | 'update' | 'delete') => (callsStripe(declaration, action) ? stripeErrors : []);
  const refused = (method: RouteMethod, url: string): Route => ({ method, url, operation: 'refused', statuses: [405] });
  const route = (method: RouteMethod, url: string, operation: Exclude<RouteOperation, 'refused'>, action: Action, statuses: number[], relationship?: string): Route =>
    allowed(action) ? { method, url, operation, statuses, ...(relationship ? { relationship } : {}) } : refused(method, url);

  const routes: Route[] = [
    route('GET', collection, 'list', 'list', sorted(200, readErrors)),
    route('POST', collection, 'create', 'create', sorted(201, [...writeErrors, keyInFlight, ...upstream('create')])),
    route('GET', member, 'retrieve', 'retrieve', sorted(200, [...readErrors, 404])),
    route('PATCH', member, 'update', 'update', sorted(200, [...writeErrors, 404, keyInFlight, ...upstream('update')])),
    route('DELETE', member, 'delete', 'delete', sorted(204, [401, 403, 404, 406, 422, 423, 429, 500, 503, ...upstream('delete')])),
    // Verbs that exist elsewhere but not on this URL are 405, as Commerce Layer answers.
    ...(['PUT', 'PATCH', 'DELETE'] as const).map((method) => refused(method, collection)),
    ...(['PUT', 'POST'] as const).map((method) => refused(method, member)),
  ];
  // The related resource(s), GET /api/stripe_payments/:id/order, and the linkage alone, GET /api/stripe_payments/:id/relationships/order.
  for (const name of Object.keys(declaration.relationships)) {
    routes.push(route('GET', `${member}/${name}`, 'related', 'retrieve', sorted(200, [...readErrors, 404]), name));
    routes.push(route('GET', `${member}/relationships/${name}`, 'linkage', 'retrieve', sorted(200, [401, 403, 404, 406, 429, 500, 503]), name));
  }
  return routes;
}
