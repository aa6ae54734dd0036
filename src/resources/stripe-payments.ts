import { z } from 'zod';
import type { Order, StripePayment } from '../generated/prisma/client.ts';
import { defineResource } from '../jsonapi/resource.ts';
import { createStripePayment, deleteStripePayment, stripePaymentOptionsSchema, updateStripePayment, type StripePaymentOptions } from '../payments/stripe-payments.ts';
import { refreshIntent } from '../payments/triggers/refresh-intent.ts';
import { updateIntent } from '../payments/triggers/update-intent.ts';
import type { Services } from '../services.ts';
import { commonAttributes, throughOrder } from './common.ts';

type StripePaymentRow = StripePayment & { order?: Pick<Order, 'totalAmountCents' | 'currencyCode'> };

const fetched = { type: 'string' } as const;

export const stripePayments = defineResource<StripePaymentRow, Services>({
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
    stripe_id: fetched,
    client_secret: fetched,
    publishable_key: fetched,
    connected_account: fetched,
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
    // Triggers: write-only flags that make the PATCH act at Stripe.
    _update: { type: 'boolean', updatable: true, fetchable: false, column: null },
    _refresh: { type: 'boolean', updatable: true, fetchable: false, column: null },
    ...commonAttributes<StripePaymentRow>(),
  },
  relationships: {
    order: { kind: 'to_one', types: ['orders'], creatable: true, updatable: true, required: true, foreignKey: 'orderId' },
    payment_gateway: { kind: 'to_one', types: ['stripe_gateways'], foreignKey: 'paymentGatewayId' },
  },

  create(services, input) {
    const { attributes: a } = input;
    return createStripePayment(services, {
      orderId: input.relationships.order!.id,
      options: a.options as StripePaymentOptions | null | undefined,
      returnUrl: a.return_url as string | null | undefined,
      receiptEmail: a.receipt_email as string | null | undefined,
      reference: a.reference as string | null | undefined,
      referenceOrigin: a.reference_origin as string | null | undefined,
      metadata: a.metadata as Record<string, unknown> | null | undefined,
    });
  },

  async update(services, payment, input) {
    const { attributes: a } = input;
    await updateStripePayment(services, payment.id, {
      ...(a.options !== undefined ? { options: (a.options ?? {}) as StripePaymentOptions } : {}),
      ...(a.return_url !== undefined ? { returnUrl: a.return_url as string | null } : {}),
      ...(a.reference !== undefined ? { reference: a.reference as string | null } : {}),
      ...(a.reference_origin !== undefined ? { referenceOrigin: a.reference_origin as string | null } : {}),
      ...(a.metadata !== undefined ? { metadata: (a.metadata ?? {}) as Record<string, unknown> } : {}),
      ...(input.relationships.order ? { orderId: input.relationships.order.id } : {}),
    });
    if (a._update === true) await updateIntent(services, payment.id);
    if (a._refresh === true) await refreshIntent(services, payment.id);
    return services.db.stripePayment.findUniqueOrThrow({ where: { id: payment.id }, include: { order: { select: { totalAmountCents: true, currencyCode: true } } } });
  },

  remove(services, payment) {
    return deleteStripePayment(services, payment.id);
  },
});
