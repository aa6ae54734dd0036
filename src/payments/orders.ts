import { changedColumns, recordChange } from '../changes.ts';
import { customerHasPlacedSql } from '../db/sql/payments.ts';
import { run, type AnyTx, type Statement } from '../db/sql-transaction.ts';
import { invalid, notFound, type ErrorField } from '../domain-error.ts';
import type { Order } from '../generated/prisma/client.ts';
import { newId } from '../ids.ts';
import type { Services } from '../services.ts';
import { inTransaction, lockOrder, type Tx } from './locks.ts';

/**
 * An order's own rules: which states let it change, what it costs (its line items and its
 * payment method's price), which payment methods it may use. Every write that changes what
 * an order costs locks it first (locks.ts), so concurrent writers serialise and totals are
 * computed from committed line items only.
 */

const maxAmountCents = 2 ** 31 - 1;

/** Orders whose contents may still change: before they are placed. */
export const editableStatuses: ReadonlySet<string> = new Set(['draft', 'pending']);

/** Orders whose payment can be captured, refunded or voided: placed ones. */
export const placedStatuses: ReadonlySet<string> = new Set(['placed', 'approved']);

const paymentMethodField: ErrorField = { relationship: 'payment_method' };

/** Recomputes subtotal and total from the line items; call with the order locked. */
export async function recomputeOrderTotals(tx: Tx, orderId: string, paymentMethodAmountCents?: number) {
  const { _sum } = await tx.lineItem.aggregate({ where: { orderId }, _sum: { totalAmountCents: true } });
  const subtotal = _sum.totalAmountCents ?? 0;
  const order = await tx.order.findUniqueOrThrow({ where: { id: orderId }, select: { paymentMethodAmountCents: true } });
  const methodAmount = paymentMethodAmountCents ?? order.paymentMethodAmountCents;
  const total = subtotal + methodAmount;
  if (total > maxAmountCents) throw invalid({ attributes: true }, 'would make the order total exceed the maximum amount');
  return tx.order.update({
    where: { id: orderId },
    data: { subtotalAmountCents: subtotal, paymentMethodAmountCents: methodAmount, totalAmountCents: total },
  });
}

/** The payment method an order may use: enabled, offered in its market, in its currency (once it has one). */
async function choosePaymentMethod(db: Tx | Services['db'], order: Pick<Order, 'currencyCode' | 'marketId'>, paymentMethodId: string) {
  const method = await db.paymentMethod.findUnique({ where: { id: paymentMethodId } });
  if (!method) throw invalid(paymentMethodField, `payment_methods ${paymentMethodId} not found`);
  if (method.disabledAt) throw invalid(paymentMethodField, 'payment_method is disabled');
  if (method.marketId && method.marketId !== order.marketId) throw invalid(paymentMethodField, "payment_method is not offered in the order's market");
  if (order.currencyCode && method.currencyCode !== order.currencyCode) {
    throw invalid(paymentMethodField, `payment_method is for ${method.currencyCode}, the order is in ${order.currencyCode}`);
  }
  return method;
}

/** The columns of a new order, as the declaration maps its fields; any other column is stored as it is. */
export interface NewOrder {
  currencyCode?: string | null;
  customerEmail?: string | null;
  marketId?: string | null;
  customerId?: string | null;
  paymentMethodId?: string | null;
  [column: string]: unknown;
}

export async function createOrder(services: Services, columns: NewOrder): Promise<Order> {
  const { db } = services;
  const currencyCode = columns.currencyCode ?? null;
  const marketId = columns.marketId ?? null;
  const customerId = columns.customerId ?? null;
  const method = columns.paymentMethodId ? await choosePaymentMethod(db, { currencyCode, marketId }, columns.paymentMethodId) : null;
  // A signed-in customer's order is addressed to them unless another email is given.
  const customer = customerId && columns.customerEmail === undefined ? await db.customer.findUnique({ where: { id: customerId }, select: { email: true } }) : null;
  const data = {
    id: newId(),
    ...columns,
    marketId,
    customerId,
    guest: typeof columns.guest === 'boolean' ? columns.guest : customerId === null,
    customerEmail: columns.customerEmail !== undefined ? columns.customerEmail : (customer?.email ?? null),
    // An order without its own currency takes its payment method's.
    currencyCode: currencyCode ?? method?.currencyCode ?? null,
    paymentMethodId: method?.id ?? null,
    paymentMethodAmountCents: method?.priceAmountCents ?? 0,
    totalAmountCents: method?.priceAmountCents ?? 0,
  };
  return inTransaction(db, async (tx) => {
    const order = await tx.order.create({ data });
    await recordChange(tx, { type: 'orders', id: order.id, event: 'create', changes: changedColumns(undefined, data) });
    return order;
  });
}

/** The columns of a change to an order's fields and payment method. */
export interface OrderChange {
  currencyCode?: string | null;
  paymentMethodId?: string | null;
  [column: string]: unknown;
}

/**
 * Writes an order's fields and payment method, under the order's lock: its currency and
 * payment method change only while it is editable, its currency only while it has no line
 * items, and its totals follow a new payment method's price.
 */
