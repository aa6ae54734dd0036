import { z } from 'zod';
import type { StripeGateway } from '../generated/prisma/client.ts';
import { newId } from '../ids.ts';
import { defineResource, type AttributeDeclaration } from '../jsonapi/resource.ts';
import type { Services } from '../services.ts';
import { modeOfKey } from '../stripe/client.ts';
import { commonAttributes } from './common.ts';

const gatewayMeta = (gateway: StripeGateway) => ({ mode: gateway.mode });

/** Attributes every payment gateway shows, whatever its kind. */
const gatewayAttributes: Record<string, AttributeDeclaration<StripeGateway>> = {
  name: { type: 'string', creatable: true, updatable: true, filterable: true, sortable: true, required: true, input: z.string().min(1).max(255) },
  force_payments: { type: 'boolean', creatable: true, updatable: true, filterable: true },
  disabled_at: { type: 'datetime', filterable: true, sortable: true },
  ...commonAttributes<StripeGateway>(),
};

/**
 * Stripe gateways: which Stripe account a payment method charges. The secret key
 * (`login`) is write-only: sealed with the encryption key before it is stored and never
 * serialized, so no response or log can carry it.
 */
export const stripeGateways = defineResource<StripeGateway, Services>({
  type: 'stripe_gateways',
  model: 'stripeGateway',
  table: 'stripe_gateways',
  actions: ['list', 'retrieve', 'create', 'update', 'delete'],
  meta: gatewayMeta,
  attributes: {
    ...gatewayAttributes,
    login: {
      type: 'string',
      fetchable: false,
      creatable: true,
      required: true,
      column: null,
      input: z.string().regex(/^(sk|rk)_(test|live)_[A-Za-z0-9_]{1,255}$/, 'must be a Stripe secret or restricted key (sk_test_..., sk_live_...)'),
    },
    publishable_key: {
      type: 'string',
      creatable: true,
      updatable: true,
      input: z.string().regex(/^pk_(test|live)_[A-Za-z0-9_]{1,255}$/, 'must be a Stripe publishable key (pk_test_..., pk_live_...)'),
    },
    connected_account: {
      type: 'string',
      creatable: true,
      updatable: true,
      input: z.string().regex(/^acct_[A-Za-z0-9]{1,64}$/, 'must be a Stripe account id (acct_...)'),
    },
    auto_payments: { type: 'boolean', creatable: true, updatable: true },
  },
  relationships: {
    payment_methods: { kind: 'to_many', types: ['payment_methods'], inverseKey: 'paymentGatewayId' },
    stripe_payments: { kind: 'to_many', types: ['stripe_payments'], inverseKey: 'paymentGatewayId' },
  },

  async create(services, input) {
    const { attributes: a } = input;
    const login = a.login as string;
    return services.db.stripeGateway.create({
      data: {
        id: newId(),
        name: a.name as string,
        loginEncrypted: services.secretBox.seal(login),
        mode: modeOfKey(login),
        publishableKey: (a.publishable_key as string | null | undefined) ?? null,
        connectedAccount: (a.connected_account as string | null | undefined) ?? null,
        autoPayments: (a.auto_payments as boolean | undefined) ?? false,
        forcePayments: (a.force_payments as boolean | undefined) ?? true,
        reference: (a.reference as string | null | undefined) ?? null,
        referenceOrigin: (a.reference_origin as string | null | undefined) ?? null,
        metadata: (a.metadata ?? {}) as object,
      },
    });
  },
});

/** The generic, read-only view Commerce Layer offers over every gateway kind. */
export const paymentGateways = defineResource<StripeGateway, Services>({
  type: 'payment_gateways',
  model: 'stripeGateway',
  table: 'stripe_gateways',
  actions: ['list', 'retrieve'],
  meta: gatewayMeta,
  attributes: gatewayAttributes,
  relationships: {
    payment_methods: { kind: 'to_many', types: ['payment_methods'], inverseKey: 'paymentGatewayId' },
  },
});
