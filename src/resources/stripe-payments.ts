import { z } from 'zod';
import type { Order, StripePayment } from '../generated/prisma/client.ts';
import { defineResource, trigger } from '../jsonapi/resource.ts';
import { createStripePayment, deleteStripePayment, stripePaymentOptionsSchema, updateStripePayment } from '../payments/stripe-payments.ts';
import { refreshIntent } from '../payments/triggers/refresh-intent.ts';
import { updateIntent } from '../payments/triggers/update-intent.ts';
import type { Services } from '../services.ts';
import { versionsRelationship } from './versions.ts';
import { commonAttributes, throughOrder } from './common.ts';

type StripePaymentRow = StripePayment & { order?: Pick<Order, 'totalAmountCents' | 'currencyCode'> };

const fetched = { type: 'string' } as const;

/** Commerce Layer's stripe payments: an order's payment source, a PaymentIntent at Stripe (src/payments/stripe-payments.ts). */
export const stripePayments = defineResource<StripePaymentRow, Services>()({
  type: 'stripe_payments',
  model: 'stripePayment',
  table: 'stripe_payments',
  actions: ['list', 'retrieve', 'create', 'update', 'delete'],
  // A reserved row is a PaymentIntent still being created: not a payment yet.
  visibleWhere: { intentState: 'created' },
  storefront: { actions: ['retrieve', 'create', 'update', 'delete'], rows: throughOrder },
  load: { order: { select: { totalAmountCents: true, currencyCode: true } } },
  meta: (payment) => ({ mode: payment.mode }),
  attributes: {
    // Given on create, a PaymentIntent made elsewhere is attached instead of created (Commerce Layer's "created if null").
    stripe_id: { type: 'string', creatable: true, input: z.string().regex(/^pi_\w+$/, 'must be a Stripe PaymentIntent id (pi_...)') },
    client_secret: { type: 'string', creatable: true, input: z.string().regex(/^pi_\w+_secret_\w+$/, "must be a PaymentIntent's client secret") },
    publishable_key: fetched,
    connected_account: fetched,
    // Connect on the platform's account, as the PaymentIntent has them; set through options.
    on_behalf_of: fetched,
    transfer_group: fetched,
    charge_id: fetched,
    options: { type: 'object', creatable: true, updatable: true, input: stripePaymentOptionsSchema },
    payment_method: { type: 'object' },
    mismatched_amounts: {
      type: 'boolean',
      column: null,
      read: (payment) =>
        payment.order !== undefined &&
        (payment.order.totalAmountCents !== payment.amountCents || payment.order.currencyCode !== payment.currencyCode),
    },
    return_url: { type: 'string', creatable: true, updatable: true, input: z.url({ protocol: /^https?$/ }).max(2000) },
    receipt_email: { type: 'string', creatable: true, input: z.email().max(254) },
    payment_instrument: { type: 'object' },
    // Not Commerce Layer's: when Stripe first said this PaymentIntent does not exist (src/payments/reconcile.ts).
    intent_missing_at: { type: 'datetime', filterable: true },
    ...commonAttributes(),
  },
  relationships: {
    order: { kind: 'to_one', types: ['orders'], creatable: true, updatable: true, required: true, foreignKey: 'orderId' },
    // Commerce Layer's generic gateway type, as /api/payment_gateways/:id shows the same record.
    payment_gateway: { kind: 'to_one', types: ['payment_gateways'], foreignKey: 'paymentGatewayId' },
    versions: versionsRelationship,
  },
  triggers: {
    // Send the order's current amount to the PaymentIntent; read it back from Stripe.
    _update: trigger(updateIntent, { callsStripe: true }),
    _refresh: trigger(refreshIntent, { callsStripe: true }),
  },
  // Creating calls Stripe, a move checks the PaymentIntent, a delete cancels it.
  callsStripe: ['create', 'update', 'delete'],
}).writtenBy({ create: createStripePayment, update: updateStripePayment, remove: deleteStripePayment });
