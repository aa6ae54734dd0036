import { JsonApiError } from './errors.ts';
import type { AttributeType } from './resource.ts';

/**
 * Compiles Commerce Layer's `filter[q][...]` (Ransack predicates) into a parameterised SQL
 * WHERE fragment. Identifiers come only from the declared target; values go only into
 * `values`. Semantics follow Ransack on PostgreSQL: case-insensitive matching (ILIKE), blank
 * values ignored, relationship conditions as on its LEFT OUTER JOIN.
 */

export interface FilterableField {
  /** JSON:API attribute name. */
  name: string;
  /** SQL column, already snake_case. */
  column: string;
  type: AttributeType;
}

export interface FilterRelationship {
  /** SQL table of the related resource. */
  table: string;
  kind: 'to_one' | 'to_many';
  /** Both kinds join as related.<remoteColumn> = base.<localColumn>. */
  localColumn: string;
  remoteColumn: string;
  fields: FilterableField[];
  /** Equalities every related row must meet (the related resource's visible rows, e.g. kind = 'captures'). */
  scope?: { column: string; value: string | number | boolean }[];
}

export interface FilterTarget {
  table: string;
  fields: FilterableField[];
  relationships: Record<string, FilterRelationship>;
}

export interface SqlFragment {
  text: string;
  values: unknown[];
}

/** Most values one `_in`, `_any` or `_all` filter takes. */
export const maxFilterValues = 100;
// Longer keys are not a real filter; the cap keeps resolving `_or_` splits trivially cheap.
const maxKeyLength = 1000;
// PostgreSQL's wire protocol numbers parameters up to $65535.
const maxParameterNumber = 65_535;

// ---------------------------------------------------------------------------------------
// SQL pieces

const identifierPattern = /^[a-z_][a-z0-9_]*$/;

function quote(name: string): string {
  // Declarations are code, so a bad identifier is a programming error, not a client one.
  if (!identifierPattern.test(name)) throw new Error(`unsafe SQL identifier ${JSON.stringify(name)}`);
  return `"${name}"`;
}

/** ( a OR b ) with parentheses only when there is more than one part. */
function combine(parts: string[], operator: 'AND' | 'OR'): string {
  return parts.length === 1 ? parts[0]! : `(${parts.join(` ${operator} `)})`;
}

function escapeLike(value: string): string {
  return value.replace(/[\\%_]/g, '\\$&');
}

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

