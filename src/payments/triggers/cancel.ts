import Stripe from 'stripe';
import { recordChange } from '../../changes.ts';
import { cancelOrderSql } from '../../db/sql/payments.ts';
import { run, type AnyTx, type Statement } from '../../db/sql-transaction.ts';
import { conflict, invalid, type ErrorField } from '../../domain-error.ts';
import type { Order } from '../../generated/prisma/client.ts';
import type { Services } from '../../services.ts';
import { unexpectedStateStatus } from '../../stripe/error-mapping.ts';
import { placedStatuses } from '../orders.ts';
import { advancePaymentStatus, intentStatusRank } from '../payment-status.ts';
import { Finished } from '../reservation.ts';
import { applyPaymentIntent } from '../stripe-sync.ts';
import { createTransaction, orderMoney, recordOutcome } from '../transactions.ts';
import { paymentOfTransaction, retryOrRefuse, withTransactionCall, type TriggerRequest } from './transaction-call.ts';

const cancel: Statement = { name: 'orders.cancel', text: cancelOrderSql };

async function markCancelled(tx: AnyTx, order: Pick<Order, 'id' | 'status'>) {
  await run(tx, cancel, [order.id, new Date().toISOString()]);
  await recordChange(tx, { type: 'orders', id: order.id, event: 'orders.cancel', changes: { status: { before: order.status, after: 'cancelled' } } });
}

/**
 * `_cancel`: cancels a placed order. Its PaymentIntent is canceled (the authorization
 * released, recorded as a void) when nothing was captured; an order whose capture is not
 * fully refunded cannot be cancelled.
 */
export function cancelOrder(services: Services, orderId: string, request: TriggerRequest = {}): Promise<void> {
  return releaseAuthorization(services, orderId, request, { trigger: '_cancel', cancel: true });
}

/**
 * `_void` on an authorization: releases it (cancels its PaymentIntent, recorded as a void)
 * while nothing of it is captured; the order stays as it is, its payment_status voided.
 */
export function voidAuthorization(services: Services, orderId: string, authorizationId: string, request: TriggerRequest = {}): Promise<void> {
  return releaseAuthorization(services, orderId, request, { trigger: '_void', cancel: false, authorizationId });
}

interface Release {
  trigger: '_cancel' | '_void';
  /** Cancels the order too (`_cancel`); a `_void` leaves it. */
  cancel: boolean;
  authorizationId?: string;
}

function releaseAuthorization(services: Services, orderId: string, request: TriggerRequest, release: Release): Promise<void> {
  const field: ErrorField = { trigger: release.trigger };
  return withTransactionCall<Stripe.PaymentIntent>(services, {
    orderId,
    kind: 'voids',
    field,
    request,
    unknownOutcome: 'PaymentIntent cancellation outcome unknown; reservation kept for retry',

    // The void was recorded (maybe by the webhook, which leaves the order as it is): finish the cancellation.
    async finishOwn(tx, order) {
      if (release.cancel && order.status !== 'cancelled') await markCancelled(tx, order);
    },

    async reserve(tx, order) {
      if (release.cancel && !placedStatuses.has(order.status)) throw invalid(field, `order is ${order.status}; only a placed order can be cancelled`);
      const money = await orderMoney(tx, order.id);
      if (release.authorizationId !== undefined) {
        if (money.authorization?.id !== release.authorizationId) throw invalid(field, "this authorization is no longer the order's authorization");
        if (money.void || order.paymentStatus === 'voided') throw invalid(field, 'the authorization is already voided');
      }
      if (money.reserved.some((row) => row.kind === 'captures' || row.kind === 'refunds')) {
        throw conflict(field, 'a capture or refund of this order is in progress');
      }
      if (!release.cancel && money.capture) throw invalid(field, 'the authorization is captured; refund its capture instead');
      if (money.capturedCents - money.refundedCents > 0) throw invalid(field, 'the order is captured; refund it in full before cancelling');
      const inFlight = money.reserved.find((row) => row.kind === 'voids');
      // Nothing authorized is left to release (refunded in full, or voided already): cancel the order alone.
      if (!inFlight && (money.capture || money.void || order.paymentStatus === 'voided' || !money.authorization?.stripePaymentId)) {
        if (!release.cancel) throw invalid(field, 'the order has no authorization to void');
        await markCancelled(tx, order);
        return new Finished(undefined);
      }
      const paymentId = inFlight?.stripePaymentId ?? money.authorization!.stripePaymentId!;
      const payment = await paymentOfTransaction(tx, paymentId);
      if (inFlight) return { row: await retryOrRefuse(tx, inFlight, 'a cancellation', field), payment };
      const row = await createTransaction(tx, {
        kind: 'voids',
        order,
        payment,
        amountCents: money.authorization!.amountCents,
        referenceId: money.authorization!.id,
        requestKey: request.requestKey,
      });
      return { row, payment };
    },

    async call({ payment }, { client, requestOptions }, idempotencyKey) {
      try {
        return await client.paymentIntents.cancel(payment.stripeId, {}, { ...requestOptions, idempotencyKey });
      } catch (error) {
        // Canceled at Stripe meanwhile (the dashboard, expiry): the release we wanted.
        if (unexpectedStateStatus(error) === 'canceled' && error instanceof Stripe.errors.StripeError && error.payment_intent) {
          return error.payment_intent as Stripe.PaymentIntent;
        }
        throw error;
      }
    },

    async record(tx, locked, { row }, intent) {
      await recordOutcome(tx, row.id, { succeeded: true, gatewayTransactionId: intent.id });
      if (intentStatusRank(intent.status) >= intentStatusRank(locked.payment.status)) await applyPaymentIntent(tx, locked, intent);
      await advancePaymentStatus(tx, locked.order.id, 'voided');
      if (release.cancel) await markCancelled(tx, locked.order);
    },
  });
}
