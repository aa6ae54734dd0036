import { z } from 'zod';
import type { StripeGateway } from '../generated/prisma/client.ts';
import { newId } from '../ids.ts';
import { defineResource, type AttributeDeclaration } from '../jsonapi/resource.ts';
import { deleteWebhookEndpoint, registerWebhookEndpoint } from '../payments/stripe-webhook-endpoints.ts';
import type { Services } from '../services.ts';
import { modeOfKey } from '../stripe/client.ts';
import { commonAttributes, commonColumns } from './common.ts';

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
    // The endpoint this server registered at Stripe for the gateway's events, and where they arrive.
    webhook_endpoint_id: { type: 'string' },
    webhook_endpoint_url: { type: 'string' },
    // Write-only, unlike Commerce Layer's: a signing secret is as sensitive as the login. Give it
    // only for an endpoint made in the Stripe dashboard; registered endpoints bring their own.
    webhook_endpoint_secret: {
      type: 'string',
      fetchable: false,
      creatable: true,
      updatable: true,
      column: null,
      input: z.string().regex(/^whsec_[A-Za-z0-9_+/=-]{8,255}$/, 'must be a Stripe webhook signing secret (whsec_...)'),
    },
  },
  relationships: {
    payment_methods: { kind: 'to_many', types: ['payment_methods'], inverseKey: 'paymentGatewayId' },
    stripe_payments: { kind: 'to_many', types: ['stripe_payments'], inverseKey: 'paymentGatewayId' },
  },

  async create(services, input) {
    const { attributes: a } = input;
    const login = a.login as string;
    const webhookSecret = a.webhook_endpoint_secret as string | null | undefined;
    const gateway = await services.db.stripeGateway.create({
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
        webhookSecretEncrypted: webhookSecret ? services.secretBox.seal(webhookSecret) : null,
      },
    });
    await registerWebhookEndpoint(services, gateway.id);
    return services.db.stripeGateway.findUniqueOrThrow({ where: { id: gateway.id } });
  },

  async update(services, gateway, input) {
    const { attributes: a } = input;
    const webhookSecret = a.webhook_endpoint_secret as string | null | undefined;
    const data = {
      ...(a.name !== undefined ? { name: a.name as string } : {}),
      ...(a.force_payments !== undefined ? { forcePayments: a.force_payments as boolean } : {}),
      ...(a.publishable_key !== undefined ? { publishableKey: a.publishable_key as string | null } : {}),
      ...(a.connected_account !== undefined ? { connectedAccount: a.connected_account as string | null } : {}),
      ...(a.auto_payments !== undefined ? { autoPayments: a.auto_payments as boolean } : {}),
      ...commonColumns(a),
      // A secret given by the merchant means their own endpoint: the one we registered, if any, goes.
      ...(webhookSecret !== undefined
        ? { webhookSecretEncrypted: webhookSecret ? services.secretBox.seal(webhookSecret) : null, webhookEndpointId: null }
        : {}),
    };
    if (webhookSecret !== undefined) await deleteWebhookEndpoint(services, gateway);
    if (Object.keys(data).length === 0) return gateway;
    const updated = await services.db.stripeGateway.update({ where: { id: gateway.id }, data });
    if (webhookSecret !== null) return updated;
    // null: back to an endpoint this server registers.
    await registerWebhookEndpoint(services, gateway.id);
    return services.db.stripeGateway.findUniqueOrThrow({ where: { id: gateway.id } });
  },

  async remove(services, gateway) {
    // The row first: a gateway still used by payment methods stays, and so does its endpoint.
    await services.db.stripeGateway.delete({ where: { id: gateway.id } });
    await deleteWebhookEndpoint(services, gateway);
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
