import { columnOf } from './resource.ts';
import type { AnyResource } from './store.ts';

export interface ResourceObject {
  id: string;
  type: string;
  links: { self: string };
  attributes: Record<string, unknown>;
  relationships: Record<
    string,
    { links: { self: string; related: string }; data?: { type: string; id: string } | { type: string; id: string }[] | null }
  >;
  meta?: Record<string, unknown>;
}

function attributeValue(value: unknown): unknown {
  if (value instanceof Date) return value.toISOString();
  return value === undefined ? null : value;
}

/** One row as a JSON:API resource object, honouring sparse fieldsets for its type. */
export function serializeResource(
  declaration: AnyResource,
  row: { id: string } & Record<string, unknown>,
  apiBase: string,
  fields?: ReadonlySet<string>,
): ResourceObject {
  const self = `${apiBase}/${declaration.type}/${row.id}`;
  const attributes: Record<string, unknown> = {};
  for (const [name, attribute] of Object.entries(declaration.attributes)) {
    if (attribute.fetchable === false || name === 'id') continue;
    if (fields && !fields.has(name)) continue;
    if (attribute.read) attributes[name] = attributeValue(attribute.read(row));
    else {
      const column = columnOf(name, attribute);
      if (column !== null) attributes[name] = attributeValue(row[column]);
    }
  }
  const relationships: ResourceObject['relationships'] = {};
  for (const name of Object.keys(declaration.relationships)) {
    if (fields && !fields.has(name)) continue;
    relationships[name] = { links: { self: `${self}/relationships/${name}`, related: `${self}/${name}` } };
  }
  return {
    id: row.id,
    type: declaration.type,
    links: { self },
    attributes,
    relationships,
    ...(declaration.meta ? { meta: declaration.meta(row) } : {}),
  };
}
