import { z } from 'zod';
import { badRequest, invalidField, invalidInclude, invalidPageValue, invalidSort, paramNotAllowed } from './errors.ts';
import type { ResourceDeclaration } from './resource.ts';

export interface ReadQuery {
  /** Sparse fieldsets: type -> allowed attribute/relationship names. */
  fields: Map<string, Set<string>>;
}

export interface ListQuery extends ReadQuery {
  sort: { field: string; direction: 'asc' | 'desc' }[];
  page: { number: number; size: number };
}

export const pageLimits = { defaultSize: 10, maxSize: 25 } as const;

const pageNumberSchema = z.coerce.number().int().min(1).max(1_000_000);
const pageSizeSchema = z.coerce.number().int().min(1).max(pageLimits.maxSize);

type AnyDeclaration = ResourceDeclaration<{ id: string }, never>;

/** `fields[orders]` -> ["fields", "orders"]; `page[size]` -> ["page", "size"]. */
function splitKey(key: string): [string, string | undefined] {
  const match = /^([a-z_]+)(?:\[([^\]]*)\])?$/.exec(key);
  if (!match) return [key, undefined];
  return [match[1]!, match[2]];
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
  declaration: AnyDeclaration,
  registry: ReadonlyMap<string, AnyDeclaration>,
  kind: 'list' | 'retrieve' | 'write',
): ListQuery {
  const query: ListQuery = { fields: new Map(), sort: [], page: { number: 1, size: pageLimits.defaultSize } };
  for (const [key, value] of Object.entries(raw)) {
    const [name, member] = splitKey(key);
    if (name === 'fields' && member !== undefined) {
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
      // Compound documents arrive with the query-language work; until then say so clearly.
      throw invalidInclude('include is not supported on this server yet', { parameter: 'include' });
    } else if (kind === 'list' && name === 'sort' && member === undefined) {
      for (const criterion of single(value, key).split(',').map((part) => part.trim()).filter(Boolean)) {
        const descending = criterion.startsWith('-');
        const field = descending ? criterion.slice(1) : criterion;
        const attribute = Object.hasOwn(declaration.attributes, field) ? declaration.attributes[field] : undefined;
        if (!attribute?.sortable) throw invalidSort(`${field} is not a valid sort criteria for ${declaration.type}`, { parameter: 'sort' });
        query.sort.push({ field, direction: descending ? 'desc' : 'asc' });
      }
    } else if (kind === 'list' && name === 'page' && (member === 'number' || member === 'size')) {
      const parsed = (member === 'number' ? pageNumberSchema : pageSizeSchema).safeParse(single(value, key));
      if (!parsed.success) {
        const limit = member === 'size' ? ` between 1 and ${pageLimits.maxSize}` : ' a positive integer';
        throw invalidPageValue(`page[${member}] must be${limit}`, { parameter: key });
      }
      query.page[member] = parsed.data;
    } else {
      throw paramNotAllowed(`${key} is not an allowed query parameter here`, { parameter: key });
    }
  }
  return query;
}
