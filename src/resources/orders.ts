import { z } from 'zod';
import type { Order } from '../generated/prisma/client.ts';
import { newId } from '../ids.ts';
import { validationError } from '../jsonapi/errors.ts';
import { defineResource, type WriteInput } from '../jsonapi/resource.ts';
import { lockOrder } from '../payments/locks.ts';
import { editableStatuses, recomputeOrderTotals } from '../payments/orders.ts';
import { authorizeOrder, placeOrder } from '../payments/triggers/authorize.ts';
import { cancelOrder } from '../payments/triggers/cancel.ts';
import { captureOrder } from '../payments/triggers/capture.ts';
import { refundOrder } from '../payments/triggers/refund.ts';
import { currentRequestKey } from '../request-key.ts';
import type { Services } from '../services.ts';
import { amountAttributes, commonAttributes, commonColumns, currencyCodeInput } from './common.ts';

/** A write-only flag that makes the PATCH act (Commerce Layer's `_place`, `_capture`, ...). */
const trigger = { type: 'boolean', updatable: true, fetchable: false, column: null } as const;

const money = (cents: (order: Order) => number) => (order: Order) => ({ cents: cents(order), currencyCode: order.currencyCode });

async function choosePaymentMethod(services: Services, order: Pick<Order, 'currencyCode' | 'marketId'>, paymentMethodId: string) {
  const method = await services.db.paymentMethod.findUnique({ where: { id: paymentMethodId } });
  const pointer = '/data/relationships/payment_method';
  if (!method) throw validationError(pointer, `payment_methods ${paymentMethodId} not found`);
  if (method.disabledAt) throw validationError(pointer, 'payment_method is disabled');
  if (method.marketId && method.marketId !== order.marketId) throw validationError(pointer, "payment_method is not offered in the order's market");
  if (order.currencyCode && method.currencyCode !== order.currencyCode) {
    throw validationError(pointer, `payment_method is for ${method.currencyCode}, the order is in ${order.currencyCode}`);
  }
  return method;
}

function orderColumns(input: WriteInput) {
  const { attributes: a } = input;
  return {
    ...(a.customer_email !== undefined ? { customerEmail: a.customer_email as string | null } : {}),
    ...(a.language_code !== undefined ? { languageCode: (a.language_code as string | null) ?? 'en' } : {}),
    ...(a.currency_code !== undefined ? { currencyCode: a.currency_code as string | null } : {}),
    ...commonColumns(a),
  };
}

