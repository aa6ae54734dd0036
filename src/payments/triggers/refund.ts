import type Stripe from 'stripe';
import { conflict, invalid, type ErrorField } from '../../domain-error.ts';
import type { Transaction } from '../../generated/prisma/client.ts';
import type { Services } from '../../services.ts';
import { formatAmount, toStripeAmount } from '../money.ts';
import { advancePaymentStatus, statusAfterRefunds } from '../payment-status.ts';
import { recordRefund, refundMetadataKey } from '../stripe-sync.ts';
import { createTransaction, isStale, orderMoney } from '../transactions.ts';
import { paymentOfTransaction, retryOrRefuse, withTransactionCall, type TriggerRequest } from './transaction-call.ts';

const refundField: ErrorField = { trigger: '_refund' };
const amountField: ErrorField = { attribute: '_refund_amount_cents' };

/** `_refund`'s parameter: how much to refund (not Commerce Layer's, whose partial refunds go through a capture); default all. */
export interface RefundRequest extends TriggerRequest {
  parameters?: { _refund_amount_cents?: number | null | undefined };
  /** Sent to a capture: it must be the order's capture. */
  captureId?: string;
}

/**
 * `_refund`: refunds `_refund_amount_cents` of what was captured (default: all that is
 * left), never more than was captured less what is refunded or being refunded.
 */
export function refundOrder(services: Services, orderId: string, request: RefundRequest = {}): Promise<void> {
  const amountCents = request.parameters?._refund_amount_cents ?? undefined;
  const field = amountCents === undefined ? refundField : amountField;
  return withTransactionCall<Stripe.Refund>(services, {
    orderId,
    kind: 'refunds',
    field: refundField,
    request,
    unknownOutcome: 'refund outcome unknown; reservation kept for retry',

    async reserve(tx, order) {
      if (order.paymentStatus !== 'paid' && order.paymentStatus !== 'partially_refunded') {
        throw invalid(refundField, `order is ${order.paymentStatus}; only a paid order can be refunded`);
      }
      const money = await orderMoney(tx, order.id);
      if (!money.capture?.stripePaymentId) throw invalid(refundField, 'the order has no capture to refund');
      if (request.captureId !== undefined && request.captureId !== money.capture.id) throw invalid(refundField, "this capture is not the order's capture");
      const payment = await paymentOfTransaction(tx, money.capture.stripePaymentId);
      const inFlight = money.reserved.filter((row) => row.kind === 'refunds');
      const sameRequest = (row: Transaction) => amountCents === undefined || row.amountCents === amountCents;
      // A retry of a refund whose outcome was never learnt: same row, same idempotency key.
      const retry = inFlight.find((row) => isStale(row) && sameRequest(row));
      if (retry) return { row: await retryOrRefuse(tx, retry, 'a refund', field), payment };
      if (amountCents !== undefined) {
        const twin = inFlight.find(sameRequest);
        if (twin) throw conflict(field, `a refund of ${formatAmount(twin.amountCents, twin.currencyCode)} of this order is in progress`);
      }
      const inFlightCents = inFlight.reduce((total, row) => total + row.amountCents, 0);
      const refundable = money.capturedCents - money.refundedCents - inFlightCents;
      const amount = amountCents ?? refundable;
      if (amount <= 0 || amount > refundable) {
        const pending = inFlightCents > 0 ? ` (${formatAmount(inFlightCents, order.currencyCode)} being refunded)` : '';
        throw invalid(
          field,
          refundable <= 0
            ? `nothing left to refund: ${formatAmount(money.refundedCents, order.currencyCode)} of ${formatAmount(money.capturedCents, order.currencyCode)} refunded${pending}`
            : `cannot exceed ${formatAmount(refundable, order.currencyCode)}, what is left to refund${pending}`,
        );
      }
      const row = await createTransaction(tx, { kind: 'refunds', order, payment, amountCents: amount, referenceId: money.capture.id, requestKey: request.requestKey });
      return { row, payment };
    },

    call: ({ row, payment }, { client, requestOptions }, idempotencyKey) =>
      client.refunds.create(
        { payment_intent: payment.stripeId, amount: toStripeAmount(row.amountCents, row.currencyCode), metadata: { [refundMetadataKey]: row.id, order_id: orderId } },
        { ...requestOptions, idempotencyKey },
      ),

    async record(tx, locked, { row }, refund) {
      await recordRefund(tx, locked, refund, row.currencyCode);
      const money = await orderMoney(tx, locked.order.id);
      await advancePaymentStatus(tx, locked.order.id, statusAfterRefunds(money.capturedCents, money.refundedCents));
    },
  });
}
