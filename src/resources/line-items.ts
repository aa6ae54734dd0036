import { z } from 'zod';
import type { LineItem, Order } from '../generated/prisma/client.ts';
import { newId } from '../ids.ts';
import { validationError } from '../jsonapi/errors.ts';
import { defineResource } from '../jsonapi/resource.ts';
import { lockOrder } from '../payments/locks.ts';
import { editableStatuses, recomputeOrderTotals } from '../payments/orders.ts';
import type { Services } from '../services.ts';
import { amountAttributes, commonAttributes, commonColumns, throughOrder } from './common.ts';

type LineItemRow = LineItem & { order?: Pick<Order, 'currencyCode'> };

const maxAmount = 2 ** 31 - 1;
const money = (cents: (item: LineItemRow) => number) => (item: LineItemRow) => ({
  cents: cents(item),
  currencyCode: item.order?.currencyCode ?? null,
});

/** Locks the order and refuses changes once it is no longer editable. */
async function lockEditableOrder(tx: Parameters<typeof lockOrder>[0], orderId: string, pointer: string) {
  const order = await lockOrder(tx, orderId);
  if (!order) throw validationError(pointer, `orders ${orderId} not found`);
  if (!editableStatuses.has(order.status)) throw validationError(pointer, `order is ${order.status} and can no longer change`);
  if (!order.currencyCode) throw validationError(pointer, 'order has no currency_code yet; set it before adding line items');
  return order;
}

function lineTotal(quantity: number, unitAmountCents: number): number {
  const total = quantity * unitAmountCents;
  if (total > maxAmount) throw validationError('/data/attributes/quantity', 'makes the line item total exceed the maximum amount');
  return total;
}

export const lineItems = defineResource<LineItemRow, Services>({
  type: 'line_items',
  model: 'lineItem',
  table: 'line_items',
  actions: ['list', 'retrieve', 'create', 'update', 'delete'],
  load: { order: { select: { currencyCode: true } } },
  // No create for storefronts: the price is the merchant's to set (prohibited below) and,
  // without Commerce Layer's price lists, there is nowhere else to take it from.
  storefront: { actions: ['retrieve', 'update', 'delete'], rows: throughOrder },
  attributes: {
    sku_code: { type: 'string', creatable: true, updatable: true, filterable: true, input: z.string().min(1).max(255) },
    name: { type: 'string', creatable: true, updatable: true, filterable: true, sortable: true, input: z.string().max(255) },
    quantity: { type: 'integer', creatable: true, updatable: true, filterable: true, required: true, input: z.number().int().min(1).max(100_000) },
    currency_code: { type: 'string', column: null, read: (item) => item.order?.currencyCode ?? null },
    // Prices come from the merchant: a shopper's token may change quantities, never prices.
    ...amountAttributes<LineItemRow>('unit_amount', money((item) => item.unitAmountCents), {
      creatable: true,
      updatable: true,
      required: true,
      filterable: true,
      sortable: true,
      prohibited: true,
    }),
    ...amountAttributes<LineItemRow>('total_amount', money((item) => item.totalAmountCents)),
    ...commonAttributes<LineItemRow>(),
  },
  relationships: {
    order: { kind: 'to_one', types: ['orders'], creatable: true, required: true, foreignKey: 'orderId' },
  },

  async create(services, input) {
    const orderId = input.relationships.order!.id;
    const { attributes: a } = input;
    return services.db.$transaction(async (tx) => {
      await lockEditableOrder(tx, orderId, '/data/relationships/order');
      const quantity = a.quantity as number;
      const unitAmountCents = a.unit_amount_cents as number;
      const item = await tx.lineItem.create({
        data: {
          id: newId(),
          orderId,
          skuCode: (a.sku_code as string | null | undefined) ?? null,
          name: (a.name as string | null | undefined) ?? null,
          quantity,
          unitAmountCents,
          totalAmountCents: lineTotal(quantity, unitAmountCents),
          reference: (a.reference as string | null | undefined) ?? null,
          referenceOrigin: (a.reference_origin as string | null | undefined) ?? null,
          metadata: (a.metadata ?? {}) as object,
        },
      });
      await recomputeOrderTotals(tx, orderId);
      return tx.lineItem.findUniqueOrThrow({ where: { id: item.id }, include: { order: { select: { currencyCode: true } } } });
    });
  },

  async update(services, item, input) {
    const { attributes: a } = input;
    return services.db.$transaction(async (tx) => {
      await lockEditableOrder(tx, item.orderId, '/data');
      const current = await tx.lineItem.findUniqueOrThrow({ where: { id: item.id } });
      const quantity = (a.quantity as number | undefined) ?? current.quantity;
      const unitAmountCents = (a.unit_amount_cents as number | undefined) ?? current.unitAmountCents;
      await tx.lineItem.update({
        where: { id: item.id },
        data: {
          ...(a.sku_code !== undefined ? { skuCode: a.sku_code as string | null } : {}),
          ...(a.name !== undefined ? { name: a.name as string | null } : {}),
          ...commonColumns(a),
          quantity,
          unitAmountCents,
          totalAmountCents: lineTotal(quantity, unitAmountCents),
        },
      });
      await recomputeOrderTotals(tx, item.orderId);
      return tx.lineItem.findUniqueOrThrow({ where: { id: item.id }, include: { order: { select: { currencyCode: true } } } });
    });
  },

  async remove(services, item) {
    await services.db.$transaction(async (tx) => {
      await lockEditableOrder(tx, item.orderId, '/data');
      await tx.lineItem.delete({ where: { id: item.id } });
      await recomputeOrderTotals(tx, item.orderId);
    });
  },
});
