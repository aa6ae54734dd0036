import { requestExamples, revokeRequestExample, tokenRequestExample } from './examples.ts';
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { revokeRequestSchema, tokenRequestSchema } from '../auth/oauth.ts';
import type { AnyResource } from '../jsonapi/engine.ts';
import { filterPredicates } from '../jsonapi/filter.ts';
import { mediaType } from '../jsonapi/media-type.ts';
import { pageLimits } from '../jsonapi/query.ts';
import { columnOf, type Action } from '../jsonapi/resource.ts';
import { routesOf, type Route } from '../jsonapi/routes.ts';
import { healthSchemas } from '../routes/health.ts';
import {
  errorSchemas,
  fromZod,
  linkageDocumentSchema,
  listDocumentSchema,
  ref,
  resourceObjectSchema,
  schemaNames,
  singleDocumentSchema,
  writeDocumentSchema,
  type JsonSchema,
} from './schemas.ts';

/**
 * The OpenAPI 3.1 document of the whole server, generated from what the server itself
 * runs on: the resource declarations the engine turns into routes (paths, query rules,
 * resource objects), the zod schemas that validate request bodies, the OAuth token
 * request schema and the health responses. Nothing here describes an endpoint by hand
 * that the code does not derive from; a route the document lacks fails test/openapi.test.ts.
 */

type Operation = Record<string, unknown>;
type PathItem = Partial<Record<'get' | 'post' | 'patch' | 'delete', Operation>>;

const packageVersion = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

// Include paths nest at most this deep (include.ts).
const includeDepth = 3;

const tokenResponseSchema = z.object({
  access_token: z.string().describe('A JWT; send it as `Authorization: Bearer <access_token>`.'),
  token_type: z.literal('bearer'),
  expires_in: z.number().int().describe('Seconds until the token expires.'),
  refresh_token: z.string().optional().describe('Password and refresh_token grants: exchange it for a new access token; single use.'),
  scope: z.string(),
  created_at: z.number().int().describe('Unix time, seconds.'),
  owner_id: z.string().optional().describe('Password and refresh_token grants: the signed-in customer.'),
  owner_type: z.literal('customer').optional(),
});

const jwksSchema = z.object({
  keys: z.array(z.object({ kty: z.literal('RSA'), kid: z.string(), alg: z.literal('RS512'), use: z.literal('sig'), n: z.string(), e: z.string() })),
});

const rootResponseSchema = z.object({ name: z.string(), status: z.literal('ok'), api: z.string(), token: z.string() });

const errorResponses: Record<string, string> = {
  '400': 'Bad request: a malformed document or query (BAD_REQUEST, INVALID_RESOURCE, PARAM_NOT_ALLOWED, INVALID_FIELD, INVALID_INCLUDE, INVALID_SORT_CRITERIA, INVALID_PAGE_VALUE, FILTER_NOT_ALLOWED, KEY_NOT_INCLUDED_IN_URL, ...).',
  '401': 'No access token (UNAUTHORIZED) or an invalid or expired one (INVALID_TOKEN).',
  '403': 'Not permitted for this token: sales channel tokens read single records of their market only (FORBIDDEN).',
  '404': 'No such record (RECORD_NOT_FOUND).',
  '406': 'The Accept header does not allow application/vnd.api+json (NOT_ACCEPTABLE).',
  '409': 'Retry when the work in progress has finished: a request with the same Idempotency-Key is still running, the same Stripe call is still in flight, or a capture, refund or cancellation of the order is in progress (CONFLICT); see Retry-After when given.',
  '413': 'The body is larger than the server accepts (PAYLOAD_TOO_LARGE).',
  '415': 'The body is not application/vnd.api+json (UNSUPPORTED_MEDIA_TYPE).',
  '422': 'The document is valid JSON:API but its values are not (VALIDATION_ERROR with source.pointer; STRIPE_ERROR with Stripe\'s code in meta).',
  '423': 'Other resources depend on this one (LOCKED).',
  '429': 'Rate limit exceeded (TOO_MANY_REQUESTS); see Retry-After.',
  '500': 'Unexpected server error (INTERNAL_SERVER_ERROR).',
  '502': 'Stripe failed to process the request (STRIPE_ERROR).',
  '503': 'Stripe could not be reached or is rate limiting (STRIPE_UNAVAILABLE, STRIPE_RATE_LIMITED), or the database is unavailable (SERVICE_UNAVAILABLE); see Retry-After.',
  '504': 'Stripe did not answer in time (STRIPE_TIMEOUT); a retry cannot charge twice. See Retry-After.',
};

