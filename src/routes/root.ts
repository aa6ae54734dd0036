import type { FastifyInstance } from 'fastify';

/** GET /: what this server is and where its API and token endpoint are. */
export function registerRootRoute(app: FastifyInstance): void {
  app.get('/', async () => ({ name: 'stripe-payments-api', status: 'ok', api: '/api', token: '/oauth/token' }));
}
