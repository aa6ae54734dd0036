import { DomainError, StripeCallFailed, invalid, notFound, type ErrorField } from '../../domain-error.ts';
import type { Services } from '../../services.ts';
import { approveOrder } from '../orders.ts';
import { captureOrder } from './capture.ts';
import type { TriggerRequest } from './transaction-call.ts';

const field: ErrorField = { trigger: '_approve_and_capture' };

/** Payment statuses of an order whose authorization was captured: nothing is left to capture. */
const captured: ReadonlySet<string> = new Set(['paid', 'partially_refunded', 'refunded']);

/**
 * `_approve_and_capture`: captures a placed order through `_capture`'s protocol (so money
 * moves at most once, however it is mixed with `_capture` or retried), then approves it.
 * A retry after the capture went through finds it captured and only approves; a failed
 * capture leaves the order placed.
 */
export async function approveAndCaptureOrder(services: Services, orderId: string, request: TriggerRequest = {}): Promise<void> {
  const order = await services.db.order.findUnique({ where: { id: orderId }, select: { status: true, paymentStatus: true } });
  if (!order) throw notFound();
  if (order.status !== 'placed' && order.status !== 'approved') throw invalid(field, `order is ${order.status}; only a placed order can be approved and captured`);
  if (!captured.has(order.paymentStatus)) await asThisTrigger(() => captureOrder(services, orderId, request));
  await approveOrder(services, orderId, { field, approvedIsDone: true });
}

/** `_capture`'s errors, about the field this request sent. */
async function asThisTrigger(step: () => Promise<void>): Promise<void> {
  try {
    await step();
  } catch (error) {
    if (error instanceof DomainError && error.field) throw new DomainError(error.kind, field, error.detail, error.meta);
    if (error instanceof StripeCallFailed) throw new StripeCallFailed(error.cause, field);
    throw error;
  }
}
