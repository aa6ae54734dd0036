import type { FastifyInstance } from 'fastify';
import type { SigningKeys } from '../auth/signing-keys.ts';
import { verifyAccessToken, type RecentTokenChecks } from '../auth/tokens.ts';
import type { PrismaClient } from '../db/client.ts';
import type { Access } from '../jsonapi/access.ts';
import { unauthorized } from '../jsonapi/errors.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** Who the verified access token speaks for; set on every /api request. */
    access: Access;
  }
}

export interface AccessTokenDependencies {
  signingKeys: SigningKeys;
  db: PrismaClient;
  tokenChecks: RecentTokenChecks;
}

/** Every request of the scope carries a valid, unexpired, unrevoked bearer token, or gets a 401. */
export function useAccessToken(scope: FastifyInstance, { signingKeys, db, tokenChecks }: AccessTokenDependencies): void {
  scope.decorateRequest('access', null as never);
  scope.addHook('onRequest', async (request) => {
    const header = request.headers.authorization;
    const match = header ? /^Bearer\s+(\S+)$/i.exec(header) : null;
    if (!match) {
      throw unauthorized('An access token is required: send Authorization: Bearer <token> (get one from POST /oauth/token).', {
        header: 'Authorization',
      });
    }
    request.access = await verifyAccessToken(signingKeys, db, tokenChecks, match[1]!);
  });
}
