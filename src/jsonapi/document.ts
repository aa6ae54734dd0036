import { z } from 'zod';
import {
  badRequest,
  invalidResource,
  keyNotIncludedInUrl,
  paramMissing,
  paramNotAllowed,
  validationErrors,
} from './errors.ts';
import { linkableTypes, type AttributeDeclaration, type AttributeType, type ResourceDeclaration, type ResourceIdentifier, type WriteInput } from './resource.ts';

const defaultInputs: Record<AttributeType, z.ZodType> = {
  string: z.string().max(2000),
  integer: z.number().int().min(-(2 ** 31)).max(2 ** 31 - 1),
  float: z.number().finite(),
  boolean: z.boolean(),
  // Metadata and options: a JSON object, bounded so a client cannot store megabytes per row.
  object: z.record(z.string().max(200), z.unknown()).refine((value) => JSON.stringify(value).length <= 16_384, {
    message: 'is too large (16 KB at most)',
  }),
  array: z.array(z.string().max(200)).max(50),
  datetime: z.iso.datetime({ offset: true }),
};

export function inputSchemaOf<Row>(attribute: AttributeDeclaration<Row>): z.ZodType {
  return attribute.input ?? defaultInputs[attribute.type];
}

const identifierSchema = z.object({ type: z.string().min(1), id: z.string().min(1).max(64) }).strict();

const envelopeSchema = z.object({
  data: z.object({
    type: z.string(),
    id: z.string().optional(),
    attributes: z.record(z.string(), z.unknown()).optional(),
    relationships: z.record(z.string(), z.unknown()).optional(),
  }),
});

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Validates a create (`id` undefined) or update document against the declaration: the
 * shape, the type, which attributes and relationships may be written, and each value.
 */
export function parseWriteDocument<Row extends { id: string }>(
  declaration: ResourceDeclaration<Row, unknown>,
  body: unknown,
  mode: { action: 'create' } | { action: 'update'; id: string },
): WriteInput {
  if (!isPlainObject(body) || !('data' in body)) throw paramMissing('The document must contain a data object', { pointer: '/data' });
  const envelope = envelopeSchema.safeParse(body);
  if (!envelope.success) {
    const issue = envelope.error.issues[0]!;
    throw badRequest(`Malformed document: ${issue.message}`, { pointer: `/${issue.path.join('/')}` });
  }
  const { data } = envelope.data;
  if (data.type !== declaration.type) {
    throw invalidResource(`${data.type} is not a valid resource type here; expected ${declaration.type}`, { pointer: '/data/type' });
  }
  if (mode.action === 'update') {
    if (data.id === undefined) throw paramMissing('The document must contain the resource id', { pointer: '/data/id' });
    if (data.id !== mode.id) throw keyNotIncludedInUrl(`The URL does not support the key ${data.id}`, { pointer: '/data/id' });
  } else if (data.id !== undefined) {
    throw paramNotAllowed('Client-generated ids are not supported', { pointer: '/data/id' });
  }

  const flag = mode.action === 'create' ? 'creatable' : 'updatable';
  const failures: { pointer: string; message: string }[] = [];
  const attributes: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(data.attributes ?? {})) {
    const pointer = `/data/attributes/${name}`;
    const attribute = Object.hasOwn(declaration.attributes, name) ? declaration.attributes[name] : undefined;
    if (!attribute || !attribute[flag]) throw paramNotAllowed(`${name} is not allowed`, { pointer });
    if (value === null && !attribute.required && attribute.type !== 'boolean') {
      attributes[name] = null;
      continue;
    }
    const parsed = inputSchemaOf(attribute).safeParse(value);
    if (parsed.success) attributes[name] = parsed.data;
    else failures.push({ pointer, message: parsed.error.issues[0]?.message ?? 'is invalid' });
  }

  const relationships: Record<string, ResourceIdentifier | null> = {};
  for (const [name, value] of Object.entries(data.relationships ?? {})) {
    const pointer = `/data/relationships/${name}`;
    const relationship = Object.hasOwn(declaration.relationships, name) ? declaration.relationships[name] : undefined;
    if (!relationship || !relationship[flag] || relationship.kind !== 'to_one') {
      throw paramNotAllowed(`${name} is not allowed`, { pointer });
    }
    if (!isPlainObject(value) || !('data' in value)) throw badRequest('A relationship must be an object with data', { pointer });
    if (value.data === null) {
      if (relationship.required) failures.push({ pointer, message: "can't be blank" });
      else relationships[name] = null;
      continue;
    }
    const linkage = identifierSchema.safeParse(value.data);
    if (!linkage.success) throw badRequest('Relationship data must be {"type", "id"}', { pointer: `${pointer}/data` });
    if (!linkableTypes(relationship).includes(linkage.data.type)) {
      throw invalidResource(`${linkage.data.type} is not a valid type for ${name}`, { pointer: `${pointer}/data/type` });
    }
    relationships[name] = linkage.data;
  }

  if (mode.action === 'create') {
    const sent = data.attributes ?? {};
    for (const [name, attribute] of Object.entries(declaration.attributes)) {
      if (attribute.required && sent[name] === undefined) {
        failures.push({ pointer: `/data/attributes/${name}`, message: "can't be blank" });
      }
    }
    for (const [name, relationship] of Object.entries(declaration.relationships)) {
      if (relationship.required && data.relationships?.[name] === undefined) {
        failures.push({ pointer: `/data/relationships/${name}`, message: "can't be blank" });
      }
    }
  }
  if (failures.length > 0) throw validationErrors(failures);
  return { ...(mode.action === 'update' ? { id: mode.id } : {}), attributes, relationships };
}
