import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { PrismaClient } from '../db/client.ts';
import { JsonApiError } from '../jsonapi/errors.ts';
import { authenticateClient } from './applications.ts';
import { accessTokenClaims } from './tokens.ts';

/** The token request body, JSON or form; also the OpenAPI document's schema of it. */
export const tokenRequestSchema = z.object({
  grant_type: z.literal('client_credentials', { message: 'grant_type must be client_credentials' }),
  client_id: z.string().min(1).max(255),
  client_secret: z.string().min(1).max(255).optional(),
  scope: z.string().max(1000).optional(),
});

function oauthError(status: number, code: string, detail: string) {
  return new JsonApiError(status, [{ title: code.toLowerCase(), detail, code }]);
}

/**
 * POST /oauth/token: the client_credentials grant of Commerce Layer's auth API, with a
 * JSON body (as its docs show) or a form body (as OAuth 2 clients send).
 */
export function registerOAuthRoutes(app: FastifyInstance, db: PrismaClient, tokenTtlSeconds: number): void {
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_request, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(body as string)));
  });

  app.post('/oauth/token', async (request, reply) => {
    const parsed = tokenRequestSchema.safeParse(request.body ?? {});
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      const field = String(issue.path[0] ?? 'body');
      const unsupported = field === 'grant_type' && typeof (request.body as Record<string, unknown> | undefined)?.grant_type === 'string';
      throw oauthError(400, unsupported ? 'UNSUPPORTED_GRANT_TYPE' : 'INVALID_REQUEST', `${field}: ${issue.message}`);
    }
    const { client_id: clientId, client_secret: clientSecret, scope } = parsed.data;
    const application = await authenticateClient(db, clientId, clientSecret);
    if (!application) throw oauthError(401, 'INVALID_CLIENT', 'Client authentication failed: unknown client or wrong secret.');

    const createdAt = Math.floor(Date.now() / 1000);
    const grantedScope = scope ?? 'market:all';
    const accessToken = await reply.jwtSign(accessTokenClaims(application, grantedScope), { expiresIn: tokenTtlSeconds });
    return reply
      .header('cache-control', 'no-store')
      .send({ access_token: accessToken, token_type: 'bearer', expires_in: tokenTtlSeconds, scope: grantedScope, created_at: createdAt });
  });
}
