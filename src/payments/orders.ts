import type { Prisma } from '../generated/prisma/client.ts';
import { validationError } from '../jsonapi/errors.ts';

type Transaction = Prisma.TransactionClient;

const maxAmountCents = 2 ** 31 - 1;

/** Orders whose contents may still change: before they are placed. */
export const editableStatuses = new Set(['draft', 'pending']);

/**
 * Takes the order's row lock for the rest of the transaction. Every write that changes
 * what an order costs goes through here first, so concurrent writers serialise and totals
 * are computed from committed line items only.
 */
export async function lockOrder(tx: Transaction, orderId: string) {
  const locked = await tx.$queryRaw<{ id: string }[]>`SELECT id FROM orders WHERE id = ${orderId} FOR UPDATE`;
  if (locked.length === 0) return null;
  return tx.order.findUniqueOrThrow({ where: { id: orderId } });
}

/** Recomputes subtotal and total from the line items; call with the order locked. */
export async function recomputeOrderTotals(tx: Transaction, orderId: string, paymentMethodAmountCents?: number) {
  const { _sum } = await tx.lineItem.aggregate({ where: { orderId }, _sum: { totalAmountCents: true } });
  const subtotal = _sum.totalAmountCents ?? 0;
  const order = await tx.order.findUniqueOrThrow({ where: { id: orderId }, select: { paymentMethodAmountCents: true } });
  const methodAmount = paymentMethodAmountCents ?? order.paymentMethodAmountCents;
  const total = subtotal + methodAmount;
  if (total > maxAmountCents) throw validationError('/data/attributes', 'would make the order total exceed the maximum amount');
  return tx.order.update({
    where: { id: orderId },
    data: { subtotalAmountCents: subtotal, paymentMethodAmountCents: methodAmount, totalAmountCents: total },
  });
}
