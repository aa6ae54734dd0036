import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import type { AnyResource } from '../jsonapi/engine.ts';
import { buildOpenApiDocument } from '../openapi/document.ts';

export interface RegisteredRoute {
  method: string;
  url: string;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Every route registered after the docs (every /oauth and /api route), in order. */
    documentedRoutes: RegisteredRoute[];
  }
}

/** Routes registered after registerDocsRoutes ran (every /oauth and /api route): the coverage test reads them. */
export function registeredRoutes(app: FastifyInstance): readonly RegisteredRoute[] {
  return app.documentedRoutes ?? [];
}

/**
 * GET /openapi.json (the generated document) and GET /docs (Swagger UI over it), outside
 * /api so no token is needed to read them. @fastify/swagger runs in static mode: the
 * document comes from the resource declarations, not from Fastify route schemas, which
 * this server does not use.
 */
export async function registerDocsRoutes(app: FastifyInstance, resources: readonly AnyResource[]): Promise<void> {
  const routes: RegisteredRoute[] = [];
  app.decorate('documentedRoutes', routes);
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
