import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { newId } from '../ids.ts';
import { parseWriteDocument } from './document.ts';
import { methodNotAllowed, recordNotFound, validationError } from './errors.ts';
import { compound } from './include.ts';
import { mediaType } from './media-type.ts';
import { parseQuery, type ListQuery } from './query.ts';
import { columnOf, type Action, type WriteInput } from './resource.ts';
import { serializeResource, type ResourceObject } from './serialize.ts';
import { ResourceStore, type AnyResource, type Database, type Row } from './store.ts';

export type { AnyResource } from './store.ts';

export interface EngineServices {
  db: object;
}

type IdParams = { Params: { id: string } };

/**
 * Turns resource declarations into JSON:API routes: list, retrieve, create, update,
 * delete, related resources and relationship linkage, each with the query language.
 */
export class ResourceEngine<Services extends EngineServices> {
  readonly store: ResourceStore;

  constructor(
    private readonly services: Services,
    resources: readonly AnyResource[],
  ) {
    this.store = new ResourceStore(services.db as Database, new Map(resources.map((resource) => [resource.type, resource])));
  }

  /** Maps validated attributes and to-one relationships onto database columns. */
  private columns(declaration: AnyResource, input: WriteInput): Record<string, unknown> {
    const data: Record<string, unknown> = {};
    for (const [name, value] of Object.entries(input.attributes)) {
      const column = columnOf(name, declaration.attributes[name]!);
      if (column !== null) data[column] = value;
    }
    for (const [name, linkage] of Object.entries(input.relationships)) {
      const foreignKey = declaration.relationships[name]!.foreignKey;
      if (foreignKey) data[foreignKey] = linkage?.id ?? null;
    }
    return data;
  }

  /** 422 with a pointer when a relationship names a record that does not exist. */
  private async assertRelatedExist(input: WriteInput): Promise<void> {
    for (const [name, linkage] of Object.entries(input.relationships)) {
      if (!linkage) continue;
      const found = this.store.registry.has(linkage.type) ? await this.store.findBy(linkage.type, 'id', [linkage.id]) : [];
      if (found.length === 0) throw validationError(`/data/relationships/${name}`, `${linkage.type} ${linkage.id} not found`);
    }
  }

  private async create(declaration: AnyResource, input: WriteInput): Promise<Row> {
    if (declaration.create) return declaration.create(this.services, input);
    await this.assertRelatedExist(input);
    const row = await this.store.delegate(declaration).create({ data: { id: newId(), ...this.columns(declaration, input) } });
    return this.store.find(declaration.type, row.id);
  }

  private async update(declaration: AnyResource, row: Row, input: WriteInput): Promise<Row> {
    if (declaration.update) return declaration.update(this.services, row, input);
    await this.assertRelatedExist(input);
    const data = this.columns(declaration, input);
    if (Object.keys(data).length === 0) return row;
    await this.store.delegate(declaration).update({ where: { id: row.id }, data });
    return this.store.find(declaration.type, row.id);
  }

  /** A document for rows of one type, with `included` when the query asks for it. */
  private async document(declaration: AnyResource, rows: Row[], query: ListQuery, apiBase: string) {
    const nodes = rows.map((row) => ({ declaration, row, object: serializeResource(declaration, row, apiBase, query.fields.get(declaration.type)) }));
    const included = query.include.size > 0 ? await compound(this.store, nodes, query.include, query.fields, apiBase) : [];
    return { objects: nodes.map((node) => node.object), included };
  }

  private async listDocument(request: FastifyRequest, declaration: AnyResource, path: string, scope?: Record<string, string>) {
    const query = parseQuery(request.query as Record<string, unknown>, declaration, this.store.registry, 'list');
    const { rows, recordCount, recordCountEstimated } = await this.store.list(declaration, query, scope);
    const base = apiBase(request);
    const { objects, included } = await this.document(declaration, rows, query, base);
    const pageCount = Math.ceil(recordCount / query.page.size);
    return {
      data: objects,
      ...(query.include.size > 0 ? { included } : {}),
      // Commerce Layer's meta, plus a flag when record_count is PostgreSQL's estimate.
      meta: { record_count: recordCount, page_count: pageCount, ...(recordCountEstimated ? { record_count_estimated: true } : {}) },
      links: pageLinks(`${base}${path}`, request.query as Record<string, string>, query.page, pageCount),
    };
  }

  private async singleDocument(request: FastifyRequest, declaration: AnyResource, row: Row | null, kind: 'retrieve' | 'write') {
    const query = parseQuery(request.query as Record<string, unknown>, declaration, this.store.registry, kind);
    if (!row) return { data: null };
    const { objects, included } = await this.document(declaration, [row], query, apiBase(request));
    return { data: objects[0] as ResourceObject, ...(query.include.size > 0 ? { included } : {}) };
  }

  /** Registers every declared resource's routes. */
  register(app: FastifyInstance): void {
    for (const declaration of this.store.registry.values()) this.registerResource(app, declaration);
  }

