import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import type { StripeContract, StripeEnums, StripeParams } from './contract-types.ts';

/**
 * Checks JSON values against the pinned `stripe` SDK's type declarations, read with the
 * TypeScript compiler API: a field the type requires (not `?`, possibly `| null`) must be
 * there, every field must have its declared type or string-literal value, and a field the
 * type does not declare is an error (objects with an index signature, such as metadata,
 * accept any key with the declared value type). Unions (expandable ids, discriminated
 * event types) pass when one member fits; the report names the closest member's problems.
 */

const here = path.dirname(fileURLToPath(import.meta.url));
const contractFile = path.join(here, 'contract-types.ts');

export type ContractName = keyof StripeContract;
export type ParamsName = keyof StripeParams;

/** One request parameter as the SDK declares it (`Emptyable<...>` and `undefined` set aside). */
export type ParamShape =
  | { kind: 'integer' | 'string' | 'boolean' | 'metadata' | 'list'; required: boolean }
  | { kind: 'enum'; values: string[]; open: boolean; required: boolean }
  | { kind: 'object'; params: Record<string, ParamShape>; required: boolean }
  /** Several shapes at once (e.g. `created`: a number or a range): not compared. */
  | { kind: 'other'; type: string; required: boolean };

export interface Contract {
  /** Problems of `value` against the named type, one line each with its JSON path; empty when it fits. */
  problems(name: ContractName, value: unknown): string[];
  /** The parameters an endpoint takes, by the name of the SDK's interface for them. */
  params(name: ParamsName): Record<string, ParamShape>;
  /** The string literals of a declared enum. */
  literals(name: keyof StripeEnums): string[];
  /** The pinned SDK's version, for messages. */
  sdkVersion: string;
}

