import type { FastifyInstance } from 'fastify';
import {
  authenticateOAuthClient,
  grantToken,
  parseRevokeRequest,
  parseTokenRequest,
  revokeToken,
  type OAuthDependencies,
} from '../auth/oauth.ts';

/**
 * POST /oauth/token, POST /oauth/revoke and the public signing keys at
 * /.well-known/jwks.json, in a scope of their own. Bodies are JSON (as Commerce Layer's docs
 * show) or forms (as OAuth 2 clients send). What a grant does is src/auth/oauth.ts.
 */
export async function registerOAuthRoutes(app: FastifyInstance, deps: OAuthDependencies): Promise<void> {
  await app.register(async (oauth) => {
    oauth.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_request, body, done) => {
      done(null, Object.fromEntries(new URLSearchParams(body as string)));
    });

    oauth.post('/oauth/token', async (request, reply) => {
      const grant = parseTokenRequest(request.body);
      const application = await authenticateOAuthClient(deps.db, grant.client_id, grant.client_secret);
      // Once the client is known, every answer (a token or a refused grant) is not to be cached.
      reply.header('cache-control', 'no-store');
      return grantToken(deps, application, grant);
    });

    oauth.post('/oauth/revoke', async (request, reply) => {
      const { client_id: clientId, client_secret: clientSecret, token } = parseRevokeRequest(request.body);
      const application = await authenticateOAuthClient(deps.db, clientId, clientSecret);
      reply.header('cache-control', 'no-store');
      await revokeToken(deps, application, token);
      return {};
    });

    oauth.get('/.well-known/jwks.json', async (_request, reply) => {
      // Verifiers may cache the set briefly; a rotated-in key is published well before it signs for long.
      return reply.header('cache-control', 'public, max-age=300').send(await deps.signingKeys.jwks());
    });
  });
}
