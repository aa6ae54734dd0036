import {
  compileFilterClauses,
  filterPredicate,
  filterPredicates,
  TooManyFilterValues,
  type FilterClause,
  type FilterOperand,
  type FilterPredicate,
  type FilterTarget,
} from '../db/sql/filter.ts';
import type { Sql } from '../db/sql/values.ts';
import { JsonApiError } from './errors.ts';
import type { AttributeType } from './resource.ts';

/**
 * Reads Commerce Layer's `filter[q][...]` (Ransack predicates, e.g.
 * `reference_or_reference_origin_eq`) against a declared target: resolves each key to a
 * predicate and attributes, parses its values for their types, and answers anything it
 * cannot use with a 400 naming the parameter. src/db/sql/filter.ts compiles the result.
 * Blank values are ignored, as Ransack ignores them.
 */

export { filterPredicates };
export type { FilterableField, FilterRelationship, FilterTarget } from '../db/sql/filter.ts';

/** Most values one `_in`, `_any` or `_all` filter takes. */
export const maxFilterValues = 100;
// Longer keys are not a real filter; the cap keeps resolving `_or_` splits trivially cheap.
const maxKeyLength = 1000;

// ---------------------------------------------------------------------------------------
// Values

const unpairedSurrogate = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** PostgreSQL text cannot hold NUL, and an unpaired surrogate is not text at all. */
function isText(value: string): boolean {
  return !value.includes('\u0000') && !unpairedSurrogate.test(value);
}

function parseBoolean(raw: string): boolean | undefined {
  const value = raw.toLowerCase();
  if (value === 'true' || value === 't' || value === '1') return true;
  if (value === 'false' || value === 'f' || value === '0') return false;
  return undefined;
}