export function loadContract(): Contract {
  const program = ts.createProgram([contractFile], {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2023,
    strict: true,
    skipLibCheck: true,
    noEmit: true,
    allowImportingTsExtensions: true,
    types: [],
  });
  const checker = program.getTypeChecker();
  const source = program.getSourceFile(contractFile);
  if (!source) throw new Error(`cannot read ${contractFile}`);
  const declared = new Map<string, ts.Type>();
  ts.forEachChild(source, (node) => {
    if (ts.isInterfaceDeclaration(node)) declared.set(node.name.text, checker.getTypeAtLocation(node));
  });
  const root = declared.get('StripeContract');
  const paramsRoot = declared.get('StripeParams');
  const enumsRoot = declared.get('StripeEnums');
  if (!root || !paramsRoot || !enumsRoot) throw new Error('StripeContract, StripeParams or StripeEnums not found');

  // The declarations the program resolved `stripe` to: their package names the version checked.
  const sdkFile = program.getSourceFiles().find((file) => /[\\/]node_modules[\\/]stripe[\\/]/.test(file.fileName));
  if (!sdkFile) throw new Error('the stripe package declarations were not found');
  const sdkRoot = sdkFile.fileName.slice(0, sdkFile.fileName.search(/[\\/]node_modules[\\/]stripe[\\/]/) + '/node_modules/stripe'.length);
  const sdkVersion = (JSON.parse(readFileSync(path.join(sdkRoot, 'package.json'), 'utf8')) as { version: string }).version;

  function typeOf(symbol: ts.Symbol): ts.Type {
    return checker.getTypeOfSymbol(symbol);
  }

  function describeType(type: ts.Type): string {
    return checker.typeToString(type, undefined, ts.TypeFormatFlags.NoTruncation).slice(0, 200);
  }

  function show(value: unknown): string {
    const text = JSON.stringify(value);
    return text === undefined ? 'undefined' : text.length > 60 ? `${text.slice(0, 57)}...` : text;
  }

  function isObjectLike(type: ts.Type): boolean {
    return (type.flags & ts.TypeFlags.Object) !== 0 || ((type.flags & ts.TypeFlags.Intersection) !== 0 && !isPrimitiveIntersection(type));
  }

  /** `string & {}` and the like (Stripe's OtherString): a branded primitive. */
  function isPrimitiveIntersection(type: ts.Type): boolean {
    return type.isIntersection() && type.types.some((t) => (t.flags & (ts.TypeFlags.String | ts.TypeFlags.Number)) !== 0);
  }

  /** Literal-valued properties of an object type (`object: 'charge'`, `type: 'refund.created'`). */
  function discriminantsFit(type: ts.Type, value: Record<string, unknown>): boolean {
    for (const key of ['object', 'type']) {
      const property = type.getProperty(key);
      if (!property || !Object.hasOwn(value, key)) continue;
      const propertyType = typeOf(property);
      if (propertyType.isStringLiteral() && propertyType.value !== value[key]) return false;
    }
    return true;
  }

  function check(value: unknown, type: ts.Type, at: string, out: string[]): void {
    const flags = type.flags;
    if (flags & (ts.TypeFlags.Any | ts.TypeFlags.Unknown)) return;
    if (type.isUnion()) {
      checkUnion(value, type, at, out);
      return;
    }
    if (flags & ts.TypeFlags.Null) {
      if (value !== null) out.push(`${at}: expected null, got ${show(value)}`);
      return;
    }
    if (flags & (ts.TypeFlags.Undefined | ts.TypeFlags.Void)) {
      if (value !== undefined) out.push(`${at}: not sent by Stripe, got ${show(value)}`);
      return;
    }
    if (type.isStringLiteral()) {
      if (value !== type.value) out.push(`${at}: expected ${JSON.stringify(type.value)}, got ${show(value)}`);
      return;
    }
    if (type.isNumberLiteral()) {
      if (value !== type.value) out.push(`${at}: expected ${type.value}, got ${show(value)}`);
      return;
    }
    if (flags & ts.TypeFlags.BooleanLiteral) {
      const expected = describeType(type) === 'true';
      if (value !== expected) out.push(`${at}: expected ${expected}, got ${show(value)}`);
      return;
    }
    if (flags & ts.TypeFlags.String || isPrimitiveIntersection(type)) {
      if (typeof value !== 'string') out.push(`${at}: expected a string, got ${show(value)}`);
      return;
    }
    if (flags & ts.TypeFlags.Number) {
      if (typeof value !== 'number') out.push(`${at}: expected a number, got ${show(value)}`);
      return;
    }
    if (flags & ts.TypeFlags.Boolean) {
      if (typeof value !== 'boolean') out.push(`${at}: expected a boolean, got ${show(value)}`);
      return;
    }
    if (checker.isArrayType(type) || checker.isTupleType(type)) {
      if (!Array.isArray(value)) {
        out.push(`${at}: expected an array, got ${show(value)}`);
        return;
      }
      const [element] = checker.getTypeArguments(type as ts.TypeReference);
      if (element) for (const [i, item] of value.entries()) check(item, element, `${at}[${i}]`, out);
      return;
    }
    if (isObjectLike(type)) {
      checkObject(value, type, at, out);
      return;
    }
    out.push(`${at}: the contract's type ${describeType(type)} is not understood by this checker`);
  }

  function checkObject(value: unknown, type: ts.Type, at: string, out: string[]): void {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      out.push(`${at}: expected an object (${describeType(type)}), got ${show(value)}`);
      return;
    }
    const record = value as Record<string, unknown>;
    const declared = new Set<string>();
    for (const property of checker.getPropertiesOfType(type)) {
      const name = property.getName();
      declared.add(name);
      const optional = (property.flags & ts.SymbolFlags.Optional) !== 0;
      const child = at === '' ? name : `${at}.${name}`;
      if (!Object.hasOwn(record, name)) {
        if (!optional) out.push(`${child}: missing (Stripe always sends it)`);
        continue;
      }
      // An optional property's type includes undefined, which a sent value never matches.
      check(record[name], typeOf(property), child, out);
    }
    const index = checker.getIndexInfosOfType(type).find((info) => (info.keyType.flags & ts.TypeFlags.String) !== 0);
    for (const key of Object.keys(record)) {
      if (declared.has(key)) continue;
      const child = at === '' ? key : `${at}.${key}`;
      if (index) check(record[key], index.type, child, out);
      else out.push(`${child}: not a field of ${describeType(type)} (Stripe does not send it)`);
    }
  }

  /** Whether a value of this kind could be of this (non-union) type at all. */
  function sameKind(value: unknown, type: ts.Type): boolean {
    const flags = type.flags;
    if (flags & (ts.TypeFlags.Any | ts.TypeFlags.Unknown)) return true;
    if (value === undefined) return (flags & (ts.TypeFlags.Undefined | ts.TypeFlags.Void)) !== 0;
    if (value === null) return (flags & ts.TypeFlags.Null) !== 0;
    if (typeof value === 'string') return (flags & (ts.TypeFlags.String | ts.TypeFlags.StringLiteral)) !== 0 || isPrimitiveIntersection(type);
    if (typeof value === 'number') return (flags & (ts.TypeFlags.Number | ts.TypeFlags.NumberLiteral)) !== 0;
    if (typeof value === 'boolean') return (flags & (ts.TypeFlags.Boolean | ts.TypeFlags.BooleanLiteral)) !== 0;
    if (Array.isArray(value)) return checker.isArrayType(type) || checker.isTupleType(type);
    return isObjectLike(type) && !checker.isArrayType(type) && !checker.isTupleType(type);
  }

  function checkUnion(value: unknown, type: ts.UnionType, at: string, out: string[]): void {
    let members = type.types.filter((member) => sameKind(value, member));
    if (members.length === 0) {
      out.push(`${at}: ${show(value)} is not a ${describeType(type)}`);
      return;
    }
    if (typeof value === 'string' && members.every((member) => member.isStringLiteral())) {
      if (!members.some((member) => (member as ts.StringLiteralType).value === value)) {
        out.push(`${at}: ${JSON.stringify(value)} is not one of ${members.map((m) => JSON.stringify((m as ts.StringLiteralType).value)).join(' | ')}`);
      }
      return;
    }
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
      const record = value as Record<string, unknown>;
      const fitting = members.filter((member) => discriminantsFit(member, record));
      if (fitting.length > 0) members = fitting;
    }
    let best: string[] | undefined;
    for (const member of members) {
      const problems: string[] = [];
      check(value, member, at, problems);
      if (problems.length === 0) return;
      if (!best || problems.length < best.length) best = problems;
    }
    out.push(...(best ?? []));
  }

  function paramShape(type: ts.Type, required: boolean): ParamShape {
    // Emptyable<T> is `T | ''`: the empty string unsets a parameter.
    const members = (type.isUnion() ? type.types : [type]).filter(
      (t) => (t.flags & (ts.TypeFlags.Undefined | ts.TypeFlags.Void)) === 0 && !(t.isStringLiteral() && t.value === ''),
    );
    const literals = members.filter((t) => t.isStringLiteral()) as ts.StringLiteralType[];
    const open = members.some((t) => isPrimitiveIntersection(t));
    if (literals.length > 0 && literals.length + (open ? 1 : 0) === members.length) {
      return { kind: 'enum', values: literals.map((t) => t.value).sort(), open, required };
    }
    const booleans = members.filter((t) => (t.flags & ts.TypeFlags.BooleanLiteral) !== 0);
    if (booleans.length === 2 && members.length === 2) return { kind: 'boolean', required };
    const [only] = members;
    if (members.length === 1 && only) {
      if (only.flags & ts.TypeFlags.Number) return { kind: 'integer', required };
      if (only.flags & ts.TypeFlags.String || isPrimitiveIntersection(only)) return { kind: 'string', required };
      if (checker.isArrayType(only)) return { kind: 'list', required };
      if (isObjectLike(only)) {
        if (checker.getIndexInfosOfType(only).length > 0) return { kind: 'metadata', required };
        return { kind: 'object', params: objectParams(only), required };
      }
    }
    return { kind: 'other', type: describeType(type), required };
  }

  function objectParams(type: ts.Type): Record<string, ParamShape> {
    const out: Record<string, ParamShape> = {};
    for (const property of checker.getPropertiesOfType(type)) {
      out[property.getName()] = paramShape(typeOf(property), (property.flags & ts.SymbolFlags.Optional) === 0);
    }
    return out;
  }

  return {
    sdkVersion,
    literals(name) {
      const property = enumsRoot.getProperty(name);
      if (!property) throw new Error(`StripeEnums has no ${name}`);
      const type = typeOf(property);
      return (type.isUnion() ? type.types : [type]).filter((t) => t.isStringLiteral()).map((t) => (t as ts.StringLiteralType).value);
    },
    params(name) {
      const property = paramsRoot.getProperty(name);
      if (!property) throw new Error(`StripeParams has no ${name}`);
      return objectParams(typeOf(property));
    },
    problems(name, value) {
      const property = root.getProperty(name);
      if (!property) throw new Error(`StripeContract has no ${name}`);
      const out: string[] = [];
      check(value, typeOf(property), name, out);
      return out;
    },
  };
}
