import { z } from 'zod';
import type { CursorValue, PageCursor } from '../db/sql/keyset.ts';
import { invalidPageValue } from './errors.ts';
import type { AttributeType } from './resource.ts';

/**
 * Keyset paging: `page[after]` holds the last row's sort values and id, so the next page
 * starts from there through an index instead of reading and dropping every row before it
 * (OFFSET). The cursor is opaque to clients (base64url JSON) but checked like any input:
 * it never reaches SQL unless every value has the type of its sort key.
 */

/** A sort criterion of a list; the id always breaks ties, ascending. */
export interface SortKey {
  field: string;
  direction: 'asc' | 'desc';
}

// What a cursor holds is what the keyset condition takes.
export type { CursorValue, PageCursor } from '../db/sql/keyset.ts';

/** With no `sort`, lists are newest first. */
export const defaultSort: readonly SortKey[] = [{ field: 'created_at', direction: 'desc' }];

/** The sort as `sort=` spells it ("-created_at"): a cursor is valid for the sort it was made for only. */
export function sortSignature(sort: readonly SortKey[]): string[] {
  return sort.map(({ field, direction }) => (direction === 'desc' ? `-${field}` : field));
}

// Far above any real cursor (a few sort values of at most 255 characters), far below a URL's limit.
const maxCursorLength = 4096;

const cursorSchema = z
  .object({
    s: z.array(z.string().max(200)).max(20),
    v: z.array(z.union([z.string().max(2000), z.number(), z.boolean(), z.null()])).max(20),
    id: z.string().min(1).max(64),
  })
  .strict();

/** PostgreSQL's text of a timestamp column (`2024-01-31 12:00:00.123`). */
const timestampText = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.\d{1,6})?$/;

function isTimestamp(value: string): boolean {
  const match = timestampText.exec(value);
  if (!match) return false;
  const [year, month, day, hour, minute, second] = match.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  if (year < 1 || hour > 23 || minute > 59 || second > 59) return false;
  // Day and month through a UTC date: the 31st of February does not come back as itself.
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  return date.getUTCFullYear() === year && date.getUTCMonth() === month - 1 && date.getUTCDate() === day;
}

const unpairedSurrogate = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Whether a cursor value can be compared with a column of the sort key's type. */
function fits(value: CursorValue, type: AttributeType): boolean {
  if (value === null) return true;
  switch (type) {
    case 'string':
      return typeof value === 'string' && !value.includes('\u0000') && !unpairedSurrogate.test(value);
    case 'integer':
      return typeof value === 'number' && Number.isSafeInteger(value);
    case 'float':
      return typeof value === 'number' && Number.isFinite(value);
    case 'boolean':
      return typeof value === 'boolean';
    case 'datetime':
      return typeof value === 'string' && isTimestamp(value);
    default:
      return false;
  }
}

export function encodeCursor(sort: readonly SortKey[], cursor: PageCursor): string {
  return Buffer.from(JSON.stringify({ s: sortSignature(sort), v: cursor.values, id: cursor.id })).toString('base64url');
}

/** A cursor from `page[after]`, for a list sorted by `sort` whose keys have `types`; a 400 otherwise. */
export function decodeCursor(raw: string, sort: readonly SortKey[], types: readonly AttributeType[]): PageCursor {
  const invalid = (why: string) => invalidPageValue(`page[after] ${why}`, { parameter: 'page[after]' });
  if (raw.length > maxCursorLength || !/^[A-Za-z0-9_-]+$/.test(raw)) throw invalid('is not a cursor from this API');
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8'));
  } catch {
    throw invalid('is not a cursor from this API');
  }
  const parsed = cursorSchema.safeParse(decoded);
  if (!parsed.success) throw invalid('is not a cursor from this API');
  const { s, v, id } = parsed.data;
  const expected = sortSignature(sort);
  if (s.length !== expected.length || s.some((key, index) => key !== expected[index])) {
    throw invalid(`was made for sort=${s.join(',')}; keep the sort of the first page, or start again without a cursor`);
  }
  if (v.length !== types.length || v.some((value, index) => !fits(value, types[index]!))) throw invalid('is not a cursor from this API');
  if (id.includes('\u0000') || unpairedSurrogate.test(id)) throw invalid('is not a cursor from this API');
  return { values: v, id };
}
