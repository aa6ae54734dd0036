import { notFound } from '../../domain-error.ts';
import type { Services } from '../../services.ts';
import type { TransactionKind } from '../transactions.ts';
import { voidAuthorization } from './cancel.ts';
import { captureOrder } from './capture.ts';
import { refundOrder } from './refund.ts';
import type { TriggerRequest } from './transaction-call.ts';

/**
 * The triggers Commerce Layer takes on transactions: `_capture` and `_void` on an
 * authorization, `_refund` on a capture. Each is its order's trigger (capture.ts,
 * cancel.ts, refund.ts) run for the transaction's order, under the same order lock and
 * reservations, so money moves at most once however the two ways are mixed, retried or
 * raced; the order step checks that the transaction is still the one it would act on.
 */

interface TransactionTriggerRequest<Parameters> extends TriggerRequest {
  parameters?: Parameters;
}

/** The order of a recorded transaction of `kind` (an order never changes for a transaction). */
async function orderOf(services: Services, id: string, kind: TransactionKind): Promise<string> {
  const row = await services.db.transaction.findFirst({ where: { id, kind, state: 'recorded' }, select: { orderId: true } });
  if (!row) throw notFound();
  return row.orderId;
}

export async function captureAuthorization(
  services: Services,
  authorizationId: string,
  request: TransactionTriggerRequest<{ _capture_amount_cents?: number | null | undefined }> = {},
): Promise<void> {
  const orderId = await orderOf(services, authorizationId, 'authorizations');
  await captureOrder(services, orderId, { requestKey: request.requestKey, authorizationId, amountCents: request.parameters?._capture_amount_cents ?? undefined });
}

export async function voidAuthorizationTrigger(services: Services, authorizationId: string, request: TriggerRequest = {}): Promise<void> {
  const orderId = await orderOf(services, authorizationId, 'authorizations');
  await voidAuthorization(services, orderId, authorizationId, { requestKey: request.requestKey });
}

export async function refundCapture(
  services: Services,
  captureId: string,
  request: TransactionTriggerRequest<{ _refund_amount_cents?: number | null | undefined }> = {},
): Promise<void> {
  const orderId = await orderOf(services, captureId, 'captures');
  await refundOrder(services, orderId, { requestKey: request.requestKey, captureId, parameters: request.parameters ?? {} });
}