function errorResponse(status: string, contentType: string): JsonSchema {
  const retryAfter = status === '409' || status === '429' || status === '503' || status === '504' ? { headers: { 'Retry-After': { schema: { type: 'integer' }, description: 'Seconds to wait.' } } } : {};
  return { description: errorResponses[status], ...retryAfter, content: { [contentType]: { schema: ref('errors') } } };
}

const errorsFor = (...statuses: string[]) =>
  Object.fromEntries(statuses.map((status) => [status, { $ref: `#/components/responses/error_${status}` }]));
const parameterRef = (name: string) => ({ $ref: `#/components/parameters/${name}` });

const jsonApiContent = (schema: JsonSchema) => ({ content: { [mediaType]: { schema } } });
/** Stripe reads only the status of a webhook answer; the body says why for people. */
const webhookErrorSchema: JsonSchema = {
  type: 'object',
  properties: { error: { type: 'object', properties: { message: { type: 'string' } }, required: ['message'] } },
  required: ['error'],
};
const jsonContent = (schema: JsonSchema) => ({ content: { 'application/json': { schema } } });

/** Words for summaries: "stripe payments", "stripe payment", "a stripe payment". */
function label(type: string): { plural: string; singular: string; one: string } {
  const plural = type.replace(/_/g, ' ');
  const singular = plural.replace(/s$/, '');
  return { plural, singular, one: `${/^[aeiou]/.test(singular) ? 'an' : 'a'} ${singular}` };
}

/** Types reachable through `include` from a type, at most `includeDepth` relationships away. */
function includableTypes(registry: ReadonlyMap<string, AnyResource>, type: string): string[] {
  const found = new Set<string>();
  let frontier = [type];
  for (let depth = 0; depth < includeDepth; depth++) {
    const next: string[] = [];
    for (const current of frontier) {
      for (const relationship of Object.values(registry.get(current)?.relationships ?? {})) {
        for (const target of relationship.types) {
          if (!registry.has(target)) continue;
          if (!found.has(target)) next.push(target);
          found.add(target);
        }
      }
    }
    frontier = next;
  }
  return [...found].sort();
}

/** The names `filter[q][...]` accepts before its predicate, as store.ts's filterTarget resolves them. */
function filterableNames(registry: ReadonlyMap<string, AnyResource>, declaration: AnyResource): { own: string[]; related: string[] } {
  const fieldsOf = (resource: AnyResource) =>
    Object.entries(resource.attributes)
      .filter(([name, attribute]) => attribute.filterable && columnOf(name, attribute) !== null)
      .map(([name]) => name);
  const related: string[] = [];
  for (const [name, relationship] of Object.entries(declaration.relationships)) {
    const target = relationship.types.length === 1 ? registry.get(relationship.types[0]!) : undefined;
    const joinable = relationship.kind === 'to_one' ? relationship.foreignKey : relationship.inverseKey;
    if (target && joinable) related.push(...fieldsOf(target).map((field) => `${name}_${field}`));
  }
  return { own: fieldsOf(declaration), related };
}

