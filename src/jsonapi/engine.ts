import type { FastifyInstance, FastifyReply, FastifyRequest, RouteHandlerMethod } from 'fastify';
import { accessWhere, assertMayInclude, assertMayTake, mayTake, scopeWriteInput, type Access, type Purpose } from './access.ts';
import { parseWriteDocument } from './document.ts';
import { forbidden, methodNotAllowed, recordNotFound, validationError } from './errors.ts';
import type { RowCondition } from '../db/sql/conditions.ts';
import { compound, shownDeclaration } from './include.ts';
import { matchCondition } from './matching.ts';
import { mediaType } from './media-type.ts';
import { parseQuery, type ListQuery } from './query.ts';
import type { WriteInput } from './resource.ts';
import { routesOf, type Route } from './routes.ts';
import { serializeResource, type ResourceObject } from './serialize.ts';
import { ResourceStore, type AnyResource, type Database, type Row, type StoreOptions } from './store.ts';
import { Writes, type RequestContext } from './writes.ts';

export type { AnyResource } from './store.ts';

export interface EngineServices {
  db: object;
}

export interface EngineOptions extends StoreOptions {
  /**
   * The absolute URL clients reach the server at (PUBLIC_URL), which links and `Location`
   * are built from; unset: the request's own scheme and Host (X-Forwarded-* with TRUST_PROXY).
   */
  publicUrl?: URL;
}


/**
 * Turns resource declarations into JSON:API routes: list, retrieve, create, update,
 * delete, related resources and relationship linkage, each with the query language.
 */
export class ResourceEngine<Services extends EngineServices> {
  readonly store: ResourceStore;
  private readonly writes: Writes;
  private readonly publicApiBase: string | undefined;

  constructor(
    services: Services,
    resources: readonly AnyResource[],
    { publicUrl, ...options }: EngineOptions = {},
  ) {
    this.publicApiBase = publicUrl ? `${publicUrl.origin}${publicUrl.pathname.replace(/\/+$/, '')}/api` : undefined;
    this.store = new ResourceStore(services.db as Database, new Map(resources.map((resource) => [resource.type, resource])), options);
    this.writes = new Writes(services, this.store);
  }

  /** The base of every link: PUBLIC_URL's, or else one a client's Host header chose. */
  private apiBase(request: FastifyRequest): string {
    return this.publicApiBase ?? `${request.protocol}://${request.host}/api`;
  }

  /** Where the caller's reach ends for a type: undefined for integrations. */
  private reach(declaration: AnyResource, access: Access | undefined, purpose: Purpose = 'read') {
    return accessWhere(this.store.registry, declaration, access, purpose);
  }

  /**
   * A sales channel may link only records it reaches: anything else reads as not found,
   * so it learns nothing about other markets' or customers' records. The record a row
   * belongs to (a payment's order) must also still be changeable.
   */
  private async assertRelatedReachable(declaration: AnyResource, input: WriteInput, access: Access | undefined): Promise<void> {
    if (!access?.storefront) return;
    const rules = declaration.storefront?.rows;
    for (const [name, linkage] of Object.entries(input.relationships)) {
      if (!linkage) continue;
      const target = this.store.registry.get(linkage.type);
      const pointer = `/data/relationships/${name}`;
      const notFound = validationError(pointer, `${linkage.type} ${linkage.id} not found`);
      if (!target || !mayTake(target, access, 'retrieve')) throw notFound;
      const owner = rules !== undefined && 'through' in rules && rules.through === name;
      if (await this.store.findOne(linkage.type, linkage.id, this.reach(target, access, owner ? 'write' : 'read'))) continue;
      if (owner && (await this.store.findOne(linkage.type, linkage.id, this.reach(target, access, 'read')))) {
        throw forbidden(`${linkage.type} ${linkage.id} can no longer be changed by sales channels.`, { pointer });
      }
      throw notFound;
    }
  }

