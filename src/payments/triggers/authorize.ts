import type Stripe from 'stripe';
import { recordChange } from '../../changes.ts';
import { placeOrderSql } from '../../db/sql/payments.ts';
import { run, type Statement } from '../../db/sql-transaction.ts';
import { conflict, invalid, notFound, type ErrorField } from '../../domain-error.ts';
import type { Order, StripePayment } from '../../generated/prisma/client.ts';
import type { Services } from '../../services.ts';
import { inFastTransaction, lockPaymentWithOrder } from '../locks.ts';
import { formatAmount, fromStripeAmount } from '../money.ts';
import { customerTypeOf, editableStatuses, placedStatuses } from '../orders.ts';
import { advancePaymentStatus, authorizedIntentStatuses, intentStatusRank } from '../payment-status.ts';
import { readFromStripe } from '../reservation.ts';
import { paymentAccount } from '../stripe-account.ts';
import { applyPaymentIntent } from '../stripe-sync.ts';
import { chargeDetails, createTransaction, orderMoney, transactionOfRequest } from '../transactions.ts';
import { captureOrder } from './capture.ts';
import type { TriggerRequest } from './transaction-call.ts';

/**
 * `_authorize` and `_place`: checks at Stripe that the PaymentIntent is authorized
 * (requires_capture) or already paid (succeeded) for the order's total, records the
 * authorization, and `_place` makes the order placed; a payment method with auto_capture
 * then captures it. No money moves here, so the protocol is a read: Stripe first, then the
 * decision under the order's and the payment's locks, which a delete of the payment takes
 * too (stripe-payments.ts): of the two, whichever locks first wins.
 */

const placed: Statement = { name: 'orders.place', text: placeOrderSql };

export function placeOrder(services: Services, orderId: string, request: TriggerRequest = {}): Promise<void> {
  return authorize(services, orderId, true, request);
}

/** `_authorize`; `_authorization_amount_cents` authorizes another amount than the order's total (the PaymentIntent's must be it). */
export function authorizeOrder(
  services: Services,
  orderId: string,
  request: TriggerRequest & { parameters?: { _authorization_amount_cents?: number | null | undefined } } = {},
): Promise<void> {
  return authorize(services, orderId, false, request, request.parameters?._authorization_amount_cents ?? undefined);
}

