import { changedColumns, recordChange } from '../changes.ts';
import { invalid, type ErrorField } from '../domain-error.ts';
import type { LineItem } from '../generated/prisma/client.ts';
import { newId } from '../ids.ts';
import type { Services } from '../services.ts';
import { inTransaction, lockOrder, type Tx } from './locks.ts';
import { editableStatuses, recomputeOrderTotals } from './orders.ts';

/**
 * Line items change what an order costs: each write locks the order, refuses an order that
 * can no longer change, and recomputes the order's totals in the same transaction.
 */

const maxAmount = 2 ** 31 - 1;

/** Locks the order and refuses changes once it is no longer editable. */
async function lockEditableOrder(tx: Tx, orderId: string, field: ErrorField) {
  const order = await lockOrder(tx, orderId);
  if (!order) throw invalid(field, `orders ${orderId} not found`);
  if (!editableStatuses.has(order.status)) throw invalid(field, `order is ${order.status} and can no longer change`);
  if (!order.currencyCode) throw invalid(field, 'order has no currency_code yet; set it before adding line items');
  return order;
}

function lineTotal(quantity: number, unitAmountCents: number): number {
  const total = quantity * unitAmountCents;
  if (total > maxAmount) throw invalid({ attribute: 'quantity' }, 'makes the line item total exceed the maximum amount');
  return total;
}

const withOrderCurrency = { order: { select: { currencyCode: true } } } as const;

/** The columns of a new line item, as the declaration maps its fields; any other column is stored as it is. */
export interface NewLineItem {
  orderId: string;
  quantity: number;
  unitAmountCents: number;
  [column: string]: unknown;
}

export function createLineItem(services: Services, columns: NewLineItem) {
  return inTransaction(services.db, async (tx) => {
    await lockEditableOrder(tx, columns.orderId, { relationship: 'order' });
    const data = { id: newId(), ...columns, totalAmountCents: lineTotal(columns.quantity, columns.unitAmountCents) };
    const item = await tx.lineItem.create({ data });
    await recomputeOrderTotals(tx, columns.orderId);
    await recordChange(tx, { type: 'line_items', id: item.id, event: 'create', changes: changedColumns(undefined, data) });
    return tx.lineItem.findUniqueOrThrow({ where: { id: item.id }, include: withOrderCurrency });
  });
}

export interface LineItemChange {
  quantity?: number | null;
  unitAmountCents?: number | null;
  [column: string]: unknown;
}

export function updateLineItem(services: Services, item: Pick<LineItem, 'id' | 'orderId'>, columns: LineItemChange) {
  return inTransaction(services.db, async (tx) => {
    await lockEditableOrder(tx, item.orderId, { document: true });
    const current = await tx.lineItem.findUniqueOrThrow({ where: { id: item.id } });
    const quantity = columns.quantity ?? current.quantity;
    const unitAmountCents = columns.unitAmountCents ?? current.unitAmountCents;
    const data = { ...columns, quantity, unitAmountCents, totalAmountCents: lineTotal(quantity, unitAmountCents) };
    await tx.lineItem.update({ where: { id: item.id }, data });
    await recomputeOrderTotals(tx, item.orderId);
    await recordChange(tx, { type: 'line_items', id: item.id, event: 'update', changes: changedColumns(current, data) });
    return tx.lineItem.findUniqueOrThrow({ where: { id: item.id }, include: withOrderCurrency });
  });
}

export function deleteLineItem(services: Services, item: Pick<LineItem, 'id' | 'orderId'>): Promise<void> {
  return inTransaction(services.db, async (tx) => {
    await lockEditableOrder(tx, item.orderId, { document: true });
    await tx.lineItem.delete({ where: { id: item.id } });
    await recomputeOrderTotals(tx, item.orderId);
    await recordChange(tx, { type: 'line_items', id: item.id, event: 'destroy' });
  });
}
