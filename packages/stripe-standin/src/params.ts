import qs from 'qs';
import {
  parameterInvalid,
  parameterInvalidEmpty,
  parameterMissing,
  parameterUnknown,
} from './errors.ts';

/**
 * Stripe's v1 wire format: `application/x-www-form-urlencoded` with bracket nesting
 * (`metadata[order_id]=x`, `allowed_payment_method_types[0]=card`, `expand[]=latest_charge`).
 * Every scalar arrives as a string; the field parsers below give them types and produce
 * Stripe's validation errors.
 */

export type Params = Record<string, unknown>;

const QS_OPTIONS = {
  depth: 5,
  parameterLimit: 1000,
  // qs turns indexed arrays longer than this into objects; 100 is plenty for Stripe lists.
  arrayLimit: 100,
} as const;

export function parseForm(text: string): Params {
  return qs.parse(text, QS_OPTIONS) as Params;
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * What a field accepts, for the test that holds every endpoint's parameters to the
 * pinned SDK's `*Params` declarations (names, types, enum values, required ones).
 */
export type FieldInfo =
  | { kind: 'integer' | 'string' | 'boolean' | 'metadata' | 'list'; required?: boolean }
  | { kind: 'enum'; values: readonly string[]; required?: boolean }
  | { kind: 'object'; spec: Spec; required?: boolean };

/** Reads one parameter; `value` is undefined when the parameter was not sent. */
export type Field<T> = ((value: unknown, param: string) => T) & { info?: FieldInfo };
export type Spec = Record<string, Field<unknown>>;

/** Tags a field with what it accepts. */
export function described<T>(info: FieldInfo, field: (value: unknown, param: string) => T): Field<T> {
  return Object.assign(field, { info });
}

/** The parameters of a retrieve that takes nothing but `expand`. */
export function expandOnly() {
  return { expand: stringList() };
}
export type Parsed<S extends Spec> = { [K in keyof S]: S[K] extends Field<infer T> ? T : never };

/** Applies a spec to a params object, rejecting parameters the spec does not name. */
export function parseParams<S extends Spec>(spec: S, input: unknown, prefix?: string): Parsed<S> {
  const source = isPlainObject(input) ? input : {};
  for (const key of Object.keys(source)) {
    if (!Object.hasOwn(spec, key)) throw parameterUnknown(nested(prefix, key));
  }
  const out: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(spec)) {
    out[key] = field(Object.hasOwn(source, key) ? source[key] : undefined, nested(prefix, key));
  }
  return out as Parsed<S>;
}

function nested(prefix: string | undefined, key: string): string {
  return prefix ? `${prefix}[${key}]` : key;
}

