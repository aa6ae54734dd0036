import { invalid } from '../domain-error.ts';
import type { Tx } from './locks.ts';

const maxAmountCents = 2 ** 31 - 1;

/** Orders whose contents may still change: before they are placed. */
export const editableStatuses: ReadonlySet<string> = new Set(['draft', 'pending']);

/** Orders whose payment can be captured, refunded or voided: placed ones. */
export const placedStatuses: ReadonlySet<string> = new Set(['placed', 'approved']);

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