function queryParameters(registry: ReadonlyMap<string, AnyResource>): Record<string, JsonSchema> {
  const parameters: Record<string, JsonSchema> = {
    id: { name: 'id', in: 'path', required: true, schema: { type: 'string', maxLength: 64 }, description: 'The resource id.' },
    'page.number': {
      name: 'page[number]',
      in: 'query',
      schema: { type: 'integer', minimum: 1, default: 1 },
      description: 'The page to return. Not with `page[after]`.',
    },
    'page.after': {
      name: 'page[after]',
      in: 'query',
      schema: { type: 'string', maxLength: 4096 },
      description:
        'Keyset paging, whose pages cost the same at any depth: empty for the first page, then the cursor from `links.next` ' +
        '(opaque; valid for the same `sort` and filters). Answers have `links.first` and, while records follow, `links.next`; ' +
        'no `prev` or `last`. Not with `page[number]`; a cursor that is not ours is a 400 INVALID_PAGE_VALUE.',
    },
    'page.size': {
      name: 'page[size]',
      in: 'query',
      schema: { type: 'integer', minimum: 1, maximum: pageLimits.maxSize, default: pageLimits.defaultSize },
      description: `Resources per page (at most ${pageLimits.maxSize}).`,
    },
  };
  const predicates = [...filterPredicates].sort().join(', ');
  for (const declaration of registry.values()) {
    const { type } = declaration;
    const fetchable = [
      ...Object.entries(declaration.attributes).filter(([name, attribute]) => attribute.fetchable !== false && name !== 'id').map(([name]) => name),
      ...Object.keys(declaration.relationships),
    ];
    parameters[`fields.${type}`] = {
      name: `fields[${type}]`,
      in: 'query',
      schema: { type: 'string' },
      description: `Sparse fieldset: the comma-separated attributes and relationships of ${type} to return, of: ${fetchable.join(', ')}.`,
    };
    const relationships = Object.keys(declaration.relationships);
    if (relationships.length > 0) {
      parameters[`${type}.include`] = {
        name: 'include',
        in: 'query',
        schema: { type: 'string' },
        description: `Comma-separated relationship paths to include, each at most ${includeDepth} levels deep (e.g. \`${relationships[0]}\`). Relationships of ${type}: ${relationships.join(', ')}.`,
      };
    }
    const sortable = Object.entries(declaration.attributes).filter(([, attribute]) => attribute.sortable).map(([name]) => name);
    if (sortable.length > 0) {
      parameters[`${type}.sort`] = {
        name: 'sort',
        in: 'query',
        schema: { type: 'string' },
        description: `Comma-separated sort criteria, \`-\` first for descending (e.g. \`-${sortable[0]}\`). Sortable: ${sortable.join(', ')}. Default: newest first.`,
      };
    }
    const { own, related } = filterableNames(registry, declaration);
    if (own.length + related.length > 0) {
      parameters[`${type}.filter`] = {
        name: 'filter[q]',
        in: 'query',
        style: 'deepObject',
        explode: true,
        schema: { type: 'object', additionalProperties: { type: 'string' } },
        description:
          `Commerce Layer's (Ransack) filters: \`filter[q][<field>_<predicate>]=<value>\`, fields joined by \`_or_\` ` +
          `(e.g. \`filter[q][reference_or_reference_origin_eq]=x\`, \`filter[q][id_in]=a,b\`). ` +
          `Fields of ${type}: ${own.join(', ')}.` +
          (related.length > 0 ? ` Through relationships: ${related.join(', ')}.` : '') +
          ` Predicates: ${predicates}.`,
      };
    }
  }
  return parameters;
}

/** The query parameters parseQuery accepts for a kind of read on a type. */
function parametersFor(registry: ReadonlyMap<string, AnyResource>, type: string, kind: 'list' | 'retrieve' | 'write'): JsonSchema[] {
  const declaration = registry.get(type)!;
  const parameters: JsonSchema[] = [];
  if (Object.keys(declaration.relationships).length > 0) parameters.push(parameterRef(`${type}.include`));
  for (const fieldsType of [type, ...includableTypes(registry, type).filter((other) => other !== type)]) {
    parameters.push(parameterRef(`fields.${fieldsType}`));
  }
  if (kind === 'list') {
    if (Object.values(declaration.attributes).some((attribute) => attribute.sortable)) parameters.push(parameterRef(`${type}.sort`));
    parameters.push(parameterRef('page.number'), parameterRef('page.size'), parameterRef('page.after'));
    const { own, related } = filterableNames(registry, declaration);
    if (own.length + related.length > 0) parameters.push(parameterRef(`${type}.filter`));
  }
  return parameters;
}

/** `/stripe_payments/:id/order` as the document writes it, under /api: `/api/stripe_payments/{id}/order`. */
const documentedPath = (url: string) => `/api${url.replace(/:([A-Za-z0-9_]+)/g, '{$1}')}`;

/**
 * The operations of a declaration's routes, as routes.ts lists them: each route's
 * statuses are its responses, so the document lists every status a route can answer.
 * Refused routes (405) are left out.
 */
