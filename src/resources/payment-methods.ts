import { z } from 'zod';
import type { PaymentMethod } from '../generated/prisma/client.ts';
import { defineResource } from '../jsonapi/resource.ts';
import type { Services } from '../services.ts';
import { versionsRelationship } from './versions.ts';
import { amountAttributes, commonAttributes, currencyCodeInput, disableTriggers } from './common.ts';

const money = (cents: (method: PaymentMethod) => number | null) => (method: PaymentMethod) => ({
  cents: cents(method) ?? 0,
  currencyCode: method.currencyCode,
});

/** Payment methods tie a payment source type and currency to a gateway. No domain rules: the engine writes them. */
export const paymentMethods = defineResource<PaymentMethod, Services>()({
  type: 'payment_methods',
  model: 'paymentMethod',
  table: 'payment_methods',
  actions: ['list', 'retrieve', 'create', 'update', 'delete'],
  deleteRestrictedBy: [{ model: 'order', field: 'paymentMethodId', name: 'orders' }],
  // Storefronts read the enabled methods of their market, and those offered in every market.
  storefront: { actions: ['retrieve'], rows: { market: 'marketId', anyMarketWhenUnset: true, hiddenWhenSet: 'disabledAt' } },
  attributes: {
    name: { type: 'string', creatable: true, updatable: true, filterable: true, sortable: true, input: z.string().max(255) },
    payment_source_type: {
      type: 'string',
      creatable: true,
      updatable: true,
      filterable: true,
      sortable: true,
      required: true,
      input: z.enum(['stripe_payments'], { message: 'must be stripe_payments (the only payment source this server offers)' }),
    },
    currency_code: { type: 'string', creatable: true, updatable: true, filterable: true, sortable: true, required: true, input: currencyCodeInput },
    moto: { type: 'boolean', creatable: true, updatable: true },
    require_capture: { type: 'boolean', creatable: true, updatable: true },
    auto_place: { type: 'boolean', creatable: true, updatable: true },
    auto_capture: { type: 'boolean', creatable: true, updatable: true },
    ...amountAttributes('price_amount', money((method) => method.priceAmountCents), {
      creatable: true,
      updatable: true,
      required: true,
      filterable: true,
      sortable: true,
    }),
    disabled_at: { type: 'datetime', filterable: true, sortable: true },
    ...commonAttributes(),
  },
  relationships: {
    // Commerce Layer's generic gateway; clients may link the concrete type as well.
    payment_gateway: {
      kind: 'to_one',
      types: ['payment_gateways'],
      alsoAccepts: ['stripe_gateways'],
      creatable: true,
      updatable: true,
      foreignKey: 'paymentGatewayId',
    },
    // Unset: offered in every market.
    market: { kind: 'to_one', types: ['markets'], creatable: true, updatable: true, foreignKey: 'marketId' },
    versions: versionsRelationship,
  },
  triggers: disableTriggers,
});
