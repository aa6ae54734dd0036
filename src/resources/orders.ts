import { z } from 'zod';
import type { Order } from '../generated/prisma/client.ts';
import { columnsTrigger, defineResource, trigger } from '../jsonapi/resource.ts';
import { approveOrder, createOrder, deleteOrder, editableStatuses, refreshOrder, updateOrder } from '../payments/orders.ts';
import { approveAndCaptureOrder } from '../payments/triggers/approve-and-capture.ts';
import { authorizeOrder, placeOrder } from '../payments/triggers/authorize.ts';
import { cancelOrder } from '../payments/triggers/cancel.ts';
import { captureOrder } from '../payments/triggers/capture.ts';
import { refundOrder } from '../payments/triggers/refund.ts';
import type { Services } from '../services.ts';
import { versionsRelationship } from './versions.ts';
import { amountAttributes, commonAttributes, currencyCodeInput, written } from './common.ts';

const money = (cents: (order: Order) => number) => (order: Order) => ({ cents: cents(order), currencyCode: order.currencyCode });

/** Commerce Layer's orders; their rules are in src/payments/orders.ts, their triggers in src/payments/triggers/. */
export const orders = defineResource<Order, Services>()({
  type: 'orders',
  model: 'order',
  table: 'orders',
  // Delete: draft orders without a payment (src/payments/orders.ts).
  actions: ['list', 'retrieve', 'create', 'update', 'delete'],
  storefront: {
    actions: ['retrieve', 'create', 'update'],
    rows: { market: 'marketId', customer: 'customerId', status: { field: 'status', readable: ['draft', 'pending', 'placed'], writable: [...editableStatuses] } },
  },
  attributes: {
    number: { type: 'string', columnType: 'integer', filterable: true, sortable: true, read: (order) => String(order.number) },
    status: { type: 'string', filterable: true, sortable: true },
    payment_status: { type: 'string', filterable: true, sortable: true },
    fulfillment_status: { type: 'string', filterable: true, sortable: true },
    guest: { type: 'boolean', creatable: true, updatable: true, filterable: true, sortable: true },
    customer_type: { type: 'string' },
    // Commerce Layer inherits the currency from the market; until markets exist it is set on the order.
    currency_code: { type: 'string', creatable: true, updatable: true, filterable: true, sortable: true, input: currencyCodeInput },
    customer_email: { type: 'string', creatable: true, updatable: true, filterable: true, input: z.email().max(254) },
    // Cleared, it is the default again.
    language_code: written(
      { type: 'string', creatable: true, updatable: true, filterable: true, sortable: true },
      z.string().regex(/^[a-z]{2}(-[A-Z]{2})?$/, 'must be a language code like "en" or "it"'),
      (code) => ({ languageCode: code ?? 'en' }),
    ),
    editable: { type: 'boolean', column: null, read: (order) => editableStatuses.has(order.status) },
    placed_at: { type: 'datetime', filterable: true, sortable: true },
    approved_at: { type: 'datetime', filterable: true, sortable: true },
    cancelled_at: { type: 'datetime', filterable: true, sortable: true },
    payment_updated_at: { type: 'datetime', filterable: true, sortable: true },
    fulfillment_updated_at: { type: 'datetime', filterable: true, sortable: true },
    refreshed_at: { type: 'datetime', filterable: true, sortable: true },
    archived_at: { type: 'datetime', filterable: true, sortable: true },
    ...amountAttributes('subtotal_amount', money((order) => order.subtotalAmountCents)),
    ...amountAttributes('payment_method_amount', money((order) => order.paymentMethodAmountCents)),
    ...amountAttributes('total_amount', money((order) => order.totalAmountCents)),
    ...commonAttributes(),
  },
  relationships: {
    // A sales channel's orders are in its market and, for a signed-in customer, theirs: the engine sets both.
    market: { kind: 'to_one', types: ['markets'], creatable: true, prohibited: true, foreignKey: 'marketId' },
    customer: { kind: 'to_one', types: ['customers'], creatable: true, prohibited: true, foreignKey: 'customerId' },
    line_items: { kind: 'to_many', types: ['line_items'], inverseKey: 'orderId' },
    payment_method: { kind: 'to_one', types: ['payment_methods'], creatable: true, updatable: true, foreignKey: 'paymentMethodId' },
    payment_source: {
      kind: 'to_one',
      types: ['stripe_payments'],
      // Read by filters (`payment_source_id_eq`); the linkage names the type column's type.
      foreignKey: 'paymentSourceId',
      linkage: (order) =>
        order.paymentSourceId && order.paymentSourceType ? { type: order.paymentSourceType, id: order.paymentSourceId } : null,
    },
    // Commerce Layer's virtual relationship: the enabled payment methods of the order's market (or of every market) and currency.
    available_payment_methods: {
      kind: 'to_many',
      types: ['payment_methods'],
      matching: { same: { currencyCode: 'currencyCode' }, sameOrUnset: { marketId: 'marketId' }, unset: ['disabledAt'] },
    },
    stripe_payments: { kind: 'to_many', types: ['stripe_payments'], inverseKey: 'orderId' },
    authorizations: { kind: 'to_many', types: ['authorizations'], inverseKey: 'orderId' },
    captures: { kind: 'to_many', types: ['captures'], inverseKey: 'orderId' },
    refunds: { kind: 'to_many', types: ['refunds'], inverseKey: 'orderId' },
    voids: { kind: 'to_many', types: ['voids'], inverseKey: 'orderId' },
    // Every kind, each shown as its own type.
    transactions: { kind: 'to_many', types: ['transactions'], inverseKey: 'orderId' },
    versions: versionsRelationship,
  },
  // Applied after the other fields, in this order; a retry of the request (same Idempotency-Key) resumes what it started.
  triggers: {
    _refresh: trigger(refreshOrder),
    _authorize: trigger(authorizeOrder, {
      callsStripe: true,
      parameters: { _authorization_amount_cents: { type: 'integer', input: z.number().int().min(1).max(2 ** 31 - 1) } },
    }),
    _place: trigger(placeOrder, { callsStripe: true }),
    _approve: trigger((services: Services, id: string) => approveOrder(services, id), { prohibited: true }),
    _capture: trigger(captureOrder, { prohibited: true, callsStripe: true }),
    _approve_and_capture: trigger(approveAndCaptureOrder, { prohibited: true, callsStripe: true }),
    _refund: trigger(refundOrder, {
      prohibited: true,
      callsStripe: true,
      // Not Commerce Layer's (its partial refunds go through a capture): how much `_refund` refunds; default all.
      parameters: { _refund_amount_cents: { type: 'integer', input: z.number().int().min(1).max(2 ** 31 - 1) } },
    }),
    _cancel: trigger(cancelOrder, { callsStripe: true }),
    _archive: columnsTrigger(() => ({ archivedAt: new Date() })),
    _unarchive: columnsTrigger(() => ({ archivedAt: null })),
  },
}).writtenBy({ create: createOrder, update: updateOrder, remove: deleteOrder });
