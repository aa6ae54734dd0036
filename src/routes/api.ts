import type { FastifyInstance } from 'fastify';
import type { SigningKeys } from '../auth/signing-keys.ts';
import type { RecentTokenChecks } from '../auth/tokens.ts';
import type { AppConfig } from '../config.ts';
import { deriveKey } from '../crypto/keys.ts';
import type { DatabaseClients } from '../db/client.ts';
import { ResourceEngine, type AnyResource } from '../jsonapi/engine.ts';
import { useAccessToken } from '../plugins/access-token.ts';
import { useIdempotencyKeys } from '../plugins/idempotency.ts';
import { useJsonApiMediaType } from '../plugins/json-api-media-type.ts';
import type { Services } from '../services.ts';

export interface ApiDependencies {
  services: Services;
  resources: readonly AnyResource[];
  /** Prepared reads, past Prisma (src/db/client.ts). */
  query: DatabaseClients['query'];
  signingKeys: SigningKeys;
  tokenChecks: RecentTokenChecks;
}

/**
 * /api: every declared resource's routes, served by the one JSON:API engine. In this scope
 * and in this order, a request is authenticated (bearer token), negotiated (JSON:API media
 * type) and, for POST and PATCH with an Idempotency-Key, claimed before its handler runs.
 */
export async function registerApiRoutes(
  app: FastifyInstance,
  config: Pick<AppConfig, 'idempotencyKeyTtlSeconds' | 'idempotencyAbandonedAfterSeconds' | 'listStatementTimeoutMs' | 'encryptionKey' | 'publicUrl'>,
  { services, resources, query, signingKeys, tokenChecks }: ApiDependencies,
): Promise<void> {
  const engine = new ResourceEngine(services, resources, {
    query,
    ...(config.publicUrl ? { publicUrl: config.publicUrl } : {}),
    ...(config.listStatementTimeoutMs === undefined ? {} : { listStatementTimeoutMs: config.listStatementTimeoutMs }),
  });
  await app.register(
    async (api) => {
      useAccessToken(api, { signingKeys, db: services.db, tokenChecks });
      useJsonApiMediaType(api);
      useIdempotencyKeys(api, services.db, {
        ttlSeconds: config.idempotencyKeyTtlSeconds,
        fingerprintKey: deriveKey(config.encryptionKey, 'idempotency-key request fingerprint'),
        ...(config.idempotencyAbandonedAfterSeconds === undefined ? {} : { abandonedAfterSeconds: config.idempotencyAbandonedAfterSeconds }),
      });
      engine.register(api);
    },
    { prefix: '/api' },
  );
}
