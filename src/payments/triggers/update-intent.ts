import type Stripe from 'stripe';
import { changedColumns, recordChange } from '../../changes.ts';
import { bumpWriteVersionSql, recordIntentUpdateSql, setIntentStatusSql } from '../../db/sql/payments.ts';
import { run, type Statement } from '../../db/sql-transaction.ts';
import { invalid, notFound, type ErrorField } from '../../domain-error.ts';
import type { Services } from '../../services.ts';
import { unexpectedStateStatus } from '../../stripe/error-mapping.ts';
import { asStripePayment, inFastTransaction, lockPaymentWithOrder } from '../locks.ts';
import { fromStripeAmount, toStripeAmount } from '../money.ts';
import { changeableIntentList, neverChangeableAgain } from '../payment-status.ts';
import { withReservation } from '../reservation.ts';
import { paymentAccount } from '../stripe-account.ts';
import { checkOrderPayable, intentMetadata, type StripePaymentOptions } from '../stripe-payments.ts';

const field: ErrorField = { trigger: '_update' };
const bumpWriteVersion: Statement = { name: 'stripe_payments.bump_write_version', text: bumpWriteVersionSql };
const recordIntentUpdate: Statement = { name: 'stripe_payments.record_update', text: recordIntentUpdateSql };
const setIntentStatus: Statement = { name: 'stripe_payments.set_status', text: setIntentStatusSql };

/** One key per distinct update (the version), the same for the SDK's retries of that update. */
export function updateIntentIdempotencyKey(stripePaymentId: string, version: number): string {
  return `stripe_payments/${stripePaymentId}/update/${version}`;
}

/**
 * `_update`: sends the order's current total, currency and the payment's options to the
 * PaymentIntent. The reservation is the write version, bumped with the payment and order
 * locked (the idempotency key of this update); Stripe's answer is recorded unless a later
 * update has started since.
 */
export async function updateIntent(services: Services, paymentId: string): Promise<void> {
  await withReservation(services, {
    // Every statement is SQL of its own (src/db/sql-transaction.ts).
    transactions: inFastTransaction,
    field,
    unknownOutcome: 'PaymentIntent update outcome unknown',
    logged: ({ payment }) => ({ stripePaymentId: payment.id }),

    async reserve(tx) {
      const locked = await lockPaymentWithOrder(tx, paymentId);
      if (!locked) throw notFound();
      const { payment, order } = locked;
      if (!payment.stripeId) throw invalid(field, 'the payment has no PaymentIntent to update');
      if (payment.status && neverChangeableAgain.has(payment.status)) throw notUpdatable(payment.status);
      const { currencyCode, gateway } = await checkOrderPayable(tx, order, field);
      if (gateway.id !== payment.paymentGatewayId || gateway.connectedAccount !== payment.connectedAccount) {
        throw invalid(field, "order's payment_method now uses another Stripe gateway than the PaymentIntent");
      }
      const [row] = await run(tx, bumpWriteVersion, [payment.id, new Date().toISOString()]);
      const bumped = asStripePayment(row!);
      return { payment: bumped, stripeId: payment.stripeId, order, amountCents: order.totalAmountCents, currencyCode };
    },

    idempotencyKey: ({ payment }) => updateIntentIdempotencyKey(payment.id, payment.stripeWriteVersion),

    async call({ payment, stripeId, order, amountCents, currencyCode }, idempotencyKey) {
      const options = payment.options as StripePaymentOptions;
      const params: Stripe.PaymentIntentUpdateParams = {
        amount: toStripeAmount(amountCents, currencyCode),
        currency: currencyCode.toLowerCase(),
        // These keys follow the payment to its current order.
        metadata: intentMetadata(order, payment.id),
        // Only what Stripe accepts on an update; the rest of the options apply at creation only.
        ...(options.customer !== undefined ? { customer: options.customer } : {}),
        ...(options.payment_method !== undefined ? { payment_method: options.payment_method } : {}),
        ...(options.setup_future_usage !== undefined ? { setup_future_usage: options.setup_future_usage } : {}),
        ...(options.description !== undefined ? { description: options.description } : {}),
        // Stripe takes a transfer group until one is set; on_behalf_of only at creation.
        ...(options.transfer_group !== undefined && !payment.transferGroup ? { transfer_group: options.transfer_group } : {}),
        ...(payment.receiptEmail ? { receipt_email: payment.receiptEmail } : {}),
      };
      const { client, requestOptions } = await paymentAccount(services, payment);
      return client.paymentIntents.update(stripeId, params, { ...requestOptions, idempotencyKey });
    },

    async record(tx, { payment }, intent) {
      await lockPaymentWithOrder(tx, payment.id);
      const currencyCode = intent.currency.toUpperCase();
      const data = { amountCents: fromStripeAmount(intent.amount, currencyCode), currencyCode, status: intent.status, transferGroup: intent.transfer_group ?? null };
      const recorded = await run(tx, recordIntentUpdate, [payment.id, payment.stripeWriteVersion, data.amountCents, data.currencyCode, data.status, data.transferGroup, new Date().toISOString()]);
      if (recorded.length > 0) await recordChange(tx, { type: 'stripe_payments', id: payment.id, event: 'update', changes: changedColumns(payment, data) });
    },

    // Stripe told us the real status: keep it, and say why nothing changed.
    async refused(tx, { payment }, error) {
      const current = unexpectedStateStatus(error);
      if (current === undefined) return undefined;
      if (current !== 'unknown') {
        await lockPaymentWithOrder(tx, payment.id);
        const updated = await run(tx, setIntentStatus, [payment.id, current, new Date().toISOString()]);
        if (updated.length > 0) await recordChange(tx, { type: 'stripe_payments', id: payment.id, event: 'update', changes: changedColumns(payment, { status: current }) });
      }
      return notUpdatable(current);
    },
  });
}

function notUpdatable(status: string) {
  return invalid(field, `the PaymentIntent is ${status}; its amount can only be updated while it is ${changeableIntentList}`);
}
