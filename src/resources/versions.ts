import type { Version } from '../generated/prisma/client.ts';
import { defineResource, type RelationshipDeclaration } from '../jsonapi/resource.ts';
import type { Services } from '../services.ts';
import { commonAttributes } from './common.ts';

/**
 * Commerce Layer's versions: the audit trail of the payment side's records, written with
 * each change (src/versions.ts), read-only, integrations only.
 */
export const versions = defineResource<Version, Services>()({
  type: 'versions',
  model: 'version',
  table: 'versions',
  actions: ['list', 'retrieve'],
  attributes: {
    resource_type: { type: 'string', filterable: true },
    resource_id: { type: 'string', filterable: true },
    event: { type: 'string' },
    changes: { type: 'object' },
    who: { type: 'object' },
    ...commonAttributes(),
  },
  relationships: {},
});

/** A versioned resource's `versions` (record ids are unique across types, so the id finds them). */
export const versionsRelationship = { kind: 'to_many', types: ['versions'], inverseKey: 'resourceId' } as const satisfies RelationshipDeclaration<unknown>;
