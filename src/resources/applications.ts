import { z } from 'zod';
import type { Application } from '../generated/prisma/client.ts';
import { hashSecret, newSecret } from '../crypto/password.ts';
import { defineResource } from '../jsonapi/resource.ts';
import type { Services } from '../services.ts';
import { written } from './common.ts';

// The secret exists in memory only while the create response is written.
type ApplicationRow = Application & { clientSecret?: string };

/**
 * The API clients: integrations (back offices, which present a secret) and sales channels
 * (storefronts, which need none and work inside one market). Integration tokens manage them.
 */
export const applications = defineResource<ApplicationRow, Services>()({
  type: 'applications',
  model: 'application',
  table: 'applications',
  actions: ['list', 'retrieve', 'create', 'update', 'delete'],
  attributes: {
    name: { type: 'string', creatable: true, updatable: true, required: true, filterable: true, sortable: true, input: z.string().min(1).max(255) },
    kind: written(
      { type: 'string', creatable: true, required: true, filterable: true, sortable: true },
      z.enum(['integration', 'sales_channel'], { message: 'must be integration or sales_channel' }),
      // Sales channels run in browsers, where nothing stays secret: they get no secret to leak.
      async (kind, { show }) => {
        const clientSecret = kind === 'integration' ? newSecret(32) : undefined;
        if (clientSecret) show('clientSecret', clientSecret);
        return { kind, secretHash: clientSecret ? await hashSecret(clientSecret) : null };
      },
    ),
    client_id: { type: 'string', filterable: true, initial: () => newSecret(24) },
    // Shown in the create response only; it cannot be read back.
    client_secret: { type: 'string', column: null, read: (application) => application.clientSecret ?? null },
    public_access: { type: 'boolean', column: null, read: (application) => application.kind === 'sales_channel' },
    id: { type: 'string', filterable: true, sortable: true },
    created_at: { type: 'datetime', filterable: true, sortable: true },
    updated_at: { type: 'datetime', filterable: true, sortable: true },
  },
  relationships: {},

  // Its tokens stop at once here; other instances notice within their token check cache's lifetime.
  afterDelete: (services) => services.tokenChecks?.forgetAll(),
});
