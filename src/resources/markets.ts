import { z } from 'zod';
import type { Market } from '../generated/prisma/client.ts';
import { columnsTrigger, defineResource } from '../jsonapi/resource.ts';
import type { Services } from '../services.ts';
import { commonAttributes, disableTriggers } from './common.ts';

/**
 * Markets own orders and payment methods; a sales channel token names one in its scope
 * (`market:code:<code>`, `market:id:<id>` or `market:<number>`). No domain rules: the engine writes them.
 */
export const markets = defineResource<Market, Services>()({
  type: 'markets',
  model: 'market',
  table: 'markets',
  actions: ['list', 'retrieve', 'create', 'update', 'delete'],
  deleteRestrictedBy: [
    { model: 'order', field: 'marketId', name: 'orders' },
    { model: 'paymentMethod', field: 'marketId', name: 'payment methods' },
  ],
  attributes: {
    number: { type: 'integer' },
    name: { type: 'string', creatable: true, updatable: true, required: true, filterable: true, sortable: true, input: z.string().min(1).max(255) },
    code: {
      type: 'string',
      creatable: true,
      updatable: true,
      filterable: true,
      sortable: true,
      input: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be 1 to 64 letters, digits, "-" or "_"'),
    },
    disabled_at: { type: 'datetime', filterable: true, sortable: true },
    ...commonAttributes(),
  },
  relationships: {},
  triggers: {
    ...disableTriggers,
    // A disabled market's sales channel tokens stop working (src/auth/tokens.ts): at once on
    // this instance, within the token check cache's lifetime on the others.
    _disable: columnsTrigger<Services>(
      (context) => {
        context.afterCommit(async () => context.services.tokenChecks?.forgetAll());
        return { disabledAt: new Date() };
      },
      { creatable: true },
    ),
  },
});