function describe(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

// Stripe reads an empty string as "unset this parameter".
type Unset = null;

export function integer(options: { required: true; min?: number }): Field<number>;
export function integer(options?: { required?: false; min?: number }): Field<number | undefined>;
export function integer(options: { required?: boolean; min?: number } = {}): Field<number | undefined> {
  return described({ kind: 'integer', required: options.required === true }, (value, param) => {
    if (value === undefined) {
      if (options.required) throw parameterMissing(param);
      return undefined;
    }
    if (value === '') throw parameterInvalidEmpty(param);
    if (typeof value !== 'string' || !/^-?\d+$/.test(value) || !Number.isSafeInteger(Number(value))) {
      throw parameterInvalid(param, `Invalid integer: ${describe(value)}`, 'parameter_invalid_integer');
    }
    const n = Number(value);
    if (options.min !== undefined && n < options.min) {
      throw parameterInvalid(param, `This value must be greater than or equal to ${options.min}.`, 'parameter_invalid_integer');
    }
    return n;
  });
}

export function string(options: { required: true; maxLength?: number }): Field<string>;
export function string(options?: { required?: false; maxLength?: number }): Field<string | Unset | undefined>;
export function string(options: { required?: boolean; maxLength?: number } = {}): Field<string | Unset | undefined> {
  return described({ kind: 'string', required: options.required === true }, (value, param) => {
    if (value === undefined) {
      if (options.required) throw parameterMissing(param);
      return undefined;
    }
    if (typeof value !== 'string') throw parameterInvalid(param, `Invalid string: ${describe(value)}`);
    if (value === '') {
      if (options.required) throw parameterInvalidEmpty(param);
      return null;
    }
    if (options.maxLength !== undefined && value.length > options.maxLength) {
      // No code: Stripe's list of error codes has none for a string too long.
      throw parameterInvalid(param, `Invalid string: ${value.slice(0, 20)}...; must be at most ${options.maxLength} characters`);
    }
    return value;
  });
}

export function oneOf<const V extends string>(values: readonly V[]): Field<V | Unset | undefined> {
  return described({ kind: 'enum', values }, (value, param) => {
    if (value === undefined) return undefined;
    if (value === '') return null;
    if (typeof value === 'string' && (values as readonly string[]).includes(value)) return value as V;
    const list = values.length > 1 ? `${values.slice(0, -1).join(', ')}, or ${values.at(-1)}` : values.join('');
    throw parameterInvalid(param, `Invalid ${param}: must be one of ${list}`);
  });
}

export function boolean(options: { required?: boolean } = {}): Field<boolean | undefined> {
  return described({ kind: 'boolean', required: options.required === true }, (value, param) => {
    if (value === undefined) {
      if (options.required) throw parameterMissing(param);
      return undefined;
    }
    if (value === 'true') return true;
    if (value === 'false') return false;
    throw parameterInvalid(param, `Invalid boolean: ${describe(value)}`);
  });
}

/** Three letters, stored lowercase as Stripe does. */
export function currency(options: { required: true }): Field<string>;
export function currency(options?: { required?: false }): Field<string | undefined>;
export function currency(options: { required?: boolean } = {}): Field<string | undefined> {
  return described({ kind: 'string', required: options.required === true }, (value, param) => {
    if (value === undefined) {
      if (options.required) throw parameterMissing(param);
      return undefined;
    }
    if (value === '') throw parameterInvalidEmpty(param);
    if (typeof value !== 'string' || !/^[a-zA-Z]{3}$/.test(value)) {
      throw parameterInvalid(param, `Invalid currency: ${describe(value).toLowerCase()}. Stripe currently supports three-letter ISO currency codes.`);
    }
    return value.toLowerCase();
  });
}

export function email(): Field<string | Unset | undefined> {
  const base = string({ maxLength: 800 });
  return described({ kind: 'string' }, (value, param) => {
    const s = base(value, param);
    if (typeof s === 'string' && !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(s)) {
      throw parameterInvalid(param, `Invalid email address: ${s}`, 'email_invalid');
    }
    return s;
  });
}

/** Arrays come as `x[0]=a` or `x[]=a`; a bare `x=a` is not an array for Stripe either. */
export function stringList(): Field<string[] | undefined> {
  return described({ kind: 'list' }, (value, param) => {
    if (value === undefined) return undefined;
    if (!Array.isArray(value)) throw parameterInvalid(param, `Invalid array`);
    return value.map((item, i) => {
      if (typeof item !== 'string' || item === '') throw parameterInvalid(`${param}[${i}]`, `Invalid string: ${describe(item)}`);
      return item;
    });
  });
}

/**
 * Stripe's metadata rules: up to 50 keys, keys up to 40 characters, string values up to
 * 500. Empty-string values are kept: they mean "delete this key" on update. `metadata=`
 * (an empty string for the whole hash) clears it, returned as null.
 */
export function metadata(): Field<Record<string, string> | Unset | undefined> {
  return described({ kind: 'metadata' }, (value, param) => {
    if (value === undefined) return undefined;
    if (value === '') return null;
    if (!isPlainObject(value)) throw parameterInvalid(param, `Invalid object`);
    const entries = Object.entries(value);
    if (entries.length > 50) throw parameterInvalid(param, 'Metadata can have up to 50 keys.');
    const out: Record<string, string> = {};
    for (const [key, v] of entries) {
      const name = `${param}[${key}]`;
      if (key.length > 40) throw parameterInvalid(name, `Metadata keys can have up to 40 characters; "${key}" has ${key.length}.`);
      if (typeof v !== 'string') throw parameterInvalid(name, `Invalid value type: ${describe(v)} must be a string`);
      if (v.length > 500) throw parameterInvalid(name, `Metadata values can have up to 500 characters, but you passed in a value that is ${v.length} characters.`);
      out[key] = v;
    }
    return out;
  });
}

export function object<S extends Spec>(spec: S): Field<Parsed<S> | Unset | undefined> {
  return described({ kind: 'object', spec }, (value, param) => {
    if (value === undefined) return undefined;
    if (value === '') return null;
    if (!isPlainObject(value)) throw parameterInvalid(param, `Invalid object`);
    return parseParams(spec, value, param);
  });
}

/** Merges a metadata update into existing metadata: empty values delete keys. */
export function mergeMetadata(current: Record<string, string>, update: Record<string, string> | Unset | undefined): Record<string, string> {
  if (update === undefined) return current;
  if (update === null) return {};
  const merged = { ...current };
  for (const [key, value] of Object.entries(update)) {
    if (value === '') delete merged[key];
    else merged[key] = value;
  }
  return merged;
}
