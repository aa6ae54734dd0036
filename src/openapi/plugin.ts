import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import type { AnyResource } from '../jsonapi/engine.ts';
import { buildOpenApiDocument } from './document.ts';

export interface RegisteredRoute {
  method: string;
  url: string;
}

const routesByApp = new WeakMap<FastifyInstance, RegisteredRoute[]>();

/** Routes registered after registerApiDocs ran (every /oauth and /api route): the coverage test reads them. */
export function registeredRoutes(app: FastifyInstance): readonly RegisteredRoute[] {
  return routesByApp.get(app) ?? [];
}

/**
 * GET /openapi.json (the generated document) and GET /docs (Swagger UI over it), outside
 * /api so no token is needed to read them. @fastify/swagger runs in static mode: the
 * document comes from the resource declarations, not from Fastify route schemas, which
 * this server does not use.
 */
export async function registerApiDocs(app: FastifyInstance, resources: readonly AnyResource[]): Promise<void> {
  const routes: RegisteredRoute[] = [];
  routesByApp.set(app, routes);
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) routes.push({ method, url: route.url ?? route.path });
  });

  const document = buildOpenApiDocument(resources);
  // A plain JSON object; the plugin types it as its own OpenAPI interfaces.
  await app.register(fastifySwagger, { mode: 'static', specification: { document: document as never } });
  await app.register(fastifySwaggerUi, {
    routePrefix: '/docs',
    // The page reads the same document from /docs/json.
    uiConfig: { deepLinking: true, persistAuthorization: true },
  });
  app.get('/openapi.json', async () => app.swagger());
}
