import type Stripe from 'stripe';
import { conflict, invalid, type ErrorField } from '../../domain-error.ts';
import type { Services } from '../../services.ts';
import { formatAmount, toStripeAmount } from '../money.ts';
import { placedStatuses } from '../orders.ts';
import { advancePaymentStatus, intentStatusRank } from '../payment-status.ts';
import { applyPaymentIntent, captureMetadataKey } from '../stripe-sync.ts';
import { createTransaction, orderMoney, recordOutcome } from '../transactions.ts';
import { paymentOfTransaction, retryOrRefuse, withTransactionCall, type TriggerRequest } from './transaction-call.ts';

const field: ErrorField = { trigger: '_capture' };
const amountField: ErrorField = { attribute: '_capture_amount_cents' };

/** What `_capture` on an authorization adds: which authorization, and how much of it (default all). */
export interface CaptureRequest extends TriggerRequest {
  /** Sent to the authorization: it must still be the order's authorization. */
  authorizationId?: string;
  amountCents?: number | undefined;
}

/**
 * `_capture`: captures the authorized amount (or `amountCents` of it: Stripe releases the
 * rest) of a placed order, once, whether sent to the order or to its authorization.
 */
export function captureOrder(services: Services, orderId: string, request: CaptureRequest = {}): Promise<void> {
  return withTransactionCall<Stripe.PaymentIntent>(services, {
    orderId,
    kind: 'captures',
    field,
    request,
    unknownOutcome: 'PaymentIntent capture outcome unknown; reservation kept for retry',

    async reserve(tx, order) {
      if (!placedStatuses.has(order.status)) throw invalid(field, `order is ${order.status}; only a placed order can be captured`);
      const money = await orderMoney(tx, order.id);
      if (money.capture) throw invalid(field, 'the order is already captured');
      if (money.void || order.paymentStatus === 'voided') throw invalid(field, "the order's authorization is voided");
      if (!money.authorization?.stripePaymentId) throw invalid(field, 'the order has no authorization to capture');
      if (request.authorizationId !== undefined && request.authorizationId !== money.authorization.id) {
        throw invalid(field, "this authorization is no longer the order's authorization");
      }
      const amountCents = request.amountCents ?? money.authorization.amountCents;
      if (amountCents > money.authorization.amountCents) {
        throw invalid(amountField, `cannot exceed ${formatAmount(money.authorization.amountCents, money.authorization.currencyCode)}, the authorized amount`);
      }
      const payment = await paymentOfTransaction(tx, money.authorization.stripePaymentId);
      const inFlight = money.reserved.find((row) => row.kind === 'captures' || row.kind === 'voids');
      if (inFlight?.kind === 'voids') throw conflict(field, 'a cancellation of this order is in progress');
      if (inFlight) return { row: await retryOrRefuse(tx, inFlight, 'a capture', field), payment };
      const row = await createTransaction(tx, {
        kind: 'captures',
        order,
        payment,
        amountCents,
        referenceId: money.authorization.id,
        requestKey: request.requestKey,
      });
      return { row, payment };
    },

    call: ({ row, payment }, { client, requestOptions }, idempotencyKey) =>
      client.paymentIntents.capture(
        payment.stripeId,
        { amount_to_capture: toStripeAmount(row.amountCents, row.currencyCode), metadata: { [captureMetadataKey]: row.id } },
        { ...requestOptions, idempotencyKey },
      ),

    async record(tx, locked, { row }, intent) {
      const chargeId = typeof intent.latest_charge === 'string' ? intent.latest_charge : (intent.latest_charge?.id ?? null);
      await recordOutcome(tx, row.id, { succeeded: true, gatewayTransactionId: chargeId });
      if (intentStatusRank(intent.status) >= intentStatusRank(locked.payment.status)) await applyPaymentIntent(tx, locked, intent);
      // The capture is the order's money whether or not the payment is still its source.
      await advancePaymentStatus(tx, locked.order.id, 'paid');
    },
  });
}
