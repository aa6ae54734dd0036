import { z } from 'zod';
import type { StripeGateway } from '../generated/prisma/client.ts';
import { defineResource } from '../jsonapi/resource.ts';
import { deleteWebhookEndpoint, registerWebhookEndpoint } from '../payments/stripe-webhook-endpoints.ts';
import type { Services } from '../services.ts';
import { versionsRelationship } from './versions.ts';
import { modeOfKey } from '../stripe/client.ts';
import { commonAttributes, written } from './common.ts';

const gatewayMeta = (gateway: StripeGateway) => ({ mode: gateway.mode });

/** Attributes every payment gateway shows, whatever its kind. */
const gatewayAttributes = {
  name: { type: 'string', creatable: true, updatable: true, filterable: true, sortable: true, required: true, input: z.string().min(1).max(255) },
  force_payments: { type: 'boolean', creatable: true, updatable: true },
  disabled_at: { type: 'datetime', filterable: true, sortable: true },
  ...commonAttributes(),
} as const;

/**
 * Stripe gateways: which Stripe account a payment method charges. The secret key
 * (`login`) is write-only: sealed with the encryption key before it is stored and never
 * serialized, so no response or log can carry it. No domain rules beyond the fields' own:
 * the engine writes them.
 */
export const stripeGateways = defineResource<StripeGateway, Services>()({
  type: 'stripe_gateways',
  model: 'stripeGateway',
  table: 'stripe_gateways',
  actions: ['list', 'retrieve', 'create', 'update', 'delete'],
  meta: gatewayMeta,
  attributes: {
    ...gatewayAttributes,
    login: written(
      { type: 'string', fetchable: false, creatable: true, required: true, column: null },
      z.string().regex(/^(sk|rk)_(test|live)_[A-Za-z0-9_]{1,255}$/, 'must be a Stripe secret or restricted key (sk_test_..., sk_live_...)'),
      (login, { services, afterCommit }) => {
        // The account's events come to an endpoint registered with its key.
        afterCommit((gateway) => registerWebhookEndpoint(services, gateway.id));
        return { loginEncrypted: services.secretBox.seal(login), mode: modeOfKey(login) };
      },
    ),
    // Set with the secret key, as Commerce Layer takes both only on create.
    publishable_key: {
      type: 'string',
      creatable: true,
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
    webhook_endpoint_secret: written(
      { type: 'string', fetchable: false, creatable: true, updatable: true, column: null },
      z.string().regex(/^whsec_[A-Za-z0-9_+/=-]{8,255}$/, 'must be a Stripe webhook signing secret (whsec_...)'),
      (secret, { services, action, row, afterCommit }) => {
        const webhookSecretEncrypted = secret ? services.secretBox.seal(secret) : null;
        if (action === 'create') return { webhookSecretEncrypted };
        // A secret given by the merchant means their own endpoint: the one we registered, if any, goes;
        // null means back to an endpoint this server registers.
        afterCommit(async (gateway) => {
          await deleteWebhookEndpoint(services, row as StripeGateway);
          if (secret === null) await registerWebhookEndpoint(services, gateway.id);
        });
        return { webhookSecretEncrypted, webhookEndpointId: null };
      },
    ),
  },
  relationships: {
    payment_methods: { kind: 'to_many', types: ['payment_methods'], inverseKey: 'paymentGatewayId' },
    stripe_payments: { kind: 'to_many', types: ['stripe_payments'], inverseKey: 'paymentGatewayId' },
    versions: versionsRelationship,
  },

  // The row first: a gateway still used by payment methods stays, and so does its endpoint.
  afterDelete: (services, gateway) => deleteWebhookEndpoint(services, gateway),
});

/** The generic, read-only view Commerce Layer offers over every gateway kind. */
export const paymentGateways = defineResource<StripeGateway, Services>()({
  type: 'payment_gateways',
  model: 'stripeGateway',
  table: 'stripe_gateways',
  actions: ['list', 'retrieve'],
  meta: gatewayMeta,
  attributes: gatewayAttributes,
  relationships: {
    payment_methods: { kind: 'to_many', types: ['payment_methods'], inverseKey: 'paymentGatewayId' },
    versions: versionsRelationship,
  },
});
