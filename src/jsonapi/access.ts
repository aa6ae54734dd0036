import { everyRow, noRow, type RowCondition } from '../db/sql/conditions.ts';
import { forbidden } from './errors.ts';
import type { IncludeTree } from './include.ts';
import { sqlColumn, type AnyResource, type StorefrontAction, type WriteInput } from './resource.ts';

/** Who is calling, as the access token says. */
export interface Access {
  clientId: string;
  /** The access token's own id (jti). */
  tokenId: string;
  /** Absent for integrations, which reach everything. */
  storefront?: { marketId: string; customerId: string | null };
  /** The token's application and owner, as Commerce Layer's claims (and a version's `who`) name them. */
  application?: { id: string; kind: string; public: boolean };
  owner?: { id: string; type: string };
}

export type Purpose = 'read' | 'write';

/**
 * Turns a resource's declared storefront rules into the condition on its rows that keeps a
 * sales channel token to its market, its customer and the states it may see (`read`) or
 * change (`write`); the store compiles it into the read's SQL (src/db/sql/conditions.ts).
 * Rows beyond it read as missing. Undefined: no restriction (integrations).
 */
export function accessWhere(
  registry: ReadonlyMap<string, AnyResource>,
  declaration: AnyResource,
  access: Access | undefined,
  purpose: Purpose,
): RowCondition | undefined {
  const storefront = access?.storefront;
  if (!storefront) return undefined;
  const rules = declaration.storefront?.rows;
  // A type without storefront rules has no row a sales channel reaches (a guest asking for customers, for instance).
  if (!rules) return noRow;
  if ('through' in rules) {
    // The rows whose owner (a line item's order) the token reaches.
    const relationship = declaration.relationships[rules.through]!;
    const owner = registry.get(relationship.types[0]!)!;
    if (!relationship.foreignKey) throw new Error(`${declaration.type}.${rules.through}: reaching rows through a relationship needs its foreign key`);
    return {
      related: { table: owner.table, localColumn: sqlColumn(relationship.foreignKey), remoteColumn: 'id' },
      where: accessWhere(registry, owner, access, purpose) ?? everyRow,
    };
  }
  const conditions: RowCondition[] = [];
  if (rules.market) {
    const column = sqlColumn(rules.market);
    const own: RowCondition = { column, is: storefront.marketId };
    conditions.push(rules.anyMarketWhenUnset ? { or: [own, { column, is: null }] } : own);
  }
  // A guest's rows are those without a customer.
  if (rules.customer) conditions.push({ column: sqlColumn(rules.customer), is: storefront.customerId });
  if (rules.isCustomer) conditions.push(storefront.customerId ? { column: 'id', is: storefront.customerId } : noRow);
  if (rules.status) conditions.push({ column: sqlColumn(rules.status.field), in: rules.status[purpose === 'read' ? 'readable' : 'writable'] });
  if (rules.hiddenWhenSet) conditions.push({ column: sqlColumn(rules.hiddenWhenSet), is: null });
  return { and: conditions };
}

/** Whether the token may take this action on this type at all (rows aside). */
export function mayTake(declaration: AnyResource, access: Access | undefined, action: StorefrontAction | 'list'): boolean {
  if (!access?.storefront) return true;
  return action !== 'list' && (declaration.storefront?.actions.includes(action) ?? false);
}

/** 403 unless the token may take the action; says which, never whether a record exists. */
export function assertMayTake(declaration: AnyResource, access: Access | undefined, action: StorefrontAction | 'list'): void {
  if (mayTake(declaration, access, action)) return;
  const what = action === 'list' ? `list ${declaration.type}` : `${action} ${declaration.type}`;
  throw forbidden(`Sales channel tokens may not ${what}${action === 'list' ? ': fetch single records by id' : ''}.`);
}

/** 403 when an include path reaches a type the token may not read (a sales channel asking for gateways). */
export function assertMayInclude(
  registry: ReadonlyMap<string, AnyResource>,
  declaration: AnyResource,
  include: IncludeTree,
  access: Access | undefined,
  path = '',
): void {
  if (!access?.storefront) return;
  for (const [name, below] of include) {
    const relationship = declaration.relationships[name]!;
    const childPath = path ? `${path}.${name}` : name;
    // Records this server does not keep: nothing is shown, so nothing to refuse.
    if (relationship.absent) continue;
    for (const type of relationship.types) {
      const target = registry.get(type);
      if (!target || !mayTake(target, access, 'retrieve')) {
        throw forbidden(`Sales channel tokens may not include ${childPath}.`, { parameter: 'include' });
      }
    }
    assertMayInclude(registry, registry.get(relationship.types[0]!)!, below, access, childPath);
  }
}

/**
 * Sales channel writes: refuses attributes and relationships that only integrations may
 * set, and fills the market and customer relationships in from the token.
 */
export function scopeWriteInput(declaration: AnyResource, input: WriteInput, access: Access | undefined, action: 'create' | 'update'): WriteInput {
  const storefront = access?.storefront;
  if (!storefront) return input;
  for (const name of Object.keys(input.attributes)) {
    if (declaration.attributes[name]?.prohibited) {
      throw forbidden(`${name} cannot be passed by sales channels.`, { pointer: `/data/attributes/${name}` });
    }
  }
  for (const name of Object.keys(input.relationships)) {
    if (declaration.relationships[name]?.prohibited) {
      throw forbidden(`${name} cannot be passed by sales channels.`, { pointer: `/data/relationships/${name}` });
    }
  }
  const rules = declaration.storefront?.rows;
  if (action !== 'create' || !rules || 'through' in rules) return input;
  const relationships = { ...input.relationships };
  for (const [name, relationship] of Object.entries(declaration.relationships)) {
    if (relationship.kind !== 'to_one' || !relationship.foreignKey) continue;
    if (relationship.foreignKey === rules.market) relationships[name] = { type: relationship.types[0]!, id: storefront.marketId };
    if (relationship.foreignKey === rules.customer) {
      relationships[name] = storefront.customerId ? { type: relationship.types[0]!, id: storefront.customerId } : null;
    }
  }
  return { ...input, relationships };
}
