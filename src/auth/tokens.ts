import type { FastifyRequest } from 'fastify';
import { invalidToken, unauthorized } from '../jsonapi/errors.ts';

/**
 * Claims shaped like Commerce Layer's access tokens, so its SDKs can read them. Markets
 * and customer owners join `scope` and `owner` when access control arrives.
 */
export interface AccessTokenClaims {
  organization: { id: string; slug: string };
  application: { id: string; client_id: string; kind: string; public: boolean };
  scope: string;
  test: boolean;
  rand: number;
}

export function accessTokenClaims(
  application: { id: string; clientId: string; kind: string },
  scope: string,
): AccessTokenClaims {
  return {
    organization: { id: 'local', slug: 'local' },
    application: { id: application.id, client_id: application.clientId, kind: application.kind, public: application.kind === 'sales_channel' },
    scope,
    test: true,
    rand: Math.random(),
  };
}

declare module '@fastify/jwt' {
  interface FastifyJWT {
    payload: AccessTokenClaims;
    user: AccessTokenClaims & { exp: number; iat: number };
  }
}

/** onRequest hook for /api: a valid, unexpired bearer token or a 401. */
export async function requireAccessToken(request: FastifyRequest): Promise<void> {
  const header = request.headers.authorization;
  if (!header || !/^Bearer\s+\S+$/i.test(header)) {
    throw unauthorized('An access token is required: send Authorization: Bearer <token> (get one from POST /oauth/token).', {
      header: 'Authorization',
    });
  }
  try {
    await request.jwtVerify();
  } catch {
    throw invalidToken('The access token is invalid or has expired.', { header: 'Authorization' });
  }
}