function resourcePaths(registry: ReadonlyMap<string, AnyResource>, declaration: AnyResource): Record<string, PathItem> {
  const { type } = declaration;
  const name = label(type);
  const tags = [type];
  // Either scheme: a token pasted in (bearerAuth) or one Swagger UI fetches itself (oauth2).
  const security = [{ bearerAuth: [] }, { oauth2: [] }];
  const examples = requestExamples[type] ?? {};
  const withExample = (content: { content: Record<string, Record<string, unknown>> }, example: unknown) =>
    example === undefined ? content : { content: { [mediaType]: { ...content.content[mediaType], example } } };
  const includable = includableTypes(registry, type);
  const single = jsonApiContent(singleDocumentSchema(ref(schemaNames.resource(type)), includable));

  // Who besides integrations may call it: the resource's storefront rules, in words.
  const storefrontActions: readonly string[] = declaration.storefront?.actions ?? [];
  const access = (action: Action) => ({
    description:
      action !== 'list' && storefrontActions.includes(action)
        ? 'Integration and sales channel tokens; a sales channel reaches only its market and, signed in, its customer.'
        : 'Integration tokens only (sales channel tokens get 403).',
  });

  /** What each kind of route is, besides its responses. */
  const operationOf = (route: Route): { operation: Operation; success: JsonSchema } | undefined => {
    switch (route.operation) {
      case 'refused':
        return undefined;
      case 'list':
        return {
          operation: { operationId: `${type}_list`, ...access('list'), summary: `List ${name.plural}`, parameters: parametersFor(registry, type, 'list') },
          success: { description: `A page of ${name.plural}.`, ...jsonApiContent(listDocumentSchema(type, includable)) },
        };
      case 'create':
        return {
          operation: {
            operationId: `${type}_create`,
            ...access('create'),
            summary: `Create ${name.one}`,
            parameters: parametersFor(registry, type, 'write'),
            requestBody: { required: true, ...withExample(jsonApiContent(ref(schemaNames.create(type))), examples.create) },
          },
          success: {
            description: `The created ${name.singular}.`,
            headers: { Location: { schema: { type: 'string', format: 'uri' }, description: 'The URL of the new resource.' } },
            ...single,
          },
        };
      case 'retrieve':
        return {
          operation: { operationId: `${type}_retrieve`, ...access('retrieve'), summary: `Retrieve ${name.one}`, parameters: [parameterRef('id'), ...parametersFor(registry, type, 'retrieve')] },
          success: { description: `The ${name.singular}.`, ...single },
        };
      case 'update':
        return {
          operation: {
            operationId: `${type}_update`,
            ...access('update'),
            summary: `Update ${name.one}`,
            parameters: [parameterRef('id'), ...parametersFor(registry, type, 'write')],
            requestBody: { required: true, ...withExample(jsonApiContent(ref(schemaNames.update(type))), examples.update) },
          },
          success: { description: 'The updated resource.', ...single },
        };
      case 'delete':
        return {
          operation: { operationId: `${type}_delete`, ...access('delete'), summary: `Delete ${name.one}`, parameters: [parameterRef('id')] },
          success: { description: 'Deleted.' },
        };
      case 'related': {
        const relationshipName = route.relationship!;
        const relationship = declaration.relationships[relationshipName]!;
        const target = relationship.types[0]!;
        const operation = { operationId: `${type}_${relationshipName}`, summary: `The ${relationshipName} of ${name.one}` };
        if (relationship.absent) {
          const data: JsonSchema = relationship.kind === 'to_many' ? { type: 'array', maxItems: 0 } : { type: 'null' };
          return {
            operation: { ...operation, parameters: [parameterRef('id')] },
            success: {
              description: `Always ${relationship.kind === 'to_many' ? 'empty' : 'null'}: this server keeps no ${relationship.types.join(' or ')} records.`,
              ...jsonApiContent({ type: 'object', required: ['data'], properties: { data, meta: { type: 'object' } } }),
            },
          };
        }
        if (relationship.kind === 'to_many') {
          return {
            operation: { ...operation, parameters: [parameterRef('id'), ...parametersFor(registry, target, 'list')] },
            success: { description: `A page of the ${relationshipName} of the ${type} record.`, ...jsonApiContent(listDocumentSchema(target, includableTypes(registry, target))) },
          };
        }
        return {
          operation: { ...operation, parameters: [parameterRef('id'), ...parametersFor(registry, target, 'retrieve')] },
          success: {
            description: `The ${relationshipName} of the ${type} record (data is null when there is none).`,
            ...jsonApiContent(
              singleDocumentSchema(
                { anyOf: [...relationship.types.map((linked) => ref(schemaNames.resource(linked))), { type: 'null' }] },
                [...new Set(relationship.types.flatMap((linked) => includableTypes(registry, linked)))].sort(),
              ),
            ),
          },
        };
      }
      case 'linkage': {
        const relationshipName = route.relationship!;
        return {
          operation: {
            operationId: `${type}_relationships_${relationshipName}`,
            summary: `The ${relationshipName} linkage of ${name.one}`,
            parameters: [parameterRef('id')],
          },
          success: { description: 'Resource identifiers only.', ...jsonApiContent(linkageDocumentSchema(declaration.relationships[relationshipName]!)) },
        };
      }
    }
  };

  const paths: Record<string, PathItem> = {};
  for (const route of routesOf(declaration)) {
    const described = operationOf(route);
    if (!described) continue;
    const [success, ...errors] = route.statuses;
    const method = route.method.toLowerCase() as keyof PathItem;
    paths[documentedPath(route.url)] = {
      ...paths[documentedPath(route.url)],
      [method]: { ...described.operation, tags, security, responses: { [String(success)]: described.success, ...errorsFor(...errors.map(String)) } },
    };
  }
  return paths;
}