  /** The row to change or delete: 404 beyond the caller's reach, 403 when it may only read it. */
  private async findWritable(declaration: AnyResource, id: string, access: Access | undefined): Promise<Row> {
    const row = await this.store.findOne(declaration.type, id, this.reach(declaration, access, 'write'));
    if (row) return row;
    if (access?.storefront && (await this.store.findOne(declaration.type, id, this.reach(declaration, access, 'read')))) {
      throw forbidden(`This ${declaration.type} record can no longer be changed by sales channels.`);
    }
    throw recordNotFound();
  }

  /** A document for rows of one type, with `included` when the query asks for it. */
  private async document(declaration: AnyResource, rows: Row[], query: ListQuery, apiBase: string, access: Access | undefined) {
    const nodes = rows.map((row) => {
      const shown = shownDeclaration(this.store.registry, declaration, row);
      return { declaration: shown, row, object: serializeResource(shown, row, apiBase, query.fields.get(shown.type)) };
    });
    // Included rows stay within the caller's reach, as if fetched one by one (a customer's orders of other markets are not shown).
    const reach = (target: AnyResource) => this.reach(target, access);
    const included = query.include.size > 0 ? await compound(this.store, nodes, query.include, query.fields, apiBase, reach) : [];
    return { objects: nodes.map((node) => node.object), included };
  }

  private async listDocument(request: FastifyRequest, declaration: AnyResource, path: string, scope?: Record<string, string>, where?: RowCondition) {
    const query = parseQuery(request.query as Record<string, unknown>, declaration, this.store.registry, 'list');
    const { rows, recordCount, recordCountEstimated, nextCursor } = await this.store.list(declaration, query, scope, where);
    const base = this.apiBase(request);
    const { objects, included } = await this.document(declaration, rows, query, base, accessOf(request));
    const pageCount = Math.ceil(recordCount / query.page.size);
    return {
      data: objects,
      ...(query.include.size > 0 ? { included } : {}),
      // Commerce Layer's meta, plus a flag when record_count is PostgreSQL's estimate.
      meta: { record_count: recordCount, page_count: pageCount, ...(recordCountEstimated ? { record_count_estimated: true } : {}) },
      links:
        query.after === undefined
          ? pageLinks(`${base}${path}`, request.query as Record<string, string>, query.page, pageCount)
          : cursorLinks(`${base}${path}`, request.query as Record<string, string>, query.page.size, nextCursor),
    };
  }

  private async singleDocument(request: FastifyRequest, declaration: AnyResource, row: Row | null, kind: 'retrieve' | 'write') {
    const query = parseQuery(request.query as Record<string, unknown>, declaration, this.store.registry, kind);
    assertMayInclude(this.store.registry, declaration, query.include, accessOf(request));
    if (!row) return { data: null };
    const { objects, included } = await this.document(declaration, [row], query, this.apiBase(request), accessOf(request));
    return { data: objects[0] as ResourceObject, ...(query.include.size > 0 ? { included } : {}) };
  }

  /** Registers every declared resource's routes, as its route table (routes.ts) lists them. */
  register(app: FastifyInstance): void {
    for (const declaration of this.store.registry.values()) {
      for (const route of routesOf(declaration)) app.route({ method: route.method, url: route.url, handler: this.handlerOf(declaration, route) });
    }
  }