const isoDateTime =
  /^(\d{4})-(\d{2})-(\d{2})(?:[Tt](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?([Zz]|[+-]\d{2}(?::?\d{2})?)?)?$/;

/**
 * An ISO 8601 date or date-time, normalised to UTC. Checked field by field so that nothing
 * PostgreSQL would reject (a 31st of February, year 0) reaches it as a 500. A value without
 * an offset is UTC, as in Commerce Layer; the fraction is kept as given (no rounding).
 */
function parseDateTime(raw: string): string | undefined {
  const match = isoDateTime.exec(raw);
  if (!match) return undefined;
  const [year, month, day, hour, minute, second] = match.slice(1, 7).map((part) => Number(part ?? 0)) as [
    number, number, number, number, number, number,
  ];
  const fraction = match[7];
  const zone = match[8];
  const daysInMonth = [31, isLeapYear(year) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1];
  if (year < 1 || daysInMonth === undefined || day < 1 || day > daysInMonth) return undefined;
  if (hour > 23 || minute > 59 || second > 59) return undefined;
  let offsetMinutes = 0;
  if (zone !== undefined && zone.toUpperCase() !== 'Z') {
    const digits = zone.slice(1).replace(':', '');
    const hours = Number(digits.slice(0, 2));
    const minutes = Number(digits.slice(2) || 0);
    if (hours > 23 || minutes > 59) return undefined;
    offsetMinutes = (zone.startsWith('-') ? -1 : 1) * (hours * 60 + minutes);
  }
  // setUTCFullYear, unlike Date.UTC, does not read years 0-99 as 1900-1999.
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  date.setUTCHours(hour, minute - offsetMinutes, second, 0);
  const utcYear = date.getUTCFullYear();
  if (utcYear < 1 || utcYear > 9999) return undefined;
  return `${date.toISOString().slice(0, 19)}${fraction ? `.${fraction}` : ''}Z`;
}

function isLeapYear(year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
}

/** How a filter value of each scalar type is parsed. */
const scalarTypes: Record<Exclude<AttributeType, 'object' | 'array'>, { expected: string; parse(raw: string): unknown }> = {
  string: { expected: 'text', parse: (raw) => (isText(raw) ? raw : undefined) },
  integer: {
    expected: 'an integer',
    parse: (raw) => (/^-?\d{1,16}$/.test(raw) && Number.isSafeInteger(Number(raw)) ? Number(raw) : undefined),
  },
  float: {
    expected: 'a number',
    parse: (raw) => {
      if (!/^-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?$/.test(raw)) return undefined;
      const value = Number(raw);
      return Number.isFinite(value) ? value : undefined;
    },
  },
  boolean: { expected: 'true or false', parse: parseBoolean },
  // Values are normalised to UTC and the columns hold UTC without a zone: compared as plain
  // timestamps, the result does not depend on the database session's TimeZone.
  datetime: { expected: 'an ISO 8601 date or date-time such as 2024-01-31T12:00:00Z', parse: parseDateTime },
};

/** Nesting PostgreSQL's jsonb parser accepts without hitting its stack limit, with room to spare. */
const maxJsonDepth = 32;

/** Every string (and key) is storable text and every number finite, within the nesting limit. */
function isStorableJson(value: unknown, depth = 0): boolean {
  if (depth > maxJsonDepth) return false;
  if (typeof value === 'string') return isText(value);
  if (typeof value === 'number') return Number.isFinite(value);
  if (value === null || typeof value !== 'object') return true;
  const entries = Array.isArray(value) ? value.map((item) => ['', item] as const) : Object.entries(value);
  return entries.every(([key, item]) => isText(key) && isStorableJson(item, depth + 1));
}

/**
 * A JSON object for `@>`, re-serialised: numbers are then read as metadata was stored
 * (through JavaScript), and nothing jsonb rejects (\u0000, lone surrogates) gets through.
 */
function parseJsonObject(raw: string): string | undefined {
  try {
    const value: unknown = JSON.parse(raw);
    if (value === null || typeof value !== 'object' || Array.isArray(value) || !isStorableJson(value)) return undefined;
    return JSON.stringify(value);
  } catch {
    // Malformed, or nested past what the engine handles.
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------
// Attributes

function withId(fields: FilterTarget['fields']): FilterTarget['fields'] {
  // Every table here keys on a text `id`; declaring it is optional.
  return fields.some((field) => field.name === 'id') ? [...fields] : [...fields, { name: 'id', column: 'id', type: 'string' }];
}

/** Every name a filter may use on this target, resolved once; earlier entries win a tie. */
function attributeNames(target: FilterTarget): Map<string, FilterOperand> {
  const names = new Map<string, FilterOperand>();
  const add = (operand: FilterOperand) => {
    if (!names.has(operand.name)) names.set(operand.name, operand);
  };
  for (const field of withId(target.fields)) add({ name: field.name, field });
  // Longer relationship names first: `payment_method_name` is payment_method.name before payment.method_name.
  const relationships = Object.entries(target.relationships).sort(([a], [b]) => b.length - a.length);
  for (const [relationship, via] of relationships) {
    for (const field of withId(via.fields)) {
      const name = `${relationship}_${field.name}`;
      if (field.name === 'id' && via.kind === 'to_one' && via.remoteColumn === 'id') {
        // The related id is the foreign key itself: no subquery needed.
        add({ name, field: { name, column: via.localColumn, type: field.type } });
      } else {
        add({ name, field, via });
      }
    }
  }
  return names;
}

/**
 * Splits `a_or_b_or_c` into declared attributes. Names contain underscores (and could
 * contain `_or_`), so every separator is tried against the known names, never guessed;
 * a whole declared name wins over a split, a longer first attribute over a shorter one.
 */
function resolveAttributes(part: string, names: ReadonlyMap<string, FilterOperand>): FilterOperand[] | undefined {
  const direct = names.get(part);
  if (direct) return [direct];
  const separators: number[] = [];
  for (let index = part.indexOf('_or_'); index !== -1; index = part.indexOf('_or_', index + 1)) separators.push(index);
  // For each start: the attribute found there, and where the rest of the list starts (null: it ends).
  const resolved = new Map<number, { operand: FilterOperand; next: number | null }>();
  const starts = [0, ...separators.map((index) => index + 4)];
  for (const start of starts.reverse()) {
    const whole = names.get(part.slice(start));
    if (whole) {
      resolved.set(start, { operand: whole, next: null });
      continue;
    }
    for (const end of [...separators].reverse()) {
      if (end <= start) break;
      const first = names.get(part.slice(start, end));
      if (first && resolved.has(end + 4)) {
        resolved.set(start, { operand: first, next: end + 4 });
        break;
      }
    }
  }
  const operands: FilterOperand[] = [];
  for (let step = resolved.get(0); step; step = step.next === null ? undefined : resolved.get(step.next)) {
    operands.push(step.operand);
  }
  return operands.length > 0 ? operands : undefined;
}

// ---------------------------------------------------------------------------------------
// Parsing

function filterError(key: string, code: 'FILTER_NOT_ALLOWED' | 'INVALID_FILTER_VALUE', detail: string): JsonApiError {
  return new JsonApiError(400, [{ title: 'Invalid filter', detail, code, source: { parameter: `filter[q][${key}]` } }]);
}

function shown(value: string): string {
  return JSON.stringify(value.length > 100 ? `${value.slice(0, 100)}…` : value);
}

class FilterParser {
  private readonly names: Map<string, FilterOperand>;

  constructor(target: FilterTarget) {
    this.names = attributeNames(target);
  }

  /** The clause of one `filter[q][key]`, or null when its value is blank (Ransack ignores those). */
  entry(key: string, raw: unknown): FilterClause | null {
    const { predicate, name, operands } = this.parseKey(key);
    for (const { name: attribute, field } of operands) {
      if (!predicate.types.includes(field.type)) {
        throw filterError(key, 'FILTER_NOT_ALLOWED', `_${name} does not apply to ${attribute} (${field.type})`);
      }
    }
    const values = this.rawValues(key, raw, predicate);
    if (values.length === 0) return null;
    let flag = true;
    if (predicate.takes === 'flag') {
      const parsed = parseBoolean(values[0]!);
      if (parsed === undefined) throw filterError(key, 'INVALID_FILTER_VALUE', `${shown(values[0]!)} is not true or false`);
      flag = parsed;
    }
    const terms = operands.map((operand) => ({ operand, values: this.parameters(key, predicate, operand.field.type, values) }));
    return { key, predicate: name, flag, terms };
  }

  private parseKey(key: string): { predicate: FilterPredicate; name: string; operands: FilterOperand[] } {
    if (key.length > maxKeyLength) throw filterError(key.slice(0, 100), 'FILTER_NOT_ALLOWED', 'The filter name is too long');
    let unresolved: string | undefined;
    for (const name of filterPredicates) {
      if (!key.endsWith(`_${name}`) || key.length === name.length + 1) continue;
      const part = key.slice(0, -(name.length + 1));
      const operands = resolveAttributes(part, this.names);
      // A shorter predicate may still fit: `x_not_null` is `x_not` + `_null` if `x` is unknown.
      if (operands) return { predicate: filterPredicate(name)!, name, operands };
      unresolved ??= part;
    }
    if (unresolved === undefined) {
      throw filterError(key, 'FILTER_NOT_ALLOWED', `${key} does not end with a known predicate such as _eq, _in or _cont`);
    }
    const what = unresolved.includes('_or_') ? 'does not name filterable attributes' : 'is not a filterable attribute';
    throw filterError(key, 'FILTER_NOT_ALLOWED', `${unresolved} ${what}`);
  }

  /** The value strings: a list splits on commas (and a repeated key); blanks are dropped. */
  private rawValues(key: string, raw: unknown, predicate: FilterPredicate): string[] {
    const items = typeof raw === 'string' ? [raw] : raw;
    if (!Array.isArray(items) || !items.every((item): item is string => typeof item === 'string')) {
      throw filterError(key, 'INVALID_FILTER_VALUE', 'The filter value must be a string');
    }
    if (predicate.takes !== 'list') {
      if (items.length > 1) throw filterError(key, 'INVALID_FILTER_VALUE', 'The filter must be given once');
      return items.filter((item) => item !== '');
    }
    const values = items.flatMap((item) => item.split(',')).filter((value) => value !== '');
    if (values.length > maxFilterValues) {
      throw filterError(key, 'INVALID_FILTER_VALUE', `The filter takes at most ${maxFilterValues} values`);
    }
    return values;
  }

  /** The values parsed for the field's type, as the predicate's parameters. */
  private parameters(key: string, predicate: FilterPredicate, type: AttributeType, values: string[]): unknown[] {
    if (predicate.takes === 'flag') return [];
    if (predicate.takes === 'json') {
      const json = parseJsonObject(values[0]!);
      if (json === undefined) throw filterError(key, 'INVALID_FILTER_VALUE', `${shown(values[0]!)} is not a JSON object`);
      return [json];
    }
    // Predicate types exclude objects from everything but jcont.
    const scalarType = scalarTypes[type as Exclude<AttributeType, 'object' | 'array'>];
    return values.map((raw) => {
      let value = scalarType.parse(raw);
      if (value === undefined) throw filterError(key, 'INVALID_FILTER_VALUE', `${shown(raw)} is not ${scalarType.expected}`);
      if (predicate.pattern) {
        value = predicate.pattern(value as string);
        if (value === undefined) throw filterError(key, 'INVALID_FILTER_VALUE', `${shown(raw)} is not a valid LIKE pattern: it ends with the escape character \\`);
      }
      return value;
    });
  }
}

/** The clauses of `filter[q]`, in order; a 400 JsonApiError for an unknown or disallowed filter or a value of the wrong type. */
export function parseFilter(target: FilterTarget, params: Record<string, string | string[]>): FilterClause[] {
  const parser = new FilterParser(target);
  const clauses: FilterClause[] = [];
  for (const [key, raw] of Object.entries(params)) {
    const clause = parser.entry(key, raw);
    if (clause !== null) clauses.push(clause);
  }
  return clauses;
}

/**
 * `filter[q]` entries (keyed by predicate) as a boolean SQL expression over the base table
 * aliased `alias`, AND-ing the entries. Placeholders start at $`firstParameter`; `text` is
 * '' when no entry filters anything. Throws a 400 JsonApiError for what parseFilter refuses
 * and for filters needing more parameters than PostgreSQL numbers.
 */
export function compileFilter(target: FilterTarget, params: Record<string, string | string[]>, options: { alias: string; firstParameter: number }): Sql {
  try {
    return compileFilterClauses(parseFilter(target, params), options);
  } catch (error) {
    if (error instanceof TooManyFilterValues) throw filterError(error.key, 'INVALID_FILTER_VALUE', 'The filters have too many values');
    throw error;
  }
}
