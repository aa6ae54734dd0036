import { changedColumns, recordChange } from '../../changes.ts';
import { invalid } from '../../domain-error.ts';
import type { Services } from '../../services.ts';
import { lockPaymentWithOrder } from '../locks.ts';
import { fromStripeAmount } from '../money.ts';
import { intentStatusRank } from '../payment-status.ts';
import { readFromStripe } from '../reservation.ts';
import { paymentAccount } from '../stripe-account.ts';
import { findPayment } from '../stripe-payments.ts';
import { isReleaseDue, releaseSuperseded } from '../supersede.ts';
import { applyPaymentIntent } from '../stripe-sync.ts';

/**
 * `_refresh`: reads the PaymentIntent back (a fallback for webhooks) and records its
 * status, payment method, latest charge and amount, whatever its status. Found, a
 * PaymentIntent once reported missing (`intent_missing_at`) is reconciled again.
 */
export async function refreshIntent(services: Services, paymentId: string): Promise<void> {
  const payment = await findPayment(services.db, paymentId);
  // A superseded payment: what its PaymentIntent still holds is released, as a webhook would.
  if (isReleaseDue(payment)) {
    await releaseSuperseded(services, payment.id);
    return;
  }
  const stripeId = payment.stripeId;
  if (!stripeId) throw invalid({ trigger: '_refresh' }, 'the payment has no PaymentIntent to refresh');
  await readFromStripe(services, {
    field: { trigger: '_refresh' },
    failure: 'PaymentIntent refresh failed',
    logged: { stripePaymentId: payment.id },
    read: async () => {
      const { client, requestOptions } = await paymentAccount(services, payment);
      return client.paymentIntents.retrieve(stripeId, { expand: ['payment_method', 'latest_charge'] }, requestOptions);
    },
    async record(tx, intent) {
      const locked = await lockPaymentWithOrder(tx, payment.id);
      if (!locked) return;
      // Stripe's answer, with what it implies for the order; unless a webhook recorded newer news meanwhile.
      if (locked.payment.status === payment.status || intentStatusRank(intent.status) >= intentStatusRank(locked.payment.status)) {
        await applyPaymentIntent(tx, locked, intent);
      }
      // An `_update` that began after our read knows a newer amount than this one.
      const currencyCode = intent.currency.toUpperCase();
      const amount = { amountCents: fromStripeAmount(intent.amount, currencyCode), currencyCode };
      const { count } = await tx.stripePayment.updateMany({ where: { id: payment.id, stripeWriteVersion: payment.stripeWriteVersion }, data: amount });
      if (count > 0) await recordChange(tx, { type: 'stripe_payments', id: payment.id, event: 'update', changes: changedColumns(locked.payment, amount) });
      if (locked.payment.intentMissingAt !== null) {
        const found = { intentMissingAt: null };
        await tx.stripePayment.update({ where: { id: payment.id }, data: found });
        await recordChange(tx, { type: 'stripe_payments', id: payment.id, event: 'update', changes: changedColumns(locked.payment, found) });
      }
    },
  });
}
