import { z } from 'zod';
import { columnsTrigger, withWriteHook, type AttributeDeclaration, type Columns, type WriteContext } from '../jsonapi/resource.ts';
import { formatAmount, isCurrencyCode, toFloat } from '../payments/money.ts';
import type { Services } from '../services.ts';

/**
 * Commerce Layer's sales channel rules for what belongs to an order: read while the order
 * is draft, pending or placed, change while draft or pending, through the order's market
 * and customer (src/jsonapi/access.ts).
 */
export const throughOrder = { through: 'order' } as const;

/** Fields every Commerce Layer resource has: id, timestamps, reference, reference_origin, metadata. */
export function commonAttributes() {
  return {
    id: { type: 'string', filterable: true, sortable: true },
    created_at: { type: 'datetime', filterable: true, sortable: true },
    updated_at: { type: 'datetime', filterable: true, sortable: true },
    reference: { type: 'string', creatable: true, updatable: true, filterable: true, sortable: true, input: z.string().max(255) },
    reference_origin: { type: 'string', creatable: true, updatable: true, filterable: true, sortable: true, input: z.string().max(255) },
    metadata: { type: 'object', creatable: true, updatable: true, filterable: true },
  } as const;
}

/** An attribute whose value its hook writes (sealed, hashed, derived), with the app's services at hand. */
export function written<const D extends Omit<AttributeDeclaration<unknown>, 'input' | 'write' | 'read'>, I extends z.ZodType>(
  declaration: D,
  input: I,
  write: (value: D extends { required: true } ? z.output<I> : z.output<I> | null, context: WriteContext<Services>) => Columns | Promise<Columns>,
) {
  return withWriteHook<D, I, Services>(declaration, input, write);
}

/** Commerce Layer's `_disable` and `_enable` triggers, over a `disabled_at` column; taken on create too. */
export const disableTriggers = {
  _disable: columnsTrigger<Services>(() => ({ disabledAt: new Date() }), { creatable: true }),
  _enable: columnsTrigger<Services>(() => ({ disabledAt: null }), { creatable: true }),
};

type AmountFlags = Pick<AttributeDeclaration<unknown>, 'creatable' | 'updatable' | 'required' | 'filterable' | 'sortable' | 'prohibited'>;

/**
 * The `<name>_cents`, `<name>_float` and `formatted_<name>` triple Commerce Layer exposes
 * for every amount; only the cents are stored.
 */
export function amountAttributes<Row, const N extends string, const F extends AmountFlags = { filterable: true; sortable: true }>(
  name: N,
  read: (row: Row) => { cents: number; currencyCode: string | null },
  flags: F = { filterable: true, sortable: true } as F,
) {
  const amount = (row: Row) => read(row);
  return {
    [`${name}_cents`]: { type: 'integer', ...flags, input: z.number().int().min(0).max(2 ** 31 - 1) },
    [`${name}_float`]: { type: 'float', column: null, read: (row: Row) => { const a = amount(row); return toFloat(a.cents, a.currencyCode); } },
    [`formatted_${name}`]: { type: 'string', column: null, read: (row: Row) => { const a = amount(row); return formatAmount(a.cents, a.currencyCode); } },
  } as { [K in `${N}_cents`]: { type: 'integer'; input: z.ZodNumber } & F } & {
    [K in `${N}_float` | `formatted_${N}`]: AttributeDeclaration<Row> & { column: null };
  };
}

export const currencyCodeInput = z
  .string()
  .transform((code) => code.toUpperCase())
  .refine(isCurrencyCode, 'must be an ISO 4217 currency code');