async function authorize(services: Services, orderId: string, place: boolean, request: TriggerRequest, authorizationAmountCents?: number): Promise<void> {
  const { db } = services;
  const field: ErrorField = { trigger: place ? '_place' : '_authorize' };
  const verb = place ? 'placed' : 'authorized';
  const order = await db.order.findUnique({ where: { id: orderId } });
  if (!order) throw notFound();
  if (!editableStatuses.has(order.status)) {
    // A retry of the request that placed it, whose answer was a 5xx: done; the auto capture it owed is tried again.
    const own = await transactionOfRequest(db, order.id, 'authorizations', request.requestKey);
    if (own?.state === 'recorded' && own.succeeded && placedStatuses.has(order.status)) {
      if (place && order.paymentStatus === 'authorized') await autoCapture(services, order);
      return;
    }
    throw invalid(field, `order is ${order.status}; only a draft or pending order can be ${verb}`);
  }
  const payment = await sourcePayment(services, order, field);

  const { intent, refusal } = await readFromStripe(services, {
    // The record step's statements are SQL of their own (src/db/sql-transaction.ts).
    transactions: inFastTransaction,
    field,
    failure: `PaymentIntent retrieval before the order is ${verb} failed`,
    logged: { stripePaymentId: payment.id },
    read: async () => {
      const { client, requestOptions } = await paymentAccount(services, payment);
      // Webhooks may lag: the PaymentIntent as Stripe has it now decides.
      return client.paymentIntents.retrieve(payment.stripeId, { expand: ['payment_method', 'latest_charge'] }, requestOptions);
    },
    // A refusal is returned, not thrown: what Stripe said is recorded either way.
    async record(tx, intent: Stripe.PaymentIntent) {
      const refused = (reason: string) => ({ intent, refusal: reason });
      const locked = await lockPaymentWithOrder(tx, payment.id);
      if (!locked || locked.order.id !== order.id || locked.order.paymentSourceId !== payment.id) {
        return refused("the order's payment source changed meanwhile; retry");
      }
      if (!editableStatuses.has(locked.order.status)) return refused(`order is ${locked.order.status}; only a draft or pending order can be ${verb}`);
      // A webhook recorded newer news since our read: decide on a fresh read instead.
      if (intentStatusRank(intent.status) < intentStatusRank(locked.payment.status)) {
        throw conflict(field, `the PaymentIntent changed while the order was being ${verb}; retry`);
      }
      const { status } = intent;
      await applyPaymentIntent(tx, locked, intent);
      if (!authorizedIntentStatuses.has(status)) {
        return refused(`the PaymentIntent is ${status}; the order can be ${verb} once the customer has authorized the payment (requires_capture or succeeded)`);
      }
      const currencyCode = intent.currency.toUpperCase();
      const amountCents = fromStripeAmount(intent.amount, currencyCode);
      const expectedCents = authorizationAmountCents ?? locked.order.totalAmountCents;
      if (amountCents !== expectedCents || currencyCode !== locked.order.currencyCode) {
        const expected = `${authorizationAmountCents === undefined ? 'the order total' : '_authorization_amount_cents'} is ${formatAmount(expectedCents, locked.order.currencyCode)}`;
        return refused(`the PaymentIntent is for ${formatAmount(amountCents, currencyCode)}, ${expected}`);
      }

      const money = await orderMoney(tx, order.id);
      if (money.authorization?.stripePaymentId !== payment.id) {
        await createTransaction(tx, {
          kind: 'authorizations',
          order: locked.order,
          payment: locked.payment,
          amountCents,
          recorded: { succeeded: true, gatewayTransactionId: typeof intent.latest_charge === 'string' ? intent.latest_charge : (intent.latest_charge?.id ?? null) },
          requestKey: request.requestKey,
          details: chargeDetails(intent),
        });
      }
      // Now that the authorization exists, a succeeded PaymentIntent records its capture too.
      if (status === 'succeeded') await applyPaymentIntent(tx, locked, intent);
      await advancePaymentStatus(tx, order.id, status === 'succeeded' ? 'paid' : 'authorized');
      if (place) {
        await run(tx, placed, [order.id, new Date().toISOString(), await customerTypeOf(tx, locked.order)]);
        await recordChange(tx, { type: 'orders', id: order.id, event: 'orders.place', changes: { status: { before: locked.order.status, after: 'placed' } } });
      }
      return { intent, refusal: undefined };
    },
  });
  if (refusal) throw invalid(field, refusal, { stripe_status: intent.status });

  if (place && intent.status === 'requires_capture') await autoCapture(services, order);
}

/** The order's stripe payment, which must have a PaymentIntent. */
async function sourcePayment(services: Services, order: Order, field: ErrorField): Promise<StripePayment & { stripeId: string }> {
  const payment =
    order.paymentSourceType === 'stripe_payments' && order.paymentSourceId
      ? await services.db.stripePayment.findFirst({ where: { id: order.paymentSourceId, intentState: 'created' } })
      : null;
  if (!payment) throw invalid(field, 'the order has no payment source; create a stripe payment for it first');
  if (!payment.stripeId) throw invalid(field, "the order's stripe payment has no PaymentIntent");
  return payment as StripePayment & { stripeId: string };
}

/** Captures a just placed order when its payment method says so. */
async function autoCapture(services: Services, order: Order): Promise<void> {
  const method = order.paymentMethodId ? await services.db.paymentMethod.findUnique({ where: { id: order.paymentMethodId } }) : null;
  if (!method?.autoCapture) return;
  // The order is placed whatever happens next; a failed capture is recorded and can be retried with _capture.
  await captureOrder(services, order.id).catch((error: unknown) => {
    services.logger.warn({ orderId: order.id, err: { message: (error as Error).message } }, 'auto capture on place failed');
  });
}
