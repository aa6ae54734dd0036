import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { newId } from '../ids.ts';
import { parseWriteDocument } from './document.ts';
import { methodNotAllowed, recordNotFound, validationError } from './errors.ts';
import { mediaType } from './media-type.ts';
import { parseQuery, type ListQuery } from './query.ts';
import { columnOf, type Action, type ResourceDeclaration, type WriteInput } from './resource.ts';
import { serializeResource } from './serialize.ts';

/** The slice of a Prisma model delegate the engine uses; keeps jsonapi/ free of the generated client. */
export interface ModelDelegate {
  findFirst(args: { where: Record<string, unknown>; include?: Record<string, unknown> }): Promise<Record<string, unknown> | null>;
  findMany(args: {
    where: Record<string, unknown>;
    include?: Record<string, unknown>;
    orderBy: Record<string, 'asc' | 'desc'>[];
    skip: number;
    take: number;
  }): Promise<Record<string, unknown>[]>;
  count(args: { where: Record<string, unknown> }): Promise<number>;
  create(args: { data: Record<string, unknown>; include?: Record<string, unknown> }): Promise<Record<string, unknown>>;
  update(args: {
    where: { id: string };
    data: Record<string, unknown>;
    include?: Record<string, unknown>;
  }): Promise<Record<string, unknown>>;
  delete(args: { where: { id: string } }): Promise<unknown>;
}

export interface EngineServices {
  db: object;
}

// The engine handles declarations of any row type; handlers are typed at their declaration.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyResource = ResourceDeclaration<any, any>;
type Row = { id: string } & Record<string, unknown>;

export class ResourceEngine<Services extends EngineServices> {
  readonly registry: Map<string, AnyResource>;

  constructor(
    private readonly services: Services,
    resources: readonly AnyResource[],
  ) {
    this.registry = new Map(resources.map((resource) => [resource.type, resource]));
  }

  delegate(declaration: AnyResource): ModelDelegate {
    const delegate = (this.services.db as Record<string, ModelDelegate | undefined>)[declaration.model];
    if (!delegate) throw new Error(`no database model ${declaration.model} for ${declaration.type}`);
    return delegate;
  }

  /** Reads one visible record or throws the JSON:API 404. */
  async find(type: string, id: string): Promise<Row> {
    const declaration = this.registry.get(type)!;
    const row = await this.delegate(declaration).findFirst({
      where: { id, ...declaration.visibleWhere },
      ...(declaration.include ? { include: declaration.include } : {}),
    });
    if (!row) throw recordNotFound();
    return row as Row;
  }