  private handlerOf(declaration: AnyResource, route: Route): RouteHandlerMethod {
    const send = (reply: FastifyReply, status: number, document: unknown) => reply.code(status).type(mediaType).send(document);
    switch (route.operation) {
      case 'refused':
        return async (request) => {
          throw methodNotAllowed(`${request.method} is not allowed on ${declaration.type}`);
        };

      case 'list':
        return async (request, reply) => {
          assertMayTake(declaration, accessOf(request), 'list');
          return send(reply, 200, await this.listDocument(request, declaration, `/${declaration.type}`));
        };

      case 'retrieve':
        return async (request, reply) => {
          const access = accessOf(request);
          assertMayTake(declaration, access, 'retrieve');
          const row = await this.store.find(declaration.type, idOf(request), this.reach(declaration, access));
          return send(reply, 200, await this.singleDocument(request, declaration, row, 'retrieve'));
        };

      case 'create':
        return async (request, reply) => {
          const access = accessOf(request);
          assertMayTake(declaration, access, 'create');
          parseQuery(request.query as Record<string, unknown>, declaration, this.store.registry, 'write');
          const committed = committedRecordOf(request);
          if (committed !== undefined) {
            const document = await this.singleDocument(request, declaration, await this.store.find(declaration.type, committed, this.reach(declaration, access)), 'write');
            reply.header('location', document.data!.links.self).header('idempotent-replayed', 'true');
            return send(reply, 201, document);
          }
          const parsed = parseWriteDocument(declaration, request.body, { action: 'create' });
          // Check what the client linked, then fill in the token's market and customer.
          const input = scopeWriteInput(declaration, parsed, access, 'create');
          await this.assertRelatedReachable(declaration, parsed, access);
          const row = await this.writes.create(declaration, input, requestOf(request));
          const document = await this.singleDocument(request, declaration, row, 'write');
          reply.header('location', document.data!.links.self);
          return send(reply, 201, document);
        };

      case 'update':
        return async (request, reply) => {
          const access = accessOf(request);
          assertMayTake(declaration, access, 'update');
          parseQuery(request.query as Record<string, unknown>, declaration, this.store.registry, 'write');
          const input = scopeWriteInput(declaration, parseWriteDocument(declaration, request.body, { action: 'update', id: idOf(request) }), access, 'update');
          const row = await this.findWritable(declaration, idOf(request), access);
          await this.assertRelatedReachable(declaration, input, access);
          const updated = await this.writes.update(declaration, row, input, requestOf(request));
          return send(reply, 200, await this.singleDocument(request, declaration, updated, 'write'));
        };

      case 'delete':
        return async (request, reply) => {
          const access = accessOf(request);
          assertMayTake(declaration, access, 'delete');
          const row = await this.findWritable(declaration, idOf(request), access);
          await this.writes.remove(declaration, row);
          return reply.code(204).send();
        };

      case 'related':
        return async (request, reply) => {
          const name = route.relationship!;
          const { relationship, access, owner } = await this.following(request, declaration, name);
          if (relationship.absent) {
            return send(reply, 200, relationship.kind === 'to_many' ? { data: [], meta: { record_count: 0, page_count: 0 } } : { data: null });
          }
          if (relationship.kind === 'to_many') {
            const target = this.store.declaration(relationship.types[0]!);
            const path = `/${declaration.type}/${owner.id}/${name}`;
            if (relationship.matching) return send(reply, 200, await this.listDocument(request, target, path, {}, matchCondition(relationship.matching, owner)));
            if (!relationship.inverseKey) throw recordNotFound();
            return send(reply, 200, await this.listDocument(request, target, path, { [relationship.inverseKey]: owner.id }));
          }
          const linkage = this.linkageOf(declaration, name, owner);
          const target = this.store.declaration(linkage?.type ?? relationship.types[0]!);
          const related = linkage ? await this.store.findOne(linkage.type, linkage.id, this.reach(target, access)) : null;
          return send(reply, 200, await this.singleDocument(request, target, related, 'retrieve'));
        };

      case 'linkage':
        return async (request, reply) => {
          const name = route.relationship!;
          const { relationship, access, owner } = await this.following(request, declaration, name);
          const self = `${this.apiBase(request)}/${declaration.type}/${owner.id}`;
          const links = { self: `${self}/relationships/${name}`, related: `${self}/${name}` };
          if (relationship.absent) return send(reply, 200, { data: relationship.kind === 'to_many' ? [] : null, links });
          if (relationship.kind === 'to_many') {
            const targetType = relationship.types[0]!;
            const rows = relationship.matching
              ? await this.store.findWhere(targetType, matchCondition(relationship.matching, owner), this.reach(this.store.declaration(targetType), access))
              : relationship.inverseKey
                ? await this.store.findBy(targetType, relationship.inverseKey, [owner.id])
                : [];
            const target = this.store.declaration(targetType);
            return send(reply, 200, { data: rows.map((row) => ({ type: shownDeclaration(this.store.registry, target, row).type, id: row.id })), links });
          }
          const linkage = this.linkageOf(declaration, name, owner);
          const target = linkage ? this.store.declaration(linkage.type) : undefined;
          const exists = linkage && target ? (await this.store.findOne(linkage.type, linkage.id, this.reach(target, access))) !== null : false;
          return send(reply, 200, { data: exists ? linkage : null, links });
        };
    }
  }

