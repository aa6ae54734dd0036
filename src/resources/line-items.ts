import { z } from 'zod';
import type { LineItem, Order } from '../generated/prisma/client.ts';
import { defineResource } from '../jsonapi/resource.ts';
import { createLineItem, deleteLineItem, updateLineItem } from '../payments/line-items.ts';
import type { Services } from '../services.ts';
import { amountAttributes, commonAttributes, throughOrder } from './common.ts';

type LineItemRow = LineItem & { order?: Pick<Order, 'currencyCode'> };

const money = (cents: (item: LineItemRow) => number) => (item: LineItemRow) => ({
  cents: cents(item),
  currencyCode: item.order?.currencyCode ?? null,
});

/** An order's lines; each change recomputes the order's totals under its lock (src/payments/line-items.ts). */
export const lineItems = defineResource<LineItemRow, Services>()({
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
    ...amountAttributes('unit_amount', money((item) => item.unitAmountCents), {
      creatable: true,
      updatable: true,
      required: true,
      filterable: true,
      sortable: true,
      prohibited: true,
    }),
    ...amountAttributes('total_amount', money((item) => item.totalAmountCents)),
    ...commonAttributes(),
  },
  relationships: {
    order: { kind: 'to_one', types: ['orders'], creatable: true, required: true, foreignKey: 'orderId' },
    // Without SKUs or options here, a line item has neither, as in Commerce Layer for a line item without them;
    // storefronts include them (`line_items.item`, `line_items.line_item_options.sku_option`).
    item: { kind: 'to_one', types: ['skus', 'bundles', 'gift_cards', 'shipments', 'payment_methods', 'adjustments'], absent: {} },
    line_item_options: { kind: 'to_many', types: ['line_item_options'], absent: { below: ['line_item', 'sku_option'] } },
  },
}).writtenBy({ create: createLineItem, update: updateLineItem, remove: deleteLineItem });
