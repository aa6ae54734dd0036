import { z } from 'zod';
import { inputSchemaOf } from '../jsonapi/document.ts';
import type { AnyResource } from '../jsonapi/engine.ts';
import { exactCountLimit } from '../jsonapi/store.ts';
import { linkableTypes, type AttributeDeclaration, type AttributeType, type RelationshipDeclaration } from '../jsonapi/resource.ts';

/** A JSON Schema (draft 2020-12, the dialect of OpenAPI 3.1). */
export type JsonSchema = Record<string, unknown>;

export const ref = (name: string): JsonSchema => ({ $ref: `#/components/schemas/${name}` });
const nullable = (schema: JsonSchema): JsonSchema => ({ anyOf: [schema, { type: 'null' }] });

/**
 * The JSON Schema of what a zod schema accepts. `io: 'input'` describes the value before
 * transforms (a currency code is accepted in lower case, then upper-cased); refinements
 * zod cannot express in JSON Schema (ISO 4217 membership, metadata size) are left out.
 */
export function fromZod(schema: z.ZodType): JsonSchema {
  const { $schema: _dialect, ...json } = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
  return json;
}

// Component names, one family per resource type.
export const schemaNames = {
  resource: (type: string) => `${type}_resource`,
  create: (type: string) => `${type}_create`,
  update: (type: string) => `${type}_update`,
};

const responseTypes: Record<AttributeType, JsonSchema> = {
  string: { type: ['string', 'null'] },
  integer: { type: ['integer', 'null'] },
  float: { type: ['number', 'null'] },
  boolean: { type: ['boolean', 'null'] },
  object: { type: ['object', 'null'] },
  array: { type: ['array', 'null'], items: { type: 'string' } },
  datetime: { type: ['string', 'null'], format: 'date-time' },
};

/** "Filterable, sortable." from the flags, so readers know what `filter[q]` and `sort` take. */
function flagsOf(attribute: AttributeDeclaration<unknown>): string | undefined {
  const flags = [attribute.filterable ? 'filterable' : '', attribute.sortable ? 'sortable' : ''].filter(Boolean).join(', ');
  return flags ? `${flags[0]!.toUpperCase()}${flags.slice(1)}.` : undefined;
}

export function identifierSchema(types: readonly string[]): JsonSchema {
  return {
    type: 'object',
    required: ['type', 'id'],
    additionalProperties: false,
    properties: {
      type: types.length === 1 ? { const: types[0] } : { enum: [...types] },
      id: { type: 'string', minLength: 1, maxLength: 64 },
    },
  };
}

const linksSchema = (...names: string[]): JsonSchema => ({
  type: 'object',
  required: names,
  properties: Object.fromEntries(names.map((name) => [name, { type: 'string', format: 'uri' }])),
});

function relationshipResponse(relationship: RelationshipDeclaration<unknown>): JsonSchema {
  const identifier = identifierSchema(relationship.types);
  return {
    type: 'object',
    required: ['links'],
    properties: {
      links: linksSchema('self', 'related'),
      // Present when the relationship is included (`include=...`).
      data: relationship.kind === 'to_many' ? { type: 'array', items: identifier } : nullable(identifier),
    },
  };
}

/**
 * A resource object as serialize.ts writes it: every fetchable attribute (a sparse fieldset
 * may leave any out, so none is required), every relationship with its links.
 */
export function resourceObjectSchema(declaration: AnyResource): JsonSchema {
  const attributes: Record<string, JsonSchema> = {};
  for (const [name, attribute] of Object.entries(declaration.attributes)) {
    if (attribute.fetchable === false || name === 'id') continue;
    const description = flagsOf(attribute);
    attributes[name] = { ...responseTypes[attribute.type], ...(description ? { description } : {}) };
  }
  const relationships = Object.fromEntries(
    Object.entries(declaration.relationships).map(([name, relationship]) => [name, relationshipResponse(relationship)]),
  );
  return {
    type: 'object',
    required: ['id', 'type', 'links', 'attributes', 'relationships'],
    properties: {
      id: { type: 'string' },
      type: { const: declaration.type },
      links: linksSchema('self'),
      attributes: { type: 'object', additionalProperties: false, properties: attributes },
      relationships: { type: 'object', additionalProperties: false, properties: relationships },
      ...(declaration.meta ? { meta: { type: 'object' } } : {}),
    },
  };
}

/**
 * The body of a create or update, from the declaration's flags and each attribute's zod
 * input schema: exactly what document.ts accepts. A value may be null unless the
 * attribute is required or boolean; attributes and relationships not listed are refused.
 */
