import type { RowCondition } from '../db/sql/conditions.ts';
import { invalidInclude } from './errors.ts';
import { matchCondition, matchesRow } from './matching.ts';
import { serializeResource, type ResourceObject } from './serialize.ts';
import type { AnyResource, Row } from './resource.ts';

/** `order.line_items,payment_gateway` as a tree: relationship name -> what to include below it. */
export type IncludeTree = Map<string, IncludeTree>;

const limits = { paths: 20, depth: 3 } as const;

/** Parses and checks an include parameter against the declarations: unknown paths are a 400. */
export function parseInclude(value: string, declaration: AnyResource, registry: ReadonlyMap<string, AnyResource>): IncludeTree {
  const tree: IncludeTree = new Map();
  const paths = value.split(',').map((path) => path.trim()).filter(Boolean);
  if (paths.length > limits.paths) throw invalidInclude(`at most ${limits.paths} include paths`, { parameter: 'include' });
  for (const path of paths) {
    const segments = path.split('.');
    if (segments.length > limits.depth) throw invalidInclude(`${path} is nested deeper than ${limits.depth}`, { parameter: 'include' });
    let node = tree;
    let types: readonly string[] = [declaration.type];
    // Below a relationship to records this server does not keep: the names its schema allows there.
    let absentBelow: readonly string[] | undefined;
    for (const segment of segments) {
      const invalid = () => invalidInclude(`${path} is not a valid relationship of ${declaration.type}`, { parameter: 'include' });
      if (absentBelow) {
        // Nothing to include there: the path is valid, its node stays empty.
        if (!absentBelow.includes(segment)) throw invalid();
        absentBelow = [];
        continue;
      }
      // A polymorphic relationship's first type stands for all of them (today they share their relationships).
      const current = registry.get(types[0]!);
      const relationship = current && Object.hasOwn(current.relationships, segment) ? current.relationships[segment] : undefined;
      if (!relationship) throw invalid();
      let child = node.get(segment);
      if (!child) {
        child = new Map();
        node.set(segment, child);
      }
      node = child;
      types = relationship.types;
      if (relationship.absent) absentBelow = relationship.absent.below ?? [];
    }
  }
  return tree;
}

/** The reads an include needs (ResourceStore's); declared here so that this module does not import the store. */
export interface IncludeSource {
  declaration(type: string): AnyResource;
  readonly registry: ReadonlyMap<string, AnyResource>;
  findBy(type: string, field: string, values: readonly string[], access?: RowCondition): Promise<Row[]>;
  findWhere(type: string, condition: RowCondition, access?: RowCondition): Promise<Row[]>;
}

/** The declaration a row is shown as: its own, or for a polymorphic collection the one of the row's kind. */
export function shownDeclaration(registry: ReadonlyMap<string, AnyResource>, declaration: AnyResource, row: Row): AnyResource {
  return declaration.shownAs ? (registry.get(declaration.shownAs(row)) ?? declaration) : declaration;
}

interface Node {
  declaration: AnyResource;
  row: Row;
  object: ResourceObject;
}

/**
 * Adds relationship linkage and the `included` resources for an include tree. Each
 * relationship at each level costs one query (one per type for polymorphic ones), however
 * many rows the page has: never a query per row.
 */
