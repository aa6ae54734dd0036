import { forbidden } from './errors.ts';
import type { IncludeTree } from './include.ts';
import { camelCase, type AnyResource, type StorefrontAction, type WriteInput } from './resource.ts';

/** Who is calling, as the access token says. */
export interface Access {
  clientId: string;
  /** The access token's own id (jti). */
  tokenId: string;
  /** Absent for integrations, which reach everything. */
  storefront?: { marketId: string; customerId: string | null };
}

export type Purpose = 'read' | 'write';
type Where = Record<string, unknown>;

// A condition no row meets: a guest asking for customers, for instance.
const noRows: Where = { id: { in: [] } };

/**
 * Turns a resource's declared storefront rules into the Prisma condition that keeps a
 * sales channel token to its market, its customer and the states it may see or change.
 * Undefined: no restriction (integrations).
 */
export function accessWhere(
  registry: ReadonlyMap<string, AnyResource>,
  declaration: AnyResource,
  access: Access | undefined,
  purpose: Purpose,
): Where | undefined {
  const storefront = access?.storefront;
  if (!storefront) return undefined;
  const rules = declaration.storefront?.rows;
  if (!rules) return noRows;
  if ('through' in rules) {
    const relationship = declaration.relationships[rules.through]!;
    const owner = registry.get(relationship.types[0]!)!;
    return { [camelCase(rules.through)]: { is: accessWhere(registry, owner, access, purpose) ?? {} } };
  }
  const conditions: Where[] = [];
  if (rules.market) {
    const own = { [rules.market]: storefront.marketId };
    conditions.push(rules.anyMarketWhenUnset ? { OR: [own, { [rules.market]: null }] } : own);
  }
  if (rules.customer) conditions.push({ [rules.customer]: storefront.customerId });
  if (rules.isCustomer) conditions.push(storefront.customerId ? { id: storefront.customerId } : noRows);
  if (rules.status) conditions.push({ [rules.status.field]: { in: [...rules.status[purpose === 'read' ? 'readable' : 'writable']] } });
  if (rules.hiddenWhenSet) conditions.push({ [rules.hiddenWhenSet]: null });
  return { AND: conditions };
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
