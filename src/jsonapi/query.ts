import { z } from 'zod';
import { decodeCursor, defaultSort, type PageCursor, type SortKey } from './cursor.ts';
import { badRequest, invalidField, invalidPageValue, invalidSort, paramNotAllowed } from './errors.ts';
import { parseInclude, type IncludeTree } from './include.ts';
import type { AnyResource, AttributeType } from './resource.ts';

export interface ListQuery {
  /** Sparse fieldsets: type -> allowed attribute/relationship names. */
  fields: Map<string, Set<string>>;
  include: IncludeTree;
  sort: SortKey[];
  page: { number: number; size: number };
  /**
   * Keyset paging (`page[after]`): where the page starts, or null for the first page of a
   * client that pages by cursor (`page[after]` empty). Undefined: paging by `page[number]`.
   */
  after?: PageCursor | null;
  /** `filter[q][predicate]` entries by predicate, compiled by filter.ts. */
  filter: Record<string, string | string[]>;
}

/** The order a list's rows come in: the client's sort, or the default; the id breaks ties. */
export function listSort(query: Pick<ListQuery, 'sort'>): readonly SortKey[] {
  return query.sort.length > 0 ? query.sort : defaultSort;
}

/** The stored type of a sort key (created_at, the default, is a datetime everywhere). */
export function sortKeyType(declaration: AnyResource, field: string): AttributeType {
  const attribute = Object.hasOwn(declaration.attributes, field) ? declaration.attributes[field] : undefined;
  return attribute ? (attribute.columnType ?? attribute.type) : 'datetime';
}

export const pageLimits = { defaultSize: 10, maxSize: 25 } as const;

const pageNumberSchema = z.coerce.number().int().min(1).max(1_000_000);
const pageSizeSchema = z.coerce.number().int().min(1).max(pageLimits.maxSize);


/** `fields[orders]` -> ["fields", "orders"]; `filter[q][id_in]` -> ["filter", "q", "id_in"]. */
function splitKey(key: string): [string, string | undefined, string | undefined] {
  const match = /^([a-z_]+)(?:\[([^\]]*)\])?(?:\[([^\]]*)\])?$/.exec(key);
  if (!match) return [key, undefined, undefined];
  return [match[1]!, match[2], match[3]];
}

function single(value: unknown, parameter: string): string {
  if (typeof value === 'string') return value;
  throw badRequest(`${parameter} must be given once`, { parameter });
}

/**
 * Parses the JSON:API query parameters a read accepts. Every parameter is checked against
 * the declarations: an unknown field, sort key or parameter is a 400, never ignored.
 */
export function parseQuery(
  raw: Record<string, unknown>,
  declaration: AnyResource,
  registry: ReadonlyMap<string, AnyResource>,
  kind: 'list' | 'retrieve' | 'write',
): ListQuery {
  const query: ListQuery = { fields: new Map(), include: new Map(), sort: [], page: { number: 1, size: pageLimits.defaultSize }, filter: {} };
  let after: string | undefined;
  let numbered = false;
  for (const [key, value] of Object.entries(raw)) {
    const [name, member, predicate] = splitKey(key);
    if (name === 'fields' && member !== undefined && predicate === undefined) {
      const target = registry.get(member);
      if (!target) throw invalidField(`${member} is not a valid resource type`, { parameter: key });
      const names = single(value, key).split(',').map((field) => field.trim()).filter(Boolean);
      for (const field of names) {
        const attribute = Object.hasOwn(target.attributes, field) ? target.attributes[field] : undefined;
        const known = (attribute && attribute.fetchable !== false) || Object.hasOwn(target.relationships, field);
        if (!known) throw invalidField(`${field} is not a valid field for ${member}`, { parameter: key });
      }
      query.fields.set(member, new Set(names));
    } else if (name === 'include' && member === undefined) {
      query.include = parseInclude(single(value, key), declaration, registry);
    } else if (kind === 'list' && name === 'filter' && member === 'q' && predicate) {
      if (typeof value !== 'string' && !(Array.isArray(value) && value.every((item) => typeof item === 'string'))) {
        throw badRequest(`${key} must be a string`, { parameter: key });
      }
      query.filter[predicate] = value;
    } else if (kind === 'list' && name === 'sort' && member === undefined) {
      for (const criterion of single(value, key).split(',').map((part) => part.trim()).filter(Boolean)) {
        const descending = criterion.startsWith('-');
        const field = descending ? criterion.slice(1) : criterion;
        const attribute = Object.hasOwn(declaration.attributes, field) ? declaration.attributes[field] : undefined;
        if (!attribute?.sortable) throw invalidSort(`${field} is not a valid sort criteria for ${declaration.type}`, { parameter: 'sort' });
        query.sort.push({ field, direction: descending ? 'desc' : 'asc' });
      }
    } else if (kind === 'list' && name === 'page' && (member === 'number' || member === 'size') && predicate === undefined) {
      const parsed = (member === 'number' ? pageNumberSchema : pageSizeSchema).safeParse(single(value, key));
      if (!parsed.success) {
        const limit = member === 'size' ? ` between 1 and ${pageLimits.maxSize}` : ' a positive integer';
        throw invalidPageValue(`page[${member}] must be${limit}`, { parameter: key });
      }
      query.page[member] = parsed.data;
      if (member === 'number') numbered = true;
    } else if (kind === 'list' && key === 'page[after]') {
      after = single(value, key);
    } else {
      throw paramNotAllowed(`${key} is not an allowed query parameter here`, { parameter: key });
    }
  }
  if (after !== undefined) {
    // The cursor is checked against the sort, which may come after it in the query string.
    if (numbered) throw invalidPageValue('page[number] cannot be combined with page[after]: the cursor says where the page starts', { parameter: 'page[number]' });
    const sort = listSort(query);
    query.after = after === '' ? null : decodeCursor(after, sort, sort.map(({ field }) => sortKeyType(declaration, field)));
  }
  return query;
}