export async function compound(
  store: IncludeSource,
  primary: Node[],
  tree: IncludeTree,
  fields: ReadonlyMap<string, ReadonlySet<string>>,
  apiBase: string,
  /** The caller's reach per type (undefined: everything); rows beyond it are left out, as the related routes leave them out. */
  reach: (declaration: AnyResource) => RowCondition | undefined = () => undefined,
): Promise<ResourceObject[]> {
  const seen = new Map<string, ResourceObject>(primary.map((node) => [`${node.object.type}:${node.object.id}`, node.object]));
  const included: ResourceObject[] = [];

  const place = (collection: AnyResource, row: Row): Node => {
    const declaration = shownDeclaration(store.registry, collection, row);
    const key = `${declaration.type}:${row.id}`;
    let object = seen.get(key);
    if (!object) {
      object = serializeResource(declaration, row, apiBase, fields.get(declaration.type));
      seen.set(key, object);
      included.push(object);
    }
    return { declaration, row, object };
  };

  async function expand(nodes: Node[], subtree: IncludeTree): Promise<void> {
    for (const [name, children] of subtree) {
      const next: Node[] = [];
      const owners = nodes.filter((node) => Object.hasOwn(node.declaration.relationships, name));
      if (owners.length === 0) continue;
      const relationship = owners[0]!.declaration.relationships[name]!;
      if (relationship.absent) {
        for (const owner of owners) setLinkage(owner.object, name, relationship.kind === 'to_many' ? [] : null);
        continue;
      }
      if (relationship.kind === 'to_many' && relationship.matching) {
        const match = relationship.matching;
        const type = relationship.types[0]!;
        const rows = await store.findWhere(type, { or: owners.map((owner) => matchCondition(match, owner.row)) }, reach(store.declaration(type)));
        const nodes = rows.map((row) => place(store.declaration(type), row));
        for (const owner of owners) {
          const own = nodes.filter((node) => matchesRow(match, owner.row, node.row));
          setLinkage(owner.object, name, own.map((node) => ({ type: node.object.type, id: node.object.id })));
        }
        if (children.size > 0) await expand(uniqueNodes(nodes), children);
        continue;
      }
      if (relationship.kind === 'to_one') {
        const linkages = owners.map((node) => {
          const declared = node.declaration.relationships[name]!;
          if (declared.linkage) return declared.linkage(node.row);
          const id = declared.foreignKey ? node.row[declared.foreignKey] : undefined;
          return typeof id === 'string' ? { type: declared.types[0]!, id } : null;
        });
        const found = new Map<string, Node>();
        for (const type of new Set(linkages.flatMap((linkage) => (linkage ? [linkage.type] : [])))) {
          const ids = linkages.flatMap((linkage) => (linkage?.type === type ? [linkage.id] : []));
          for (const row of await store.findBy(type, 'id', ids, reach(store.declaration(type)))) found.set(`${type}:${row.id}`, place(store.declaration(type), row));
        }
        owners.forEach((node, index) => {
          const linkage = linkages[index];
          const target = linkage ? found.get(`${linkage.type}:${linkage.id}`) : undefined;
          setLinkage(node.object, name, target ? { type: target.object.type, id: target.object.id } : null);
          if (target) next.push(target);
        });
      } else {
        const type = relationship.types[0]!;
        const rows = relationship.inverseKey ? await store.findBy(type, relationship.inverseKey, owners.map((node) => node.row.id), reach(store.declaration(type))) : [];
        const byOwner = new Map<string, Node[]>();
        for (const row of rows) {
          const node = place(store.declaration(type), row);
          const owner = String(row[relationship.inverseKey!]);
          byOwner.set(owner, [...(byOwner.get(owner) ?? []), node]);
          next.push(node);
        }
        for (const owner of owners) {
          setLinkage(owner.object, name, (byOwner.get(owner.row.id) ?? []).map((node) => ({ type: node.object.type, id: node.object.id })));
        }
      }
      if (children.size > 0) await expand(uniqueNodes(next), children);
    }
  }

  await expand(primary, tree);
  return included;
}

function uniqueNodes(nodes: Node[]): Node[] {
  return [...new Map(nodes.map((node) => [`${node.object.type}:${node.object.id}`, node])).values()];
}

function setLinkage(object: ResourceObject, name: string, data: ResourceObject['relationships'][string]['data']): void {
  const relationship = object.relationships[name];
  // A sparse fieldset may have left the relationship out: then it stays out.
  if (relationship) relationship.data = data;
}