/** How a filter value of each scalar type is parsed, and the cast its parameter gets. */
const scalarTypes: Record<Exclude<AttributeType, 'object'>, { expected: string; cast: string; parse(raw: string): unknown }> = {
  string: { expected: 'text', cast: '', parse: (raw) => (isText(raw) ? raw : undefined) },
  integer: {
    expected: 'an integer',
    // bigint, not the column's int4, so an out-of-range number compares instead of erroring.
    cast: '::bigint',
    parse: (raw) => (/^-?\d{1,16}$/.test(raw) && Number.isSafeInteger(Number(raw)) ? Number(raw) : undefined),
  },
  float: {
    expected: 'a number',
    cast: '::double precision',
    parse: (raw) => {
      if (!/^-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?$/.test(raw)) return undefined;
      const value = Number(raw);
      return Number.isFinite(value) ? value : undefined;
    },
  },
  boolean: { expected: 'true or false', cast: '::boolean', parse: parseBoolean },
  // Values are normalised to UTC and the columns hold UTC without a zone: comparing as
  // plain timestamps keeps the result independent of the database session's TimeZone.
  datetime: { expected: 'an ISO 8601 date or date-time such as 2024-01-31T12:00:00Z', cast: '::timestamp', parse: parseDateTime },
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
// Predicates

interface BuildArguments {
  /** Placeholders (with casts) of the values, in order. */
  parameters: string[];
  /** The value of a flag predicate (`_null=false` inverts `_null`). */
  flag: boolean;
  type: AttributeType;
}

interface Predicate {
  /** Field types it applies to; anything else is FILTER_NOT_ALLOWED. */
  types: readonly AttributeType[];
  /** One value, a comma-separated list, a boolean flag, or a JSON object. */
  takes: 'one' | 'list' | 'flag' | 'json';
  /** Turns a parsed string into the parameter (LIKE patterns); undefined when invalid. */
  pattern?: (value: string) => string | undefined;
  /** The condition on a column expression. */
  build(column: string, args: BuildArguments): string;
  /**
   * For a negated predicate, its positive form: on a to-many relationship the filter means
   * "no related row matches", i.e. NOT EXISTS (positive), not "some row differs".
   */
  positive?: Predicate;
  /** Whether the condition holds for a missing related row (Ransack's join gives it NULLs). */
  holdsWhenMissing?(flag: boolean): boolean;
}

const scalar: readonly AttributeType[] = ['string', 'integer', 'float', 'boolean', 'datetime'];
const textual: readonly AttributeType[] = ['string'];

/** A test of a column against one value, and its negation. */
interface Comparison {
  types: readonly AttributeType[];
  pattern?: (value: string) => string | undefined;
  test(column: string, parameter: string): string;
  negation?(column: string, parameter: string): string;
}

const operator = (sql: string) => (column: string, parameter: string) => `${column} ${sql} ${parameter}`;
const ilike = (negated: boolean) => (column: string, parameter: string) =>
  `${column} ${negated ? 'NOT ILIKE' : 'ILIKE'} ${parameter} ESCAPE '\\'`;
const likeComparison = (pattern: (value: string) => string): Comparison => ({
  types: textual,
  pattern,
  test: ilike(false),
  negation: ilike(true),
});

/** A LIKE pattern taken as is must not end with a lone escape character, which PostgreSQL rejects. */
function validLikePattern(value: string): string | undefined {
  for (let index = 0; index < value.length; index += value[index] === '\\' ? 2 : 1) {
    if (value[index] === '\\' && index === value.length - 1) return undefined;
  }
  return value;
}

const comparisons = {
  eq: { types: scalar, test: operator('='), negation: operator('<>') },
  lt: { types: scalar, test: operator('<') },
  lteq: { types: scalar, test: operator('<=') },
  gt: { types: scalar, test: operator('>') },
  gteq: { types: scalar, test: operator('>=') },
  cont: likeComparison((value) => `%${escapeLike(value)}%`),
  start: likeComparison((value) => `${escapeLike(value)}%`),
  end: likeComparison((value) => `%${escapeLike(value)}`),
  // Ransack's matches: the value is the pattern; the default LIKE escape (\) still applies.
  matches: {
    types: textual,
    pattern: validLikePattern,
    test: (column: string, parameter: string) => `${column} ILIKE ${parameter}`,
    negation: (column: string, parameter: string) => `${column} NOT ILIKE ${parameter}`,
  },
} satisfies Record<string, Comparison>;

type Quantifier = 'one' | 'any' | 'all';
// NOT (a OR b) = NOT a AND NOT b: the positive form of a negated _any is the _all, and back.
const dual: Record<Quantifier, Quantifier> = { one: 'one', any: 'all', all: 'any' };

function compare(comparison: Comparison, quantifier: Quantifier, negated = false): Predicate {
  const test = negated ? comparison.negation! : comparison.test;
  return {
    types: comparison.types,
    takes: quantifier === 'one' ? 'one' : 'list',
    ...(comparison.pattern ? { pattern: comparison.pattern } : {}),
    build: (column, { parameters }) =>
      combine(parameters.map((parameter) => test(column, parameter)), quantifier === 'all' ? 'AND' : 'OR'),
    ...(negated ? { positive: compare(comparison, dual[quantifier]) } : {}),
  };
}

const inList: Predicate = {
  types: scalar,
  takes: 'list',
  build: (column, { parameters }) => `${column} IN (${parameters.join(', ')})`,
};
const notInList: Predicate = {
  types: scalar,
  takes: 'list',
  build: (column, { parameters }) => `${column} NOT IN (${parameters.join(', ')})`,
  positive: inList,
};

/** name, name_any, name_all and, when there is a negation, its three forms too. */
function family(name: string, comparison: Comparison, negatedName?: string): [string, Predicate][] {
  const entries: [string, Predicate][] = [
    [name, compare(comparison, 'one')],
    [`${name}_any`, compare(comparison, 'any')],
    [`${name}_all`, compare(comparison, 'all')],
  ];
  if (negatedName) {
    entries.push(
      [negatedName, compare(comparison, 'one', true)],
      [`${negatedName}_any`, compare(comparison, 'any', true)],
      [`${negatedName}_all`, compare(comparison, 'all', true)],
    );
  }
  return entries;
}

const isNull = (column: string) => `${column} IS NULL`;
const isNotNull = (column: string) => `${column} IS NOT NULL`;
// Only text has an "empty" value; comparing another type with '' would be a type error.
const isBlank = (column: string, type: AttributeType) => (type === 'string' ? `(${column} IS NULL OR ${column} = '')` : isNull(column));
const isPresent = (column: string, type: AttributeType) =>
  type === 'string' ? `(${column} IS NOT NULL AND ${column} <> '')` : isNotNull(column);

/** A predicate taking true/false: `false` asks for the opposite (Ransack: `reference_null=false` is IS NOT NULL). */
function flag(
  types: readonly AttributeType[],
  whenTrue: (column: string, type: AttributeType) => string,
  whenFalse: (column: string, type: AttributeType) => string,
  holdsWhenMissing: (flag: boolean) => boolean,
): Predicate {
  return {
    types,
    takes: 'flag',
    build: (column, args) => (args.flag ? whenTrue : whenFalse)(column, args.type),
    holdsWhenMissing,
  };
}

const predicates = new Map<string, Predicate>([
  ...family('eq', comparisons.eq, 'not_eq'),
  // The list forms of equality read better, and plan better, as IN / NOT IN.
  ['eq_any', inList],
  ['in', inList],
  ['not_eq_all', notInList],
  ['not_in', notInList],
  ...family('lt', comparisons.lt),
  ...family('lteq', comparisons.lteq),
  ...family('gt', comparisons.gt),
  ...family('gteq', comparisons.gteq),
  ...family('cont', comparisons.cont, 'not_cont'),
  ...family('start', comparisons.start, 'not_start'),
  ...family('end', comparisons.end, 'not_end'),
  ...family('matches', comparisons.matches, 'does_not_match'),
  ['null', flag(scalar, isNull, isNotNull, (on) => on)],
  ['not_null', flag(scalar, isNotNull, isNull, (on) => !on)],
  ['present', flag(scalar, isPresent, isBlank, (on) => !on)],
  ['blank', flag(scalar, isBlank, isPresent, (on) => on)],
  ['true', flag(['boolean'], (column) => `${column} = TRUE`, (column) => `${column} <> TRUE`, () => false)],
  ['false', flag(['boolean'], (column) => `${column} = FALSE`, (column) => `${column} <> FALSE`, () => false)],
  ['jcont', { types: ['object'], takes: 'json', build: (column, { parameters }) => `${column} @> ${parameters[0]!}` }],
]);

// Longest first, so `_not_eq_all` wins over `_eq_all` and `_eq`, `_not_null` over `_null`.
const predicateNames = [...predicates.keys()].sort((a, b) => b.length - a.length);

/** The predicates this compiler understands, longest first. */
export const filterPredicates: readonly string[] = predicateNames;

// ---------------------------------------------------------------------------------------
// Attributes

/** An attribute a filter key can name: a column of the base table or of a related one. */
interface Operand {
  /** As written in the key, e.g. `line_items_sku_code`. */
  name: string;
  field: FilterableField;
  /** Absent for the base table's own columns. */
  via?: FilterRelationship;
}

function withId(fields: readonly FilterableField[]): FilterableField[] {
  // Every table here keys on a text `id`; declaring it is optional.
  return fields.some((field) => field.name === 'id') ? [...fields] : [...fields, { name: 'id', column: 'id', type: 'string' }];
}

/** Every name a filter may use on this target, resolved once; earlier entries win a tie. */
function attributeNames(target: FilterTarget): Map<string, Operand> {
  const names = new Map<string, Operand>();
  const add = (operand: Operand) => {
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
function resolveAttributes(part: string, names: ReadonlyMap<string, Operand>): Operand[] | undefined {
  const direct = names.get(part);
  if (direct) return [direct];
  const separators: number[] = [];
  for (let index = part.indexOf('_or_'); index !== -1; index = part.indexOf('_or_', index + 1)) separators.push(index);
  // For each start: the attribute found there, and where the rest of the list starts (null: it ends).
  const resolved = new Map<number, { operand: Operand; next: number | null }>();
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
  const operands: Operand[] = [];
  for (let step = resolved.get(0); step; step = step.next === null ? undefined : resolved.get(step.next)) {
    operands.push(step.operand);
  }
  return operands.length > 0 ? operands : undefined;
}

// ---------------------------------------------------------------------------------------
// Compilation

function filterError(key: string, code: 'FILTER_NOT_ALLOWED' | 'INVALID_FILTER_VALUE', detail: string): JsonApiError {
  return new JsonApiError(400, [{ title: 'Invalid filter', detail, code, source: { parameter: `filter[q][${key}]` } }]);
}

function shown(value: string): string {
  return JSON.stringify(value.length > 100 ? `${value.slice(0, 100)}…` : value);
}

class FilterCompiler {
  readonly values: unknown[] = [];
  private readonly placeholders = new Map<string, string>();
  private readonly names: Map<string, Operand>;
  private relatedAliases = 0;

  constructor(
    target: FilterTarget,
    private readonly alias: string,
    private readonly firstParameter: number,
  ) {
    this.names = attributeNames(target);
  }

  /** The condition for one `filter[q][key]`, or null when its value is blank (Ransack ignores those). */
  entry(key: string, raw: unknown): string | null {
    const { predicate, name, operands } = this.parseKey(key);
    for (const { name: attribute, field } of operands) {
      if (!predicate.types.includes(field.type)) {
        throw filterError(key, 'FILTER_NOT_ALLOWED', `_${name} does not apply to ${attribute} (${field.type})`);
      }
    }
    const values = this.rawValues(key, raw, predicate);
    if (values.length === 0) return null;
    let flagValue = true;
    if (predicate.takes === 'flag') {
      const parsed = parseBoolean(values[0]!);
      if (parsed === undefined) throw filterError(key, 'INVALID_FILTER_VALUE', `${shown(values[0]!)} is not true or false`);
      flagValue = parsed;
    }
    const conditions = operands.map((operand) => {
      const args: BuildArguments = { parameters: this.parameters(key, predicate, operand.field, values), flag: flagValue, type: operand.field.type };
      return this.condition(predicate, operand, args);
    });
    return combine(conditions, 'OR');
  }

  private parseKey(key: string): { predicate: Predicate; name: string; operands: Operand[] } {
    if (key.length > maxKeyLength) throw filterError(key.slice(0, 100), 'FILTER_NOT_ALLOWED', 'The filter name is too long');
    let unresolved: string | undefined;
    for (const name of predicateNames) {
      if (!key.endsWith(`_${name}`) || key.length === name.length + 1) continue;
      const part = key.slice(0, -(name.length + 1));
      const operands = resolveAttributes(part, this.names);
      // A shorter predicate may still fit: `x_not_null` is `x_not` + `_null` if `x` is unknown.
      if (operands) return { predicate: predicates.get(name)!, name, operands };
      unresolved ??= part;
    }
    if (unresolved === undefined) {
      throw filterError(key, 'FILTER_NOT_ALLOWED', `${key} does not end with a known predicate such as _eq, _in or _cont`);
    }
    const what = unresolved.includes('_or_') ? 'does not name filterable attributes' : 'is not a filterable attribute';
    throw filterError(key, 'FILTER_NOT_ALLOWED', `${unresolved} ${what}`);
  }

  /** The value strings: a list splits on commas (and a repeated key); blanks are dropped. */
  private rawValues(key: string, raw: unknown, predicate: Predicate): string[] {
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

  /** Parses the values for this field's type and returns their placeholders. */
  private parameters(key: string, predicate: Predicate, field: FilterableField, values: string[]): string[] {
    if (predicate.takes === 'flag') return [];
    if (predicate.takes === 'json') {
      const json = parseJsonObject(values[0]!);
      if (json === undefined) throw filterError(key, 'INVALID_FILTER_VALUE', `${shown(values[0]!)} is not a JSON object`);
      return [this.placeholder(key, json, '::jsonb')];
    }
    // Predicate types exclude objects from everything but jcont.
    const type = scalarTypes[field.type as Exclude<AttributeType, 'object'>];
    return values.map((raw) => {
      let value = type.parse(raw);
      if (value === undefined) throw filterError(key, 'INVALID_FILTER_VALUE', `${shown(raw)} is not ${type.expected}`);
      if (predicate.pattern) {
        value = predicate.pattern(value as string);
        if (value === undefined) throw filterError(key, 'INVALID_FILTER_VALUE', `${shown(raw)} is not a valid LIKE pattern: it ends with the escape character \\`);
      }
      return this.placeholder(key, value, type.cast);
    });
  }

  /** One parameter per distinct value and cast, so `a_or_b_eq=x` reuses $1. */
  private placeholder(key: string, value: unknown, cast: string): string {
    const identity = `${cast}|${typeof value}|${String(value)}`;
    let placeholder = this.placeholders.get(identity);
    if (placeholder === undefined) {
      const number = this.firstParameter + this.values.length;
      if (number > maxParameterNumber) throw filterError(key, 'INVALID_FILTER_VALUE', 'The filters have too many values');
      this.values.push(value);
      placeholder = `$${number}${cast}`;
      this.placeholders.set(identity, placeholder);
    }
    return placeholder;
  }

  private condition(predicate: Predicate, { field, via }: Operand, args: BuildArguments): string {
    if (!via) return predicate.build(`${quote(this.alias)}.${quote(field.column)}`, args);
    const alias = this.nextAlias();
    const scope = (via.scope ?? []).map(({ column, value }) => ` AND ${quote(alias)}.${quote(column)} = ${this.placeholder('scope', value, '')}`);
    const related = `SELECT 1 FROM ${quote(via.table)} ${quote(alias)} WHERE ${quote(alias)}.${quote(via.remoteColumn)} = ${quote(this.alias)}.${quote(via.localColumn)}${scope.join('')}`;
    const column = `${quote(alias)}.${quote(field.column)}`;
    if (via.kind === 'to_many' && predicate.positive) {
      return `NOT EXISTS (${related} AND ${predicate.positive.build(column, args)})`;
    }
    const exists = `EXISTS (${related} AND ${predicate.build(column, args)})`;
    // `line_items_id_null=true` means "has none", as the LEFT JOIN behind Ransack gives it.
    return predicate.holdsWhenMissing?.(args.flag) ? `(${exists} OR NOT EXISTS (${related}))` : exists;
  }

  private nextAlias(): string {
    let alias: string;
    do alias = `r${++this.relatedAliases}`;
    while (alias === this.alias);
    return alias;
  }
}

/**
 * Compiles `filter[q]` entries (keyed by predicate, e.g. `reference_or_reference_origin_eq`)
 * into a boolean SQL expression over the base table aliased `alias`, AND-ing the entries.
 * Placeholders start at $`firstParameter`; `text` is '' when no entry filters anything.
 * Throws a 400 JsonApiError for an unknown or disallowed filter or a value of the wrong type.
 */
export function compileFilter(
  target: FilterTarget,
  params: Record<string, string | string[]>,
  options: { alias: string; firstParameter: number },
): SqlFragment {
  if (!Number.isSafeInteger(options.firstParameter) || options.firstParameter < 1) {
    throw new Error(`firstParameter must be a positive integer, got ${options.firstParameter}`);
  }
  quote(options.alias);
  const compiler = new FilterCompiler(target, options.alias, options.firstParameter);
  const conditions: string[] = [];
  for (const [key, raw] of Object.entries(params)) {
    const condition = compiler.entry(key, raw);
    if (condition !== null) conditions.push(condition);
  }
  return { text: conditions.join(' AND '), values: compiler.values };
}