  /**
   * The record whose relationship a request follows, within the caller's reach. Sales
   * channels read single records only, and only of types they may read.
   */
  private async following(request: FastifyRequest, declaration: AnyResource, name: string) {
    const relationship = declaration.relationships[name]!;
    const access = accessOf(request);
    assertMayTake(declaration, access, 'retrieve');
    if (relationship.absent) {
      // A related list is a list, which sales channels never get, even of records this server does not keep.
      if (relationship.kind === 'to_many' && access?.storefront) throw forbidden(`Sales channel tokens may not list ${relationship.types[0]}: fetch single records by id.`);
    } else {
      if (relationship.kind === 'to_many') assertMayTake(this.store.declaration(relationship.types[0]!), access, 'list');
      for (const type of relationship.types) assertMayTake(this.store.declaration(type), access, 'retrieve');
    }
    const owner = await this.store.find(declaration.type, idOf(request), this.reach(declaration, access));
    return { relationship, access, owner };
  }

  private linkageOf(declaration: AnyResource, name: string, row: Row): { type: string; id: string } | null {
    const relationship = declaration.relationships[name]!;
    if (relationship.linkage) return relationship.linkage(row);
    const id = relationship.foreignKey ? row[relationship.foreignKey] : undefined;
    return typeof id === 'string' ? { type: relationship.types[0]!, id } : null;
  }
}

function idOf(request: FastifyRequest): string {
  return (request.params as { id: string }).id;
}

/**
 * What the writes' steps are told of the request: its Idempotency-Key's digest, set by the
 * idempotency layer once it claimed the key; and how they say the answer shows a secret,
 * which that layer then never stores.
 */
function requestOf(request: FastifyRequest): RequestContext {
  const http = request as FastifyRequest & { idempotencyKeyDigest?: string; idempotencyRecordId?: string; answerShowsSecret?: boolean };
  return {
    requestKey: http.idempotencyKeyDigest,
    keyRecordId: http.idempotencyRecordId,
    onShownOnce: () => {
      http.answerShowsSecret = true;
    },
  };
}

/**
 * The record an earlier request with this Idempotency-Key wrote and committed without
 * storing its answer (its server died, its connection was cut around the COMMIT): the
 * answer is built again from the record instead of writing twice.
 */
function committedRecordOf(request: FastifyRequest): string | undefined {
  return (request as FastifyRequest & { idempotencyCommittedRecordId?: string }).idempotencyCommittedRecordId;
}

/** Set by the access-token hook on every /api request; absent only when the engine is used without it. */
function accessOf(request: FastifyRequest): Access | undefined {
  return (request as FastifyRequest & { access?: Access }).access;
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

/**
 * Links of a client paging by cursor: the first page (an empty `page[after]` keeps it in
 * cursor mode) and the next one while rows follow. No `prev` or `last`: a keyset page is
 * defined by the row before it, and reaching the last page by OFFSET is what cursors avoid.
 */
function cursorLinks(url: string, rawQuery: Record<string, string>, size: number, nextCursor: string | undefined): Record<string, string> {
  const link = (after: string) => {
    const params = new URLSearchParams(rawQuery);
    params.set('page[after]', after);
    params.set('page[size]', String(size));
    return `${url}?${params.toString()}`;
  };
  return { first: link(''), ...(nextCursor ? { next: link(nextCursor) } : {}) };
}
