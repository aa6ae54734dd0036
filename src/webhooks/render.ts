import type { Prisma } from '../db/client.ts';
import { parseQuery } from '../jsonapi/query.ts';
import { compound } from '../jsonapi/include.ts';
import { serializeResource } from '../jsonapi/serialize.ts';
import { ResourceStore, type AnyResource, type Database } from '../jsonapi/store.ts';
import { resources } from '../resources/index.ts';

/**
 * A webhook's payload: the record as `GET /api/<type>/<id>?include=<include_resources>`
 * returns it to an integration, read inside the transaction of the change, so it is the
 * record as that change left it, whenever it is delivered.
 */

// Built on first use: the declarations import the domain, which imports this module.
let registry: Map<string, AnyResource> | undefined;
const registryOf = () => (registry ??= new Map((resources as readonly AnyResource[]).map((resource) => [resource.type, resource])));

// The links in payloads: set by buildApp from PUBLIC_URL, or once the server listens, from
// its address. One per process (a server is one app per process; tests with several apps
// in one process get the last one set).
let apiBase = 'http://127.0.0.1:3000/api';

export function setWebhookApiBase(base: string): void {
  apiBase = base.replace(/\/+$/, '');
}

/** Parses `include` for `type` as the query language does: throws the JSON:API error a bad include gets. */
export function includeQuery(type: string, include: readonly string[]) {
  const declaration = registryOf().get(type);
  if (!declaration) throw new Error(`unknown resource type ${type}`);
  return { declaration, query: parseQuery(include.length > 0 ? { include: include.join(',') } : {}, declaration, registryOf(), 'retrieve') };
}

/** The JSON body of an event of record `type`/`id`, or null when the API does not show the record. */
export async function renderPayload(tx: Prisma.TransactionClient, type: string, id: string, include: readonly string[]): Promise<string | null> {
  const { declaration, query } = includeQuery(type, include);
  const store = new ResourceStore(tx as unknown as Database, registryOf());
  const row = await store.findOne(type, id);
  if (!row) return null;
  const object = serializeResource(declaration, row, apiBase, query.fields.get(type));
  const included = query.include.size > 0 ? await compound(store, [{ declaration, row, object }], query.include, query.fields, apiBase) : [];
  return JSON.stringify({ data: object, ...(included.length > 0 ? { included } : {}) });
}
