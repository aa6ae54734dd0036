// The requests a benchmark run sends, as specs for the load generator (bench/load.ts).
import type { Secrets } from './bench.ts';
import type { RequestSpec } from './load.ts';

const jsonApi = 'application/vnd.api+json';
export const query = (params: Record<string, string | number>) =>
  Object.entries(params)
    .map(([key, value]) => `${encodeURIComponent(key)}=${encodeURIComponent(String(value))}`)
    .join('&');

/** The list of the issue: include, the largest page, a sort and a filter (80% of rows match). */
export const listParams = { include: 'order', 'page[size]': 25, sort: '-created_at', 'filter[q][reference_origin_eq]': 'storefront' };
/** A count as a client asks for one: the smallest page of a filter, read for meta.record_count (15% match). */
export const countParams = { 'page[size]': 1, 'filter[q][reference_origin_eq]': 'pos' };

export type Requests = ReturnType<typeof requestsFor>;

export function requestsFor(token: string, secrets: Secrets) {
  const read = { accept: jsonApi, authorization: `Bearer ${token}` };
  const write = { ...read, 'content-type': jsonApi };
  return {
    retrieve: (ids: string[]): RequestSpec => ({ method: 'GET', headers: read, paths: ids.map((id) => `/api/stripe_payments/${id}`), expect: [200] }),
    baseline: (ids: string[]): RequestSpec => ({ method: 'GET', headers: {}, paths: ids.map((id) => `/stripe_payments/${id}`), expect: [200] }),
    baselineUnprepared: (ids: string[]): RequestSpec => ({ method: 'GET', headers: {}, paths: ids.map((id) => `/unprepared/stripe_payments/${id}`), expect: [200] }),
    list: (page = 1): RequestSpec => ({
      method: 'GET',
      headers: read,
      paths: [`/api/stripe_payments?${query(page > 1 ? { ...listParams, 'page[number]': page } : listParams)}`],
      expect: [200],
    }),
    /** The same list from a keyset cursor, as links.next gives it. */
    listAfter: (cursor: string): RequestSpec => ({
      method: 'GET',
      headers: read,
      paths: [`/api/stripe_payments?${query({ ...listParams, 'page[after]': cursor })}`],
      expect: [200],
    }),
    /** The list's code path (include, serialisation, links) without the table-wide count: 25 ids at a time. */
    listByIds: (ids: string[]): RequestSpec => {
      const pages: string[] = [];
      for (let index = 0; index + 25 <= ids.length; index += 25) {
        pages.push(`/api/stripe_payments?${query({ include: 'order', 'page[size]': 25, 'filter[q][id_in]': ids.slice(index, index + 25).join(',') })}`);
      }
      return { method: 'GET', headers: read, paths: pages, expect: [200] };
    },
    /** The baseline's list of the same 25 ids at a time, with their orders. */
    baselineListByIds: (ids: string[]): RequestSpec => {
      const pages: string[] = [];
      for (let index = 0; index + 25 <= ids.length; index += 25) pages.push(`/stripe_payments?ids=${ids.slice(index, index + 25).join(',')}`);
      return { method: 'GET', headers: {}, paths: pages, expect: [200] };
    },
    count: (): RequestSpec => ({ method: 'GET', headers: read, paths: [`/api/stripe_payments?${query(countParams)}`], expect: [200] }),
    create: (orderIds: string[]): RequestSpec => ({
      method: 'POST',
      headers: write,
      paths: orderIds.map(() => '/api/stripe_payments'),
      bodies: orderIds.map((id) => JSON.stringify({ data: { type: 'stripe_payments', relationships: { order: { data: { type: 'orders', id } } } } })),
      expect: [201],
    }),
    /** The baseline's create: the same body, without JSON:API's headers or a token. */
    baselineCreate: (orderIds: string[]): RequestSpec => ({
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      paths: orderIds.map(() => '/stripe_payments'),
      bodies: orderIds.map((id) => JSON.stringify({ data: { type: 'stripe_payments', relationships: { order: { data: { type: 'orders', id } } } } })),
      expect: [201],
    }),
    update: (paymentIds: string[]): RequestSpec => ({
      method: 'PATCH',
      headers: write,
      paths: paymentIds.map((id) => `/api/stripe_payments/${id}`),
      bodies: paymentIds.map((id) => JSON.stringify({ data: { type: 'stripe_payments', id, attributes: { _update: true } } })),
      expect: [200],
    }),
    /** The baseline's `_update`: the same body, without JSON:API's headers or a token. */
    baselineUpdate: (paymentIds: string[]): RequestSpec => ({
      method: 'PATCH',
      headers: { 'content-type': 'application/json' },
      paths: paymentIds.map((id) => `/stripe_payments/${id}`),
      bodies: paymentIds.map((id) => JSON.stringify({ data: { type: 'stripe_payments', id, attributes: { _update: true } } })),
      expect: [200],
    }),
    token: (): RequestSpec => ({
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      paths: ['/oauth/token'],
      bodies: [JSON.stringify({ grant_type: 'client_credentials', client_id: secrets.clientId, client_secret: secrets.clientSecret })],
      expect: [200],
    }),
  };
}

export async function getToken(origin: string, secrets: Secrets): Promise<string> {
  const response = await fetch(`${origin}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ grant_type: 'client_credentials', client_id: secrets.clientId, client_secret: secrets.clientSecret }),
  });
  if (response.status !== 200) throw new Error(`token: ${response.status} ${await response.text()}`);
  return ((await response.json()) as { access_token: string }).access_token;
}