  /** Maps validated attributes and to-one relationships onto database columns. */
  columns(declaration: AnyResource, input: WriteInput): Record<string, unknown> {
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
  async assertRelatedExist(declaration: AnyResource, input: WriteInput): Promise<void> {
    for (const [name, linkage] of Object.entries(input.relationships)) {
      if (!linkage) continue;
      const target = this.registry.get(linkage.type);
      const found = target
        ? await this.delegate(target).findFirst({ where: { id: linkage.id, ...target.visibleWhere } })
        : null;
      if (!found) throw validationError(`/data/relationships/${name}`, `${linkage.type} ${linkage.id} not found`);
    }
    void declaration;
  }

  private async create(declaration: AnyResource, input: WriteInput): Promise<Row> {
    if (declaration.create) return declaration.create(this.services, input);
    await this.assertRelatedExist(declaration, input);
    return (await this.delegate(declaration).create({
      data: { id: newId(), ...this.columns(declaration, input) },
      ...(declaration.include ? { include: declaration.include } : {}),
    })) as Row;
  }

  private async update(declaration: AnyResource, row: Row, input: WriteInput): Promise<Row> {
    if (declaration.update) return declaration.update(this.services, row, input);
    await this.assertRelatedExist(declaration, input);
    const data = this.columns(declaration, input);
    if (Object.keys(data).length === 0) return row;
    return (await this.delegate(declaration).update({
      where: { id: row.id },
      data,
      ...(declaration.include ? { include: declaration.include } : {}),
    })) as Row;
  }

  private async list(declaration: AnyResource, query: ListQuery) {
    const where = { ...declaration.visibleWhere };
    const orderBy = query.sort.map(({ field, direction }) => ({ [columnOf(field, declaration.attributes[field]!)!]: direction }));
    // A stable order makes pages deterministic: newest first, then id as the tie-breaker.
    if (orderBy.length === 0) orderBy.push({ createdAt: 'desc' });
    orderBy.push({ id: 'asc' });
    const delegate = this.delegate(declaration);
    const [rows, recordCount] = await Promise.all([
      delegate.findMany({
        where,
        orderBy,
        skip: (query.page.number - 1) * query.page.size,
        take: query.page.size,
        ...(declaration.include ? { include: declaration.include } : {}),
      }),
      delegate.count({ where }),
    ]);
    return { rows: rows as Row[], recordCount };
  }

  /** Registers every declared resource's routes in an encapsulated Fastify scope. */
  register(app: FastifyInstance): void {
    for (const declaration of this.registry.values()) this.registerResource(app, declaration);
  }

  private registerResource(app: FastifyInstance, declaration: AnyResource): void {
    const collection = `/${declaration.type}`;
    const member = `/${declaration.type}/:id`;
    const allowed = (action: Action) => declaration.actions.includes(action);
    const refuse = async (request: FastifyRequest) => {
      throw methodNotAllowed(`${request.method} is not allowed on ${declaration.type}`);
    };
    const apiBase = (request: FastifyRequest) => `${request.protocol}://${request.host}/api`;
    const send = (reply: FastifyReply, status: number, document: unknown) =>
      reply.code(status).type(mediaType).send(document);
    const fieldsFor = (query: ListQuery) => query.fields.get(declaration.type);
    type IdParams = { Params: { id: string } };

    app.get(collection, async (request, reply) => {
      if (!allowed('list')) return refuse(request);
      const query = parseQuery(request.query as Record<string, unknown>, declaration, this.registry, 'list');
      const { rows, recordCount } = await this.list(declaration, query);
      const base = apiBase(request);
      const pageCount = Math.ceil(recordCount / query.page.size);
      return send(reply, 200, {
        data: rows.map((row) => serializeResource(declaration, row, base, fieldsFor(query))),
        meta: { record_count: recordCount, page_count: pageCount },
        links: pageLinks(`${base}${collection}`, request.query as Record<string, string>, query.page, pageCount),
      });
    });

    app.get<IdParams>(member, async (request, reply) => {
      if (!allowed('retrieve')) return refuse(request);
      const query = parseQuery(request.query as Record<string, unknown>, declaration, this.registry, 'retrieve');
      const row = await this.find(declaration.type, request.params.id);
      return send(reply, 200, { data: serializeResource(declaration, row, apiBase(request), fieldsFor(query)) });
    });

    app.post(collection, async (request, reply) => {
      if (!allowed('create')) return refuse(request);
      const query = parseQuery(request.query as Record<string, unknown>, declaration, this.registry, 'write');
      const input = parseWriteDocument(declaration, request.body, { action: 'create' });
      const row = await this.create(declaration, input);
      const resource = serializeResource(declaration, row, apiBase(request), fieldsFor(query));
      reply.header('location', resource.links.self);
      return send(reply, 201, { data: resource });
    });

    app.patch<IdParams>(member, async (request, reply) => {
      if (!allowed('update')) return refuse(request);
      const query = parseQuery(request.query as Record<string, unknown>, declaration, this.registry, 'write');
      const input = parseWriteDocument(declaration, request.body, { action: 'update', id: request.params.id });
      const row = await this.find(declaration.type, request.params.id);
      const updated = await this.update(declaration, row, input);
      return send(reply, 200, { data: serializeResource(declaration, updated, apiBase(request), fieldsFor(query)) });
    });

    app.delete<IdParams>(member, async (request, reply) => {
      if (!allowed('delete')) return refuse(request);
      const row = await this.find(declaration.type, request.params.id);
      if (declaration.remove) await declaration.remove(this.services, row);
      else await this.delegate(declaration).delete({ where: { id: row.id } });
      return reply.code(204).send();
    });

    // Verbs that exist elsewhere but not on this URL are 405, as Commerce Layer answers.
    app.route({ method: ['PUT', 'PATCH', 'DELETE'], url: collection, handler: refuse });
    app.route({ method: ['PUT', 'POST'], url: member, handler: refuse });
  }
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