const description = `A payments API that speaks [Commerce Layer](https://docs.commercelayer.io/core/)'s JSON:API dialect for Stripe payments.

- Get a token with \`POST /oauth/token\` (client credentials; sales channels name a market in \`scope\`, customers sign in with the password grant) and send it as \`Authorization: Bearer <token>\` to every \`/api\` route.
- Send \`Accept: application/vnd.api+json\`; request bodies are \`Content-Type: application/vnd.api+json\`.
- Reads take JSON:API's query language: \`include\`, \`fields[type]\`, \`sort\`, \`page[number]\`/\`page[size]\` (or the cursor \`page[after]\`) and \`filter[q][...]\` (Ransack predicates).
- Errors are JSON:API \`errors\` arrays with Commerce Layer's codes. A method a path does not list answers 405 METHOD_NOT_ALLOWED.`;

/** Builds the document for a list of resource declarations (the list the engine serves). */
export function buildOpenApiDocument(resources: readonly AnyResource[]): JsonSchema {
  const registry = new Map(resources.map((resource) => [resource.type, resource]));

  const schemas: Record<string, JsonSchema> = { ...errorSchemas };
  for (const declaration of registry.values()) {
    schemas[schemaNames.resource(declaration.type)] = resourceObjectSchema(declaration);
    if (declaration.actions.includes('create')) schemas[schemaNames.create(declaration.type)] = writeDocumentSchema(declaration, 'create');
    if (declaration.actions.includes('update')) schemas[schemaNames.update(declaration.type)] = writeDocumentSchema(declaration, 'update');
  }
  schemas.token_request = fromZod(tokenRequestSchema);
  schemas.token_response = fromZod(tokenResponseSchema);
  schemas.revoke_request = fromZod(revokeRequestSchema);
  schemas.jwks = fromZod(jwksSchema);
  for (const [name, schema] of Object.entries(healthSchemas)) schemas[name] = fromZod(schema);

  const responses: Record<string, JsonSchema> = {};
  for (const status of Object.keys(errorResponses)) responses[`error_${status}`] = errorResponse(status, mediaType);

  const paths: Record<string, unknown> = {
    '/': {
      get: {
        operationId: 'root',
        summary: 'Service information',
        tags: ['meta'],
        responses: { '200': { description: 'Where the API and the token endpoint are.', ...jsonContent(fromZod(rootResponseSchema)) } },
      },
    },
    '/openapi.json': {
      get: {
        operationId: 'openapi',
        summary: 'This OpenAPI document',
        tags: ['meta'],
        responses: { '200': { description: 'OpenAPI 3.1; an interactive page renders it at /docs.', ...jsonContent({ type: 'object' }) } },
      },
    },
    '/health/live': {
      get: {
        operationId: 'health_live',
        summary: 'Liveness: the process runs',
        tags: ['health'],
        responses: { '200': { description: 'Alive.', ...jsonContent(ref('health_live')) } },
      },
    },
    '/health/ready': {
      get: {
        operationId: 'health_ready',
        summary: 'Readiness: the database is reachable and every migration is applied',
        tags: ['health'],
        responses: {
          '200': { description: 'Ready to serve.', ...jsonContent(ref('health_ready')) },
          '503': { description: 'Not ready: the database is unreachable or migrations are pending.', ...jsonContent(ref('health_ready')) },
        },
      },
    },
    '/oauth/token': {
      post: {
        operationId: 'oauth_token',
        summary: 'Get an access token: client_credentials (integrations; sales channels with a market in scope), password and refresh_token (customers of a sales channel)',
        tags: ['auth'],
        security: [],
        requestBody: {
          required: true,
          content: {
            'application/json': { schema: ref('token_request'), example: tokenRequestExample },
            'application/x-www-form-urlencoded': { schema: ref('token_request'), example: tokenRequestExample },
          },
        },
        responses: {
          '200': { description: 'A bearer token.', headers: { 'Cache-Control': { schema: { const: 'no-store' } } }, ...jsonContent(ref('token_response')) },
          '400': {
            description:
              'A missing or malformed field (INVALID_REQUEST), another grant (UNSUPPORTED_GRANT_TYPE), a bad or missing market scope (INVALID_SCOPE), wrong customer credentials or a used refresh token (INVALID_GRANT).',
            ...jsonContent(ref('errors')),
          },
          '401': { description: 'Unknown client or wrong secret (INVALID_CLIENT).', ...jsonContent(ref('errors')) },
          '429': errorResponse('429', 'application/json'),
        },
      },
    },
    '/oauth/revoke': {
      post: {
        operationId: 'oauth_revoke',
        summary: "Revoke a refresh token (and its session's access tokens) or an access token",
        tags: ['auth'],
        security: [],
        requestBody: {
          required: true,
          content: {
            'application/json': { schema: ref('revoke_request'), example: revokeRequestExample },
            'application/x-www-form-urlencoded': { schema: ref('revoke_request'), example: revokeRequestExample },
          },
        },
        responses: {
          '200': { description: "Revoked; also the answer for an unknown token or another client's (RFC 7009).", ...jsonContent({ type: 'object' }) },
          '400': { description: 'A missing or malformed field (INVALID_REQUEST).', ...jsonContent(ref('errors')) },
          '401': { description: 'Unknown client or wrong secret (INVALID_CLIENT).', ...jsonContent(ref('errors')) },
        },
      },
    },
    '/.well-known/jwks.json': {
      get: {
        operationId: 'jwks',
        summary: 'The public keys that verify access tokens (RS512), newest first',
        tags: ['auth'],
        security: [],
        responses: { '200': { description: 'A JSON Web Key Set.', ...jsonContent(ref('jwks')) } },
      },
    },
    '/webhooks/stripe/{gatewayId}': {
      post: {
        operationId: 'stripe_webhook',
        summary: "Stripe events for a gateway (its webhook_endpoint_url); verified with the gateway's signing secret",
        // Not `webhooks`: that is the outgoing webhooks resource's tag.
        tags: ['stripe_webhooks'],
        security: [],
        parameters: [
          { name: 'gatewayId', in: 'path', required: true, schema: { type: 'string' } },
          { name: 'Stripe-Signature', in: 'header', required: true, schema: { type: 'string' } },
        ],
        requestBody: { required: true, content: { 'application/json': { schema: { type: 'object', description: 'A Stripe event, as Stripe signs it.' } } } },
        responses: {
          '200': { description: 'Received; applied once, however often Stripe delivers it.', ...jsonContent({ type: 'object', properties: { received: { const: true } }, required: ['received'] }) },
          '400': { description: 'A missing or invalid signature, or not an event: nothing changed.', ...jsonContent(webhookErrorSchema) },
          '404': { description: 'No such gateway.', ...jsonContent(webhookErrorSchema) },
        },
      },
    },
  };
  for (const declaration of registry.values()) Object.assign(paths, resourcePaths(registry, declaration));

  return {
    openapi: '3.1.0',
    info: { title: 'Stripe payments API', version: packageVersion, description },
    // Relative: the server that serves this document, wherever it is deployed.
    servers: [{ url: '/', description: 'This server' }],
    // Tag names are unique (OpenAPI 3.1); Swagger UI groups operations by name.
    tags: [
      { name: 'auth', description: 'Access tokens.' },
      ...[...registry.values()].map((declaration) => ({ name: declaration.type, description: `Actions: ${declaration.actions.join(', ')}.` })),
      { name: 'stripe_webhooks', description: 'Events from Stripe.' },
      { name: 'health', description: 'Probes for orchestrators and load balancers.' },
      { name: 'meta', description: 'The service and its documentation.' },
    ],
    paths,
    components: {
      schemas,
      parameters: queryParameters(registry),
      responses,
      securitySchemes: {
        bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'An access token from POST /oauth/token.' },
        // Swagger UI's Authorize button gets its own token with these (client_id and
        // client_secret, sent as HTTP Basic or in the body).
        oauth2: {
          type: 'oauth2',
          description: 'Client credentials of an integration application (printed at first start).',
          flows: { clientCredentials: { tokenUrl: '/oauth/token', scopes: {} } },
        },
      },
    },
  };
}
