import { combine, relatedRowsQuery } from './conditions.ts';
import { qualified, quoted } from './identifiers.ts';
import { maxParameterNumber, parameterCasts, type Sql, type ValueType } from './values.ts';

/**
 * Compiles Commerce Layer's `filter[q][...]` (Ransack predicates), once the JSON:API layer
 * (src/jsonapi/filter.ts) has resolved each key to a predicate and attributes and parsed
 * its values, into a parameterised boolean SQL expression. Identifiers come only from the
 * declared target; values go only into the parameters. Semantics follow Ransack on
 * PostgreSQL: case-insensitive matching (ILIKE), relationship conditions as on its LEFT
 * OUTER JOIN.
 */

export interface FilterableField {
  /** JSON:API attribute name. */
  name: string;
  /** SQL column, already snake_case. */
  column: string;
  type: ValueType;
  /** The column holds another type than the API shows (an order's integer number, a string in the API): compared as its text. */
  asText?: boolean;
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

/** The table a filter runs over, the attributes it may name and the relationships it may reach. */
export interface FilterTarget {
  table: string;
  fields: FilterableField[];
  relationships: Record<string, FilterRelationship>;
}

/** An attribute a filter key names: a column of the base table or of a related one. */
export interface FilterOperand {
  /** As written in the key, e.g. `line_items_sku_code`. */
  name: string;
  field: FilterableField;
  /** Absent for the base table's own columns. */
  via?: FilterRelationship;
}

/** One `filter[q][key]`, resolved and parsed: its predicate on each operand, OR-ed. */
export interface FilterClause {
  /** The key as the client wrote it, for errors. */
  key: string;
  predicate: string;
  /** The value of a flag predicate (`_null=false` inverts `_null`). */
  flag: boolean;
  /** Per operand, its parameter values, parsed for its type (and made LIKE patterns where the predicate says). */
  terms: { operand: FilterOperand; values: readonly unknown[] }[];
}

/** The filters need more parameters than PostgreSQL numbers ($65535). */
export class TooManyFilterValues extends Error {
  constructor(readonly key: string) {
    super(`filter ${key}: more than ${maxParameterNumber} parameters`);
  }
}

// ---------------------------------------------------------------------------------------
// Predicates

interface BuildArguments {
  /** Placeholders (with casts) of the values, in order. */
  parameters: string[];
  flag: boolean;
  type: ValueType;
}

/** A predicate as the JSON:API layer checks a key against it. */
export interface FilterPredicate {
  /** Field types it applies to; anything else is FILTER_NOT_ALLOWED. */
  types: readonly ValueType[];
  /** One value, a comma-separated list, a boolean flag, or a JSON object. */
  takes: 'one' | 'list' | 'flag' | 'json';
  /** Turns a parsed string into the parameter (LIKE patterns); undefined when invalid. */
  pattern?: (value: string) => string | undefined;
}

interface Predicate extends FilterPredicate {
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

const scalar: readonly ValueType[] = ['string', 'integer', 'float', 'boolean', 'datetime'];
const textual: readonly ValueType[] = ['string'];

/** A test of a column against one value, and its negation. */
interface Comparison {
  types: readonly ValueType[];
  pattern?: (value: string) => string | undefined;
  test(column: string, parameter: string): string;
  negation?(column: string, parameter: string): string;
}

function escapeLike(value: string): string {
  return value.replace(/[\\%_]/g, '\\$&');
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
const isBlank = (column: string, type: ValueType) => (type === 'string' ? `(${column} IS NULL OR ${column} = '')` : isNull(column));
const isPresent = (column: string, type: ValueType) =>
  type === 'string' ? `(${column} IS NOT NULL AND ${column} <> '')` : isNotNull(column);

/** A predicate taking true/false: `false` asks for the opposite (Ransack: `reference_null=false` is IS NOT NULL). */
function flag(
  types: readonly ValueType[],
  whenTrue: (column: string, type: ValueType) => string,
  whenFalse: (column: string, type: ValueType) => string,
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

/** The predicates this compiler understands, longest first (so `_not_eq_all` wins over `_eq_all` and `_eq`). */
export const filterPredicates: readonly string[] = [...predicates.keys()].sort((a, b) => b.length - a.length);

/** The predicate of this name, or undefined. */
export function filterPredicate(name: string): FilterPredicate | undefined {
  return predicates.get(name);
}

// ---------------------------------------------------------------------------------------
// Compilation

class FilterCompiler {
  readonly values: unknown[] = [];
  private readonly placeholders = new Map<string, string>();
  private relatedAliases = 0;

  constructor(
    private readonly alias: string,
    private readonly firstParameter: number,
  ) {}

  clause({ key, predicate: name, flag: flagValue, terms }: FilterClause): string {
    const predicate = predicates.get(name);
    if (!predicate) throw new Error(`unknown filter predicate ${name}`);
    const conditions = terms.map(({ operand, values }) => {
      // Objects only reach jcont, whose parameter is jsonb.
      const cast = parameterCasts[operand.field.type];
      const args: BuildArguments = { parameters: values.map((value) => this.placeholder(key, value, cast)), flag: flagValue, type: operand.field.type };
      return this.condition(predicate, operand, args);
    });
    return combine(conditions, 'OR');
  }

  /** One parameter per distinct value and cast, so `a_or_b_eq=x` reuses $1. */
  private placeholder(key: string, value: unknown, cast: string): string {
    const identity = `${cast}|${typeof value}|${String(value)}`;
    let placeholder = this.placeholders.get(identity);
    if (placeholder === undefined) {
      const number = this.firstParameter + this.values.length;
      if (number > maxParameterNumber) throw new TooManyFilterValues(key);
      this.values.push(value);
      placeholder = `$${number}${cast}`;
      this.placeholders.set(identity, placeholder);
    }
    return placeholder;
  }

  private condition(predicate: Predicate, { field, via }: FilterOperand, args: BuildArguments): string {
    const expression = (alias: string) => (field.asText ? `CAST(${qualified(alias, field.column)} AS text)` : qualified(alias, field.column));
    if (!via) return predicate.build(expression(this.alias), args);
    const alias = this.nextAlias();
    const scope = (via.scope ?? []).map(({ column, value }) => ` AND ${qualified(alias, column)} = ${this.placeholder('scope', value, '')}`);
    const related = `${relatedRowsQuery(via, this.alias, alias)}${scope.join('')}`;
    const column = expression(alias);
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
 * The clauses as one boolean SQL expression over the base table aliased `alias`, AND-ing
 * them. Placeholders start at $`firstParameter`; `text` is '' when there is no clause.
 * Throws TooManyFilterValues past $65535.
 */
export function compileFilterClauses(clauses: readonly FilterClause[], options: { alias: string; firstParameter: number }): Sql {
  if (!Number.isSafeInteger(options.firstParameter) || options.firstParameter < 1) {
    throw new Error(`firstParameter must be a positive integer, got ${options.firstParameter}`);
  }
  quoted(options.alias);
  const compiler = new FilterCompiler(options.alias, options.firstParameter);
  const text = clauses.map((clause) => compiler.clause(clause)).join(' AND ');
  return { text, values: compiler.values };
}