export function writeDocumentSchema(declaration: AnyResource, action: 'create' | 'update'): JsonSchema {
  const flag = action === 'create' ? 'creatable' : 'updatable';
  const attributes: Record<string, JsonSchema> = {};
  const requiredAttributes: string[] = [];
  for (const [name, attribute] of Object.entries(declaration.attributes)) {
    if (!attribute[flag]) continue;
    const schema = fromZod(inputSchemaOf(attribute));
    // Commerce Layer's triggers (`_refresh`) start with an underscore; other unfetchable attributes are secrets.
    if (name.startsWith('_')) schema.description = 'Trigger: send true to perform the action.';
    else if (attribute.fetchable === false) schema.description = 'Write-only: never returned in responses.';
    attributes[name] = attribute.required || attribute.type === 'boolean' ? schema : nullable(schema);
    if (action === 'create' && attribute.required) requiredAttributes.push(name);
  }
  const relationships: Record<string, JsonSchema> = {};
  const requiredRelationships: string[] = [];
  for (const [name, relationship] of Object.entries(declaration.relationships)) {
    if (!relationship[flag] || relationship.kind !== 'to_one') continue;
    const identifier = identifierSchema(linkableTypes(relationship));
    relationships[name] = {
      type: 'object',
      required: ['data'],
      properties: { data: relationship.required ? identifier : nullable(identifier) },
    };
    if (action === 'create' && relationship.required) requiredRelationships.push(name);
  }
  const data: JsonSchema = {
    type: 'object',
    required: [
      'type',
      ...(action === 'update' ? ['id'] : []),
      ...(requiredAttributes.length > 0 ? ['attributes'] : []),
      ...(requiredRelationships.length > 0 ? ['relationships'] : []),
    ],
    properties: {
      type: { const: declaration.type },
      ...(action === 'update' ? { id: { type: 'string', description: 'The id in the URL.' } } : {}),
      attributes: {
        type: 'object',
        additionalProperties: false,
        properties: attributes,
        ...(requiredAttributes.length > 0 ? { required: requiredAttributes } : {}),
      },
      relationships: {
        type: 'object',
        additionalProperties: false,
        properties: relationships,
        ...(requiredRelationships.length > 0 ? { required: requiredRelationships } : {}),
      },
    },
  };
  return { type: 'object', required: ['data'], properties: { data } };
}

/** Documents around resource objects: one, a page of them, or linkage alone. */
export function singleDocumentSchema(data: JsonSchema, includable: readonly string[]): JsonSchema {
  return {
    type: 'object',
    required: ['data'],
    properties: { data, ...includedProperty(includable) },
  };
}

export function listDocumentSchema(type: string, includable: readonly string[]): JsonSchema {
  return {
    type: 'object',
    required: ['data', 'meta', 'links'],
    properties: {
      data: { type: 'array', items: ref(schemaNames.resource(type)) },
      ...includedProperty(includable),
      meta: {
        type: 'object',
        required: ['record_count', 'page_count'],
        properties: {
          record_count: { type: 'integer', minimum: 0 },
          page_count: { type: 'integer', minimum: 0 },
          record_count_estimated: {
            type: 'boolean',
            const: true,
            description: `Present when more than ${exactCountLimit.toLocaleString('en-US')} records match: record_count is then PostgreSQL's estimate, never below ${(exactCountLimit + 1).toLocaleString('en-US')}.`,
          },
        },
      },
      links: {
        type: 'object',
        required: ['first'],
        description: 'Paging by `page[number]`: `first`, `last`, and `prev`/`next` where they exist. By `page[after]`: `first`, and `next` while records follow.',
        properties: Object.fromEntries(['first', 'prev', 'next', 'last'].map((name) => [name, { type: 'string', format: 'uri' }])),
      },
    },
  };
}

export function linkageDocumentSchema(relationship: RelationshipDeclaration<unknown>): JsonSchema {
  const identifier = identifierSchema(relationship.types);
  return {
    type: 'object',
    required: ['data', 'links'],
    properties: {
      data: relationship.kind === 'to_many' ? { type: 'array', items: identifier } : nullable(identifier),
      links: linksSchema('self', 'related'),
    },
  };
}

function includedProperty(includable: readonly string[]): JsonSchema {
  if (includable.length === 0) return {};
  const items = includable.length === 1 ? ref(schemaNames.resource(includable[0]!)) : { anyOf: includable.map((type) => ref(schemaNames.resource(type))) };
  return { included: { type: 'array', items, description: 'The resources `include` asks for.' } };
}

/** errors.ts's ErrorObject. */
export const errorSchemas: Record<string, JsonSchema> = {
  error: {
    type: 'object',
    required: ['title', 'detail', 'code', 'status'],
    properties: {
      title: { type: 'string' },
      detail: { type: 'string' },
      code: { type: 'string', description: "Commerce Layer's error code, e.g. VALIDATION_ERROR, RECORD_NOT_FOUND, INVALID_TOKEN." },
      status: { type: 'string', description: 'The HTTP status, as a string.' },
      source: {
        type: 'object',
        properties: {
          pointer: { type: 'string', description: 'JSON pointer into the request document, e.g. /data/attributes/quantity.' },
          parameter: { type: 'string', description: 'The query parameter at fault.' },
          header: { type: 'string', description: 'The request header at fault.' },
        },
      },
      meta: { type: 'object' },
    },
  },
  errors: {
    type: 'object',
    required: ['errors'],
    properties: { errors: { type: 'array', minItems: 1, items: ref('error') } },
  },
};
