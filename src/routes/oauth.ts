import type { FastifyInstance } from 'fastify';
import {
  authenticateOAuthClient,
  grantToken,
  parseRevokeRequest,
  parseTokenRequest,
  revokeToken,
  unreadableBody,
  withBasicClientAuthentication,
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
      // `curl -d '{...}'` without a Content-Type header sends JSON labelled as a form.
      if ((body as string).trimStart().startsWith('{')) {
        return done(unreadableBody('The body is JSON but its Content-Type is application/x-www-form-urlencoded (curl -d sends that): add the header Content-Type: application/json.'), undefined);
      }
      done(null, Object.fromEntries(new URLSearchParams(body as string)));
    });
    // No Content-Type at all, text/plain (fetch's default for a string) or anything else.
    const unlabelled = (request: { headers: Record<string, unknown> }, _body: unknown, done: (error: Error | null, body?: unknown) => void) => {
      const type = request.headers['content-type'];
      done(
        unreadableBody(
          `${type ? `Content-Type ${String(type)} is not read here` : 'The body has no Content-Type'}: send Content-Type: application/json for a JSON body, or application/x-www-form-urlencoded for a form.`,
        ),
        undefined,
      );
    };
    oauth.addContentTypeParser('text/plain', { parseAs: 'string' }, unlabelled);
    oauth.addContentTypeParser('*', { parseAs: 'string' }, unlabelled);

    oauth.post('/oauth/token', async (request, reply) => {
      const grant = parseTokenRequest(withBasicClientAuthentication(request.body, request.headers.authorization));
      const application = await authenticateOAuthClient(deps.db, grant.client_id, grant.client_secret);
      // Once the client is known, every answer (a token or a refused grant) is not to be cached.
      reply.header('cache-control', 'no-store');
      return grantToken(deps, application, grant);
    });

    oauth.post('/oauth/revoke', async (request, reply) => {
      const { client_id: clientId, client_secret: clientSecret, token } = parseRevokeRequest(withBasicClientAuthentication(request.body, request.headers.authorization));
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