  private registerResource(app: FastifyInstance, declaration: AnyResource): void {
    const collection = `/${declaration.type}`;
    const member = `/${declaration.type}/:id`;
    const allowed = (action: Action) => declaration.actions.includes(action);
    const refuse = async (request: FastifyRequest) => {
      throw methodNotAllowed(`${request.method} is not allowed on ${declaration.type}`);
    };
    const send = (reply: FastifyReply, status: number, document: unknown) => reply.code(status).type(mediaType).send(document);

    app.get(collection, async (request, reply) => {
      if (!allowed('list')) return refuse(request);
      return send(reply, 200, await this.listDocument(request, declaration, collection));
    });

    app.get<IdParams>(member, async (request, reply) => {
      if (!allowed('retrieve')) return refuse(request);
      const row = await this.store.find(declaration.type, request.params.id);
      return send(reply, 200, await this.singleDocument(request, declaration, row, 'retrieve'));
    });

    app.post(collection, async (request, reply) => {
      if (!allowed('create')) return refuse(request);
      parseQuery(request.query as Record<string, unknown>, declaration, this.store.registry, 'write');
      const input = parseWriteDocument(declaration, request.body, { action: 'create' });
      const row = await this.create(declaration, input);
      const document = await this.singleDocument(request, declaration, row, 'write');
      reply.header('location', document.data!.links.self);
      return send(reply, 201, document);
    });

    app.patch<IdParams>(member, async (request, reply) => {
      if (!allowed('update')) return refuse(request);
      parseQuery(request.query as Record<string, unknown>, declaration, this.store.registry, 'write');
      const input = parseWriteDocument(declaration, request.body, { action: 'update', id: request.params.id });
      const row = await this.store.find(declaration.type, request.params.id);
      const updated = await this.update(declaration, row, input);
      return send(reply, 200, await this.singleDocument(request, declaration, updated, 'write'));
    });

    app.delete<IdParams>(member, async (request, reply) => {
      if (!allowed('delete')) return refuse(request);
      const row = await this.store.find(declaration.type, request.params.id);
      if (declaration.remove) await declaration.remove(this.services, row);
      else await this.store.delegate(declaration).delete({ where: { id: row.id } });
      return reply.code(204).send();
    });

    // Verbs that exist elsewhere but not on this URL are 405, as Commerce Layer answers.
    app.route({ method: ['PUT', 'PATCH', 'DELETE'], url: collection, handler: refuse });
    app.route({ method: ['PUT', 'POST'], url: member, handler: refuse });

    for (const [name, relationship] of Object.entries(declaration.relationships)) {
      const targetType = relationship.types[0]!;
      // The related resource(s): GET /api/stripe_payments/:id/order, /api/orders/:id/line_items.
      app.get<IdParams>(`${member}/${name}`, async (request, reply) => {
        if (!allowed('retrieve')) return refuse(request);
        const owner = await this.store.find(declaration.type, request.params.id);
        if (relationship.kind === 'to_many') {
          const target = this.store.declaration(targetType);
          if (!relationship.inverseKey) throw recordNotFound();
          return send(reply, 200, await this.listDocument(request, target, `${member.replace(':id', owner.id)}/${name}`, { [relationship.inverseKey]: owner.id }));
        }
        const linkage = this.linkageOf(declaration, name, owner);
        const related = linkage ? (await this.store.findBy(linkage.type, 'id', [linkage.id]))[0] ?? null : null;
        const target = this.store.declaration(linkage?.type ?? targetType);
        return send(reply, 200, await this.singleDocument(request, target, related, 'retrieve'));
      });

      // The linkage alone: GET /api/stripe_payments/:id/relationships/order.
      app.get<IdParams>(`${member}/relationships/${name}`, async (request, reply) => {
        if (!allowed('retrieve')) return refuse(request);
        const owner = await this.store.find(declaration.type, request.params.id);
        const self = `${apiBase(request)}${collection}/${owner.id}`;
        const links = { self: `${self}/relationships/${name}`, related: `${self}/${name}` };
        if (relationship.kind === 'to_many') {
          const rows = relationship.inverseKey ? await this.store.findBy(targetType, relationship.inverseKey, [owner.id]) : [];
          return send(reply, 200, { data: rows.map((row) => ({ type: targetType, id: row.id })), links });
        }
        const linkage = this.linkageOf(declaration, name, owner);
        const exists = linkage ? (await this.store.findBy(linkage.type, 'id', [linkage.id])).length > 0 : false;
        return send(reply, 200, { data: exists ? linkage : null, links });
      });
    }
  }

  private linkageOf(declaration: AnyResource, name: string, row: Row): { type: string; id: string } | null {
    const relationship = declaration.relationships[name]!;
    if (relationship.linkage) return relationship.linkage(row);
    const id = relationship.foreignKey ? row[relationship.foreignKey] : undefined;
    return typeof id === 'string' ? { type: relationship.types[0]!, id } : null;
  }
}

function apiBase(request: FastifyRequest): string {
  return `${request.protocol}://${request.host}/api`;
}

function pageLinks(
  url: string,
  rawQuery: Record<string, string>,
  page: { number: number; size: number },
  pageCount: number,
): Record<string, string> {
  const link = (number: number) => {
    const params = new URLSearchParams(rawQuery);
    params.set('page[number]', String(number));
    params.set('page[size]', String(page.size));
    return `${url}?${params.toString()}`;
  };
  const last = Math.max(pageCount, 1);
  return {
    first: link(1),
    ...(page.number > 1 ? { prev: link(Math.min(page.number - 1, last)) } : {}),
    ...(page.number < pageCount ? { next: link(page.number + 1) } : {}),
    last: link(last),
  };
}
