import { columnOf, type AnyResource } from './resource.ts';

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

interface SerializedField {
  name: string;
  read?: (row: Record<string, unknown>) => unknown;
  column: string | null;
}

// What a declaration shows, worked out once per declaration instead of once per row.
const shownFields = new WeakMap<AnyResource, { attributes: SerializedField[]; relationships: string[] }>();

function shownFieldsOf(declaration: AnyResource) {
  let shown = shownFields.get(declaration);
  if (!shown) {
    const attributes = Object.entries(declaration.attributes)
      .filter(([name, attribute]) => attribute.fetchable !== false && name !== 'id')
      .map(([name, attribute]) => ({ name, column: columnOf(name, attribute), ...(attribute.read ? { read: attribute.read as SerializedField['read'] } : {}) }));
    shown = { attributes, relationships: Object.keys(declaration.relationships) };
    shownFields.set(declaration, shown);
  }
  return shown;
}

/** One row as a JSON:API resource object, honouring sparse fieldsets for its type. */
export function serializeResource(
  declaration: AnyResource,
  row: { id: string } & Record<string, unknown>,
  apiBase: string,
  fields?: ReadonlySet<string>,
): ResourceObject {
  const self = `${apiBase}/${declaration.type}/${row.id}`;
  const shown = shownFieldsOf(declaration);
  const attributes: Record<string, unknown> = {};
  for (const { name, read, column } of shown.attributes) {
    if (fields && !fields.has(name)) continue;
    if (read) attributes[name] = attributeValue(read(row));
    else if (column !== null) attributes[name] = attributeValue(row[column]);
  }
  const relationships: ResourceObject['relationships'] = {};
  for (const name of shown.relationships) {
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