export async function updateOrder(services: Services, order: Pick<Order, 'id'>, columns: OrderChange): Promise<Order> {
  return inTransaction(services.db, async (tx) => {
    const current = await lockOrder(tx, order.id);
    if (!current) throw notFound();
    const changesMoney = columns.currencyCode !== undefined || columns.paymentMethodId !== undefined;
    if (changesMoney && !editableStatuses.has(current.status)) {
      throw invalid({ document: true }, `order is ${current.status}; its currency and payment method can no longer change`);
    }
    if (columns.currencyCode !== undefined && columns.currencyCode !== current.currencyCode) {
      if ((await tx.lineItem.count({ where: { orderId: order.id } })) > 0) {
        throw invalid({ attribute: 'currency_code' }, 'cannot change once the order has line items');
      }
    }
    const currencyCode = columns.currencyCode !== undefined ? columns.currencyCode : current.currencyCode;
    let paymentMethodAmountCents: number | undefined;
    if (columns.paymentMethodId !== undefined) {
      const method = columns.paymentMethodId ? await choosePaymentMethod(tx, { currencyCode, marketId: current.marketId }, columns.paymentMethodId) : null;
      paymentMethodAmountCents = method?.priceAmountCents ?? 0;
    } else if (current.paymentMethodId && columns.currencyCode !== undefined) {
      await choosePaymentMethod(tx, { currencyCode, marketId: current.marketId }, current.paymentMethodId);
    }
    await tx.order.update({ where: { id: order.id }, data: columns });
    await recordChange(tx, { type: 'orders', id: order.id, event: 'update', changes: changedColumns(current, columns) });
    return paymentMethodAmountCents !== undefined ? recomputeOrderTotals(tx, order.id, paymentMethodAmountCents) : tx.order.findUniqueOrThrow({ where: { id: order.id } });
  });
}

/** `_approve`: a placed order is approved (Commerce Layer's step before fulfilment). No money moves. */
export async function approveOrder(services: Services, orderId: string, options: { field?: ErrorField; approvedIsDone?: boolean } = {}): Promise<void> {
  const field = options.field ?? { trigger: '_approve' };
  await inTransaction(services.db, async (tx) => {
    const order = await lockOrder(tx, orderId);
    if (!order) throw notFound();
    if (order.status === 'approved' && options.approvedIsDone) return;
    if (order.status !== 'placed') throw invalid(field, `order is ${order.status}; only a placed order can be approved`);
    const now = new Date();
    await tx.order.update({ where: { id: orderId }, data: { status: 'approved', approvedAt: now } });
    await recordChange(tx, { type: 'orders', id: orderId, event: 'orders.approve', changes: { status: { before: order.status, after: 'approved' } } });
  });
}

/**
 * `_refresh`: what an editable order costs is computed again, from its line items and its
 * payment method's current price (a price changed since the method was chosen).
 */
export async function refreshOrder(services: Services, orderId: string): Promise<void> {
  const field: ErrorField = { trigger: '_refresh' };
  await inTransaction(services.db, async (tx) => {
    const order = await lockOrder(tx, orderId);
    if (!order) throw notFound();
    if (!editableStatuses.has(order.status)) throw invalid(field, `order is ${order.status}; only a draft or pending order can be refreshed`);
    const method = order.paymentMethodId ? await tx.paymentMethod.findUnique({ where: { id: order.paymentMethodId }, select: { priceAmountCents: true } }) : null;
    await recomputeOrderTotals(tx, orderId, method?.priceAmountCents ?? 0);
    await tx.order.update({ where: { id: orderId }, data: { refreshedAt: new Date() } });
    await recordChange(tx, { type: 'orders', id: orderId, event: 'orders.refresh' });
  });
}

const customerHasPlaced: Statement = { name: 'orders.customer_has_placed', text: customerHasPlacedSql };

/** Whether a customer's order being placed is their first: Commerce Layer's customer_type. */
export async function customerTypeOf(tx: AnyTx, order: Pick<Order, 'id' | 'customerId'>): Promise<'new' | 'returning' | null> {
  if (!order.customerId) return null;
  const [row] = await run<{ placed: boolean }>(tx, customerHasPlaced, [order.customerId, order.id]);
  return row?.placed ? 'returning' : 'new';
}

/**
 * Deleting an order, as Commerce Layer allows: a draft one, with no payment made for it
 * (a stripe payment has a PaymentIntent at Stripe, deleted on its own first). Its line items go with it.
 */
export async function deleteOrder(services: Services, order: Pick<Order, 'id'>): Promise<void> {
  const field: ErrorField = { base: true };
  await inTransaction(services.db, async (tx) => {
    const current = await lockOrder(tx, order.id);
    if (!current) throw notFound();
    if (current.status !== 'draft') throw invalid(field, `order is ${current.status}; only a draft order can be deleted`);
    const payments = await tx.stripePayment.count({ where: { orderId: order.id } });
    const transactions = await tx.transaction.count({ where: { orderId: order.id } });
    if (payments + transactions > 0) throw invalid(field, 'the order has a stripe payment; delete the payment first');
    // Described before the row goes: the outbox renders `orders.destroy` as the order was, line items included.
    await recordChange(tx, { type: 'orders', id: order.id, event: 'destroy' });
    await tx.order.delete({ where: { id: order.id } });
  });
}
