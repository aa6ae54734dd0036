/**
 * Stripe's test-mode PaymentMethod tokens (https://docs.stripe.com/testing) and how a
 * payment with each one ends. Only the outcomes the app's tests need are modelled.
 */

export type CardOutcome =
  | { kind: 'succeed' }
  /** Stripe's decline: the confirm answers 402 card_error and the intent falls back. */
  | { kind: 'decline'; code: 'card_declined' | 'expired_card' | 'incorrect_cvc'; declineCode: string; message: string }
  /** 3D Secure: the first confirm stops at requires_action; the next one succeeds. */
  | { kind: 'authenticate' };

export interface TestCard {
  brand: 'visa' | 'mastercard' | 'amex';
  last4: string;
  country: string;
  funding: 'credit' | 'debit';
  outcome: CardOutcome;
}

const visa = (last4: string, outcome: CardOutcome): TestCard => ({ brand: 'visa', last4, country: 'US', funding: 'credit', outcome });

const GENERIC_DECLINE: CardOutcome = {
  kind: 'decline',
  code: 'card_declined',
  declineCode: 'generic_decline',
  message: 'Your card was declined.',
};

export const TEST_PAYMENT_METHODS: Readonly<Record<string, TestCard>> = {
  pm_card_visa: visa('4242', { kind: 'succeed' }),
  pm_card_visa_debit: { brand: 'visa', last4: '5556', country: 'US', funding: 'debit', outcome: { kind: 'succeed' } },
  pm_card_mastercard: { brand: 'mastercard', last4: '4444', country: 'US', funding: 'credit', outcome: { kind: 'succeed' } },
  pm_card_amex: { brand: 'amex', last4: '8431', country: 'US', funding: 'credit', outcome: { kind: 'succeed' } },
  pm_card_chargeDeclined: visa('0002', GENERIC_DECLINE),
  pm_card_visa_chargeDeclined: visa('0002', GENERIC_DECLINE),
  pm_card_chargeDeclinedInsufficientFunds: visa('9995', {
    kind: 'decline',
    code: 'card_declined',
    declineCode: 'insufficient_funds',
    message: 'Your card has insufficient funds.',
  }),
  pm_card_chargeDeclinedExpiredCard: visa('0069', {
    kind: 'decline',
    code: 'expired_card',
    declineCode: 'expired_card',
    message: 'Your card has expired.',
  }),
  pm_card_chargeDeclinedIncorrectCvc: visa('0127', {
    kind: 'decline',
    code: 'incorrect_cvc',
    declineCode: 'incorrect_cvc',
    message: "Your card's security code is incorrect.",
  }),
  pm_card_authenticationRequired: visa('3184', { kind: 'authenticate' }),
  pm_card_threeDSecure2Required: visa('3220', { kind: 'authenticate' }),
};
