import { z } from 'zod';
import type { AttributeDeclaration } from '../jsonapi/resource.ts';
import { formatAmount, isCurrencyCode, toFloat } from '../payments/money.ts';

type Base = { id: string; createdAt: Date; updatedAt: Date };

/**
 * Commerce Layer's sales channel rules for what belongs to an order: read while the order
 * is draft, pending or placed, change while draft or pending, through the order's market
 * and customer (src/jsonapi/access.ts).
 */
export const throughOrder = { through: 'order' } as const;

/** Fields every Commerce Layer resource has: id, timestamps, reference, reference_origin, metadata. */
export function commonAttributes<Row extends Base>(): Record<string, AttributeDeclaration<Row>> {
  return {
    id: { type: 'string', filterable: true, sortable: true },
    created_at: { type: 'datetime', filterable: true, sortable: true },
    updated_at: { type: 'datetime', filterable: true, sortable: true },
    reference: { type: 'string', creatable: true, updatable: true, filterable: true, sortable: true, input: z.string().max(255) },
    reference_origin: { type: 'string', creatable: true, updatable: true, filterable: true, sortable: true, input: z.string().max(255) },
    metadata: { type: 'object', creatable: true, updatable: true, filterable: true },
  };
}

/** Commerce Layer's `_disable` and `_enable` triggers, over a `disabled_at` column. */
export function disableTriggers<Row>(): Record<string, AttributeDeclaration<Row>> {
  const trigger = (disabledAt: () => Date | null): AttributeDeclaration<Row> => ({
    type: 'boolean',
    creatable: true,
    updatable: true,
    fetchable: false,
    column: null,
    write: (value) => (value === true ? { disabledAt: disabledAt() } : {}),
  });
  return { _disable: trigger(() => new Date()), _enable: trigger(() => null) };
}

/** The columns of the common writable attributes a write document carries (absent ones are left alone). */
export function commonColumns(attributes: Record<string, unknown>) {
  return {
    ...(attributes.reference !== undefined ? { reference: attributes.reference as string | null } : {}),
    ...(attributes.reference_origin !== undefined ? { referenceOrigin: attributes.reference_origin as string | null } : {}),
    ...(attributes.metadata !== undefined ? { metadata: (attributes.metadata ?? {}) as object } : {}),
  };
}

/**
 * The `<name>_cents`, `<name>_float` and `formatted_<name>` triple Commerce Layer exposes
 * for every amount; only the cents are stored.
 */
export function amountAttributes<Row>(
  name: string,
  read: (row: Row) => { cents: number; currencyCode: string | null },
  flags: Pick<AttributeDeclaration<Row>, 'creatable' | 'updatable' | 'required' | 'filterable' | 'sortable' | 'prohibited'> = {
    filterable: true,
    sortable: true,
  },
): Record<string, AttributeDeclaration<Row>> {
  return {
    [`${name}_cents`]: { type: 'integer', ...flags, input: z.number().int().min(0).max(2 ** 31 - 1) },
    [`${name}_float`]: { type: 'float', column: null, read: (row) => { const a = read(row); return toFloat(a.cents, a.currencyCode); } },
    [`formatted_${name}`]: {
      type: 'string',
      column: null,
      read: (row) => {
        const a = read(row);
        return formatAmount(a.cents, a.currencyCode);
      },
    },
  };
}

export const currencyCodeInput = z
  .string()
  .transform((code) => code.toUpperCase())
  .refine(isCurrencyCode, 'must be an ISO 4217 currency code');
