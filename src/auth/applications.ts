import { hashSecret, newSecret, verifySecret } from '../crypto/password.ts';
import type { PrismaClient } from '../db/client.ts';
import { newId } from '../ids.ts';

export type ApplicationKind = 'integration' | 'sales_channel';

export interface ApplicationCredentials {
  clientId: string;
  clientSecret: string;
}

/**
 * Makes sure an integration application can sign in: with the configured credentials
 * (created or re-keyed), or, on an empty database, a new one whose secret is returned
 * exactly once for the caller to show. Returns undefined when nothing new was created.
 */
export async function ensureIntegrationApplication(
  db: PrismaClient,
  configured: ApplicationCredentials | undefined,
): Promise<ApplicationCredentials | undefined> {
  if (configured) {
    const existing = await db.application.findUnique({ where: { clientId: configured.clientId } });
    if (existing?.secretHash && (await verifySecret(configured.clientSecret, existing.secretHash))) return undefined;
    const secretHash = await hashSecret(configured.clientSecret);
    await db.application.upsert({
      where: { clientId: configured.clientId },
      create: { id: newId(), name: 'Configured integration', kind: 'integration', clientId: configured.clientId, secretHash },
      update: { secretHash, kind: 'integration' },
    });
    return undefined;
  }
  if ((await db.application.count()) > 0) return undefined;
  const credentials = { clientId: newSecret(24), clientSecret: newSecret(32) };
  await db.application.create({
    data: {
      id: newId(),
      name: 'Default integration',
      kind: 'integration',
      clientId: credentials.clientId,
      secretHash: await hashSecret(credentials.clientSecret),
    },
  });
  return credentials;
}

/** The application these credentials sign in as, or null. Integrations must present their secret. */
export async function authenticateClient(db: PrismaClient, clientId: string, clientSecret: string | undefined) {
  const application = await db.application.findUnique({ where: { clientId } });
  if (!application) {
    // Spend the same time as a real check so response time does not reveal which client ids exist.
    await verifySecret(clientSecret ?? '', dummyHash ?? (dummyHash = await hashSecret('dummy')));
    return null;
  }
  if (application.kind === 'integration' || application.secretHash) {
    if (!clientSecret || !application.secretHash || !(await verifySecret(clientSecret, application.secretHash))) return null;
  }
  return application;
}

let dummyHash: string | undefined;