export const orders = defineResource<Order, Services>({
  type: 'orders',
  model: 'order',
  table: 'orders',
  actions: ['list', 'retrieve', 'create', 'update'],
  storefront: {
    actions: ['retrieve', 'create', 'update'],
    rows: { market: 'marketId', customer: 'customerId', status: { field: 'status', readable: ['draft', 'pending', 'placed'], writable: [...editableStatuses] } },
  },
  attributes: {
    number: { type: 'string', columnType: 'integer', filterable: true, sortable: true, read: (order) => String(order.number) },
    status: { type: 'string', filterable: true, sortable: true },
    payment_status: { type: 'string', filterable: true, sortable: true },
    // Commerce Layer inherits the currency from the market; until markets exist it is set on the order.
    currency_code: { type: 'string', creatable: true, updatable: true, filterable: true, sortable: true, input: currencyCodeInput },
    customer_email: { type: 'string', creatable: true, updatable: true, filterable: true, input: z.email().max(254) },
    language_code: {
      type: 'string',
      creatable: true,
      updatable: true,
      filterable: true,
      sortable: true,
      input: z.string().regex(/^[a-z]{2}(-[A-Z]{2})?$/, 'must be a language code like "en" or "it"'),
    },
    editable: { type: 'boolean', column: null, read: (order) => editableStatuses.has(order.status) },
    placed_at: { type: 'datetime', filterable: true, sortable: true },
    cancelled_at: { type: 'datetime', filterable: true, sortable: true },
    payment_updated_at: { type: 'datetime', filterable: true, sortable: true },
    ...amountAttributes<Order>('subtotal_amount', money((order) => order.subtotalAmountCents)),
    ...amountAttributes<Order>('payment_method_amount', money((order) => order.paymentMethodAmountCents)),
    ...amountAttributes<Order>('total_amount', money((order) => order.totalAmountCents)),
    ...commonAttributes<Order>(),
    // Triggers (see src/payments/order-lifecycle.ts), applied after the other attributes, in this order.
    _authorize: trigger,
    _place: trigger,
    _capture: { ...trigger, prohibited: true },
    _refund: { ...trigger, prohibited: true },
    // Not Commerce Layer's (its partial refunds go through a capture): how much `_refund` refunds; default all.
    _refund_amount_cents: { type: 'integer', updatable: true, fetchable: false, column: null, prohibited: true, input: z.number().int().min(1).max(2 ** 31 - 1) },
    _cancel: trigger,
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
      linkage: (order) =>
        order.paymentSourceId && order.paymentSourceType ? { type: order.paymentSourceType, id: order.paymentSourceId } : null,
    },
    stripe_payments: { kind: 'to_many', types: ['stripe_payments'], inverseKey: 'orderId' },
    authorizations: { kind: 'to_many', types: ['authorizations'], inverseKey: 'orderId' },
    captures: { kind: 'to_many', types: ['captures'], inverseKey: 'orderId' },
    refunds: { kind: 'to_many', types: ['refunds'], inverseKey: 'orderId' },
    voids: { kind: 'to_many', types: ['voids'], inverseKey: 'orderId' },
  },

  async create(services, input) {
    const currencyCode = (input.attributes.currency_code as string | undefined) ?? null;
    const marketId = input.relationships.market?.id ?? null;
    const customerId = input.relationships.customer?.id ?? null;
    const methodLinkage = input.relationships.payment_method;
    const method = methodLinkage ? await choosePaymentMethod(services, { currencyCode, marketId }, methodLinkage.id) : null;
    // A signed-in customer's order is addressed to them unless another email is given.
    const customer = customerId ? await services.db.customer.findUnique({ where: { id: customerId }, select: { email: true } }) : null;
    return services.db.order.create({
      data: {
        id: newId(),
        marketId,
        customerId,
        customerEmail: customer?.email ?? null,
        ...orderColumns(input),
        // An order without its own currency takes its payment method's.
        currencyCode: currencyCode ?? method?.currencyCode ?? null,
        paymentMethodId: method?.id ?? null,
        paymentMethodAmountCents: method?.priceAmountCents ?? 0,
        totalAmountCents: method?.priceAmountCents ?? 0,
      },
    });
  },

  async update(services, order, input) {
    const { attributes: a } = input;
    if (a._refund_amount_cents !== undefined && a._refund !== true) {
      throw validationError('/data/attributes/_refund_amount_cents', 'is only taken with _refund');
    }
    const plain = Object.keys(a).some((name) => !name.startsWith('_')) || Object.keys(input.relationships).length > 0;
    const updated = plain ? await updateAttributes(services, order, input) : order;
    const triggered = a._authorize === true || a._place === true || a._capture === true || a._refund === true || a._cancel === true;
    if (!triggered) return updated;
    // Each step commits before the next, as stripe payment triggers do: a failing one leaves the earlier ones applied.
    // A retry of this request (same Idempotency-Key) resumes what it started instead of moving money again.
    const request = { requestKey: currentRequestKey() };
    if (a._authorize === true) await authorizeOrder(services, order.id, request);
    if (a._place === true) await placeOrder(services, order.id, request);
    if (a._capture === true) await captureOrder(services, order.id, request);
    if (a._refund === true) await refundOrder(services, order.id, { ...request, parameters: { _refund_amount_cents: a._refund_amount_cents as number | null | undefined } });
    if (a._cancel === true) await cancelOrder(services, order.id, request);
    return services.db.order.findUniqueOrThrow({ where: { id: order.id } });
  },
});

/** Writes the plain attributes and the payment method, under the order's lock. */
async function updateAttributes(services: Services, order: Order, input: WriteInput): Promise<Order> {
  return services.db.$transaction(async (tx) => {
    const current = (await lockOrder(tx, order.id))!;
    const columns = orderColumns(input);
    const changesMoney = columns.currencyCode !== undefined || input.relationships.payment_method !== undefined;
    if (changesMoney && !editableStatuses.has(current.status)) {
      throw validationError('/data', `order is ${current.status}; its currency and payment method can no longer change`);
    }
    if (columns.currencyCode !== undefined && columns.currencyCode !== current.currencyCode) {
      if ((await tx.lineItem.count({ where: { orderId: order.id } })) > 0) {
        throw validationError('/data/attributes/currency_code', 'cannot change once the order has line items');
      }
    }
    const currencyCode = columns.currencyCode !== undefined ? columns.currencyCode : current.currencyCode;
    let paymentMethod: { paymentMethodId: string | null; paymentMethodAmountCents: number } | undefined;
    const linkage = input.relationships.payment_method;
    if (linkage !== undefined) {
      const method = linkage ? await choosePaymentMethod(services, { currencyCode, marketId: current.marketId }, linkage.id) : null;
      paymentMethod = { paymentMethodId: method?.id ?? null, paymentMethodAmountCents: method?.priceAmountCents ?? 0 };
    } else if (current.paymentMethodId && columns.currencyCode !== undefined) {
      await choosePaymentMethod(services, { currencyCode, marketId: current.marketId }, current.paymentMethodId);
    }
    await tx.order.update({ where: { id: order.id }, data: { ...columns, ...(paymentMethod ? { paymentMethodId: paymentMethod.paymentMethodId } : {}) } });
    return paymentMethod ? recomputeOrderTotals(tx, order.id, paymentMethod.paymentMethodAmountCents) : tx.order.findUniqueOrThrow({ where: { id: order.id } });
  });
}
