import { randomInt } from 'node:crypto';
import { clientSecretFor, newId, randomAlphanumeric, unixNow } from './ids.ts';
import type { TestCard } from './test-cards.ts';

/**
 * The Stripe objects the stand-in serves, shaped like Stripe's canonical fixtures
 * (shared/reference/stripe/fixtures.subset.json). Fields the stand-in never fills are
 * present with Stripe's empty value so that clients see the same keys as from Stripe.
 */

export type PaymentIntentStatus =
  | 'requires_payment_method'
  | 'requires_confirmation'
  | 'requires_action'
  | 'processing'
  | 'requires_capture'
  | 'canceled'
  | 'succeeded';

export type CaptureMethod = 'automatic' | 'automatic_async' | 'manual';

export interface LastPaymentError {
  type: 'card_error';
  code: string;
  decline_code?: string;
  message: string;
  doc_url?: string;
  charge?: string;
  payment_method?: PaymentMethod;
}

export type NextAction =
  | { type: 'use_stripe_sdk'; use_stripe_sdk: Record<string, unknown> }
  | { type: 'redirect_to_url'; redirect_to_url: { return_url: string; url: string } };

export interface PaymentIntent {
  id: string;
  object: 'payment_intent';
  allowed_payment_method_types: string[] | null;
  amount: number;
  amount_capturable: number;
  amount_details: { tip: Record<string, never> };
  amount_received: number;
  application: string | null;
  application_fee_amount: number | null;
  automatic_payment_methods: { enabled: boolean; allow_redirects?: 'always' | 'never' } | null;
  canceled_at: number | null;
  cancellation_reason: string | null;
  capture_method: CaptureMethod;
  client_secret: string;
  confirmation_method: 'automatic' | 'manual';
  created: number;
  currency: string;
  customer: string | null;
  customer_account: string | null;
  description: string | null;
  excluded_payment_method_types: string[] | null;
  last_payment_error: LastPaymentError | null;
  latest_charge: string | null;
  livemode: boolean;
  managed_payments: null;
  metadata: Record<string, string>;
  next_action: NextAction | null;
  on_behalf_of: string | null;
  payment_method: string | null;
  payment_method_configuration_details: null;
  payment_method_options: Record<string, unknown>;
  payment_method_types: string[];
  payment_record: string | null;
  processing: null;
  receipt_email: string | null;
  review: string | null;
  setup_future_usage: 'on_session' | 'off_session' | null;
  shipping: null;
  source: null;
  statement_descriptor: string | null;
  statement_descriptor_suffix: string | null;
  status: PaymentIntentStatus;
  transfer_data: null;
  transfer_group: string | null;
  /** Stand-in only: set in `paymentIntents()` snapshots from the Stripe-Account header; never sent over HTTP. */
  stripe_account?: string;
}

export interface CardDetails {
  brand: string;
  country: string;
  exp_month: number;
  exp_year: number;
  fingerprint: string;
  funding: string;
  last4: string;
}

/** `payment_method_details.card` of a charge: the card as charged, with the network's answer. */
export interface ChargeCardDetails extends CardDetails {
  amount_authorized: number | null;
  authorization_code: string | null;
  checks: { address_line1_check: null; address_postal_code_check: null; cvc_check: 'pass' | null };
  electronic_commerce_indicator: null;
  installments: null;
  mandate: null;
  network: string;
  network_transaction_id: string | null;
  regulated_status: 'unregulated';
  three_d_secure: null;
  transaction_link_id: null;
  wallet: null;
}

export interface PaymentMethod {
  id: string;
  object: 'payment_method';
  allow_redisplay: 'unspecified';
  billing_details: BillingDetails;
  card: CardDetails & {
    checks: { address_line1_check: null; address_postal_code_check: null; cvc_check: 'unchecked' | 'pass' };
    display_brand: string;
    generated_from: null;
    networks: { available: string[]; preferred: null };
    regulated_status: 'unregulated';
    three_d_secure_usage: { supported: boolean };
    wallet: null;
  };
  created: number;
  customer: string | null;
  customer_account: string | null;
  livemode: boolean;
  metadata: Record<string, string>;
  type: 'card';
}

interface BillingDetails {
  address: { city: null; country: null; line1: null; line2: null; postal_code: null; state: null };
  email: string | null;
  name: string | null;
  phone: string | null;
  tax_id: null;
}

export interface Refund {
  id: string;
  object: 'refund';
  amount: number;
  balance_transaction: string | null;
  charge: string;
  created: number;
  currency: string;
  customer: string | null;
  customer_account: string | null;
  destination_details: { card: { reference_status: 'pending'; reference_type: 'acquirer_reference_number'; type: 'refund' }; type: 'card' };
  metadata: Record<string, string>;
  payment_intent: string | null;
  payment_method: string | null;
  reason: 'duplicate' | 'fraudulent' | 'requested_by_customer' | null;
  receipt_number: string | null;
  source_transfer_reversal: string | null;
  status: 'succeeded';
  transfer_reversal: string | null;
}

export interface Charge {
  id: string;
  object: 'charge';
  amount: number;
  amount_captured: number;
  amount_refunded: number;
  application: string | null;
  application_fee: string | null;
  application_fee_amount: number | null;
  balance_transaction: string | null;
  billing_details: BillingDetails;
  calculated_statement_descriptor: string | null;
  captured: boolean;
  created: number;
  currency: string;
  customer: string | null;
  description: string | null;
  disputed: boolean;
  failure_balance_transaction: string | null;
  failure_code: string | null;
  failure_message: string | null;
  fraud_details: Record<string, never>;
  livemode: boolean;
  metadata: Record<string, string>;
  on_behalf_of: string | null;
  outcome: {
    advice_code: null;
    network_advice_code: null;
    network_decline_code: null;
    network_status: 'approved_by_network' | 'declined_by_network';
    reason: string | null;
    risk_level: 'normal';
    seller_message: string;
    type: 'authorized' | 'issuer_declined';
  };
  paid: boolean;
  payment_intent: string | null;
  payment_method: string;
  payment_method_details: { card: ChargeCardDetails; type: 'card' };
  receipt_email: string | null;
  receipt_number: string | null;
  receipt_url: string | null;
  refunded: boolean;
  refunds: { object: 'list'; data: Refund[]; has_more: false; url: string };
  review: string | null;
  shipping: null;
  source: null;
  source_transfer: string | null;
  statement_descriptor: string | null;
  statement_descriptor_suffix: string | null;
  status: 'succeeded' | 'failed';
  transfer_data: null;
  transfer_group: string | null;
}

const EMPTY_BILLING: BillingDetails = {
  address: { city: null, country: null, line1: null, line2: null, postal_code: null, state: null },
  email: null,
  name: null,
  phone: null,
  tax_id: null,
};

export function buildPaymentIntent(fields: {
  amount: number;
  currency: string;
  livemode: boolean;
  captureMethod: CaptureMethod;
  paymentMethodTypes: string[];
  allowedPaymentMethodTypes: string[] | null;
  automaticPaymentMethods: PaymentIntent['automatic_payment_methods'];
}): PaymentIntent {
  const id = newId('pi');
  return {
    id,
    object: 'payment_intent',
    allowed_payment_method_types: fields.allowedPaymentMethodTypes,
    amount: fields.amount,
    amount_capturable: 0,
    amount_details: { tip: {} },
    amount_received: 0,
    application: null,
    application_fee_amount: null,
    automatic_payment_methods: fields.automaticPaymentMethods,
    canceled_at: null,
    cancellation_reason: null,
    capture_method: fields.captureMethod,
    client_secret: clientSecretFor(id),
    confirmation_method: 'automatic',
    created: unixNow(),
    currency: fields.currency,
    customer: null,
    customer_account: null,
    description: null,
    excluded_payment_method_types: null,
    last_payment_error: null,
    latest_charge: null,
    livemode: fields.livemode,
    managed_payments: null,
    metadata: {},
    next_action: null,
    on_behalf_of: null,
    payment_method: null,
    payment_method_configuration_details: null,
    payment_method_options: fields.paymentMethodTypes.includes('card')
      ? { card: { installments: null, mandate_options: null, network: null, request_three_d_secure: 'automatic' } }
      : {},
    payment_method_types: fields.paymentMethodTypes,
    payment_record: null,
    processing: null,
    receipt_email: null,
    review: null,
    setup_future_usage: null,
    shipping: null,
    source: null,
    statement_descriptor: null,
    statement_descriptor_suffix: null,
    status: 'requires_payment_method',
    transfer_data: null,
    transfer_group: null,
  };
}

export function buildPaymentMethod(card: TestCard, livemode: boolean): PaymentMethod {
  const created = unixNow();
  return {
    id: newId('pm'),
    object: 'payment_method',
    allow_redisplay: 'unspecified',
    billing_details: structuredClone(EMPTY_BILLING),
    card: {
      ...cardDetails(card),
      checks: { address_line1_check: null, address_postal_code_check: null, cvc_check: 'unchecked' },
      display_brand: card.brand,
      generated_from: null,
      networks: { available: [card.brand], preferred: null },
      regulated_status: 'unregulated',
      three_d_secure_usage: { supported: true },
      wallet: null,
    },
    created,
    customer: null,
    customer_account: null,
    livemode,
    metadata: {},
    type: 'card',
  };
}

function cardDetails(card: TestCard): CardDetails {
  // Stripe's test cards expire some years ahead; the exact date does not matter to callers.
  const now = new Date();
  return {
    brand: card.brand,
    country: card.country,
    exp_month: now.getUTCMonth() + 1,
    exp_year: now.getUTCFullYear() + 3,
    // One fingerprint per card number, as Stripe does, so it can be compared across objects.
    fingerprint: `${card.brand}${card.last4}`.padEnd(16, 'X').slice(0, 16),
    funding: card.funding,
    last4: card.last4,
  };
}

export function buildCharge(fields: {
  paymentIntent: PaymentIntent;
  paymentMethod: PaymentMethod;
  captured: boolean;
  decline?: { code: string; declineCode: string; message: string };
}): Charge {
  const { paymentIntent: pi, paymentMethod: pm, captured, decline } = fields;
  const id = newId('ch');
  const { brand, country, exp_month, exp_year, fingerprint, funding, last4 } = pm.card;
  const card: CardDetails = { brand, country, exp_month, exp_year, fingerprint, funding, last4 };
  return {
    id,
    object: 'charge',
    amount: pi.amount,
    amount_captured: captured && !decline ? pi.amount : 0,
    amount_refunded: 0,
    application: null,
    application_fee: null,
    application_fee_amount: null,
    balance_transaction: captured && !decline ? newId('txn') : null,
    billing_details: structuredClone(pm.billing_details),
    calculated_statement_descriptor: pi.statement_descriptor ?? 'STRIPE STAND-IN',
    captured: captured && !decline,
    created: unixNow(),
    currency: pi.currency,
    customer: pi.customer,
    description: pi.description,
    disputed: false,
    failure_balance_transaction: null,
    failure_code: decline ? decline.code : null,
    failure_message: decline ? decline.message : null,
    fraud_details: {},
    livemode: pi.livemode,
    metadata: { ...pi.metadata },
    on_behalf_of: pi.on_behalf_of,
    outcome: decline
      ? {
          advice_code: null,
          network_advice_code: null,
          network_decline_code: null,
          network_status: 'declined_by_network',
          reason: decline.declineCode,
          risk_level: 'normal',
          seller_message: 'The bank did not return any further details with this decline.',
          type: 'issuer_declined',
        }
      : {
          advice_code: null,
          network_advice_code: null,
          network_decline_code: null,
          network_status: 'approved_by_network',
          reason: null,
          risk_level: 'normal',
          seller_message: 'Payment complete.',
          type: 'authorized',
        },
    paid: !decline,
    payment_intent: pi.id,
    payment_method: pm.id,
    payment_method_details: {
      card: {
        ...card,
        amount_authorized: decline ? null : pi.amount,
        authorization_code: decline ? null : String(randomInt(100_000, 1_000_000)),
        // The card's checks as the network answered them (Stripe's fixtures: cvc_check pass).
        checks: { ...pm.card.checks, cvc_check: decline ? null : 'pass' },
        electronic_commerce_indicator: null,
        installments: null,
        mandate: null,
        network: pm.card.brand,
        network_transaction_id: decline ? null : randomAlphanumeric(15),
        regulated_status: 'unregulated',
        three_d_secure: null,
        transaction_link_id: null,
        wallet: null,
      },
      type: 'card',
    },
    receipt_email: pi.receipt_email,
    receipt_number: null,
    receipt_url: decline ? null : `https://pay.stripe.com/receipts/payment/${randomAlphanumeric(48)}`,
    refunded: false,
    refunds: { object: 'list', data: [], has_more: false, url: `/v1/charges/${id}/refunds` },
    review: null,
    shipping: null,
    source: null,
    source_transfer: null,
    statement_descriptor: pi.statement_descriptor,
    statement_descriptor_suffix: pi.statement_descriptor_suffix,
    status: decline ? 'failed' : 'succeeded',
    transfer_data: null,
    transfer_group: pi.transfer_group,
  };
}

export function buildRefund(fields: {
  charge: Charge;
  amount: number;
  reason: Refund['reason'];
  metadata: Record<string, string>;
}): Refund {
  const { charge } = fields;
  return {
    id: newId('re'),
    object: 'refund',
    amount: fields.amount,
    balance_transaction: newId('txn'),
    charge: charge.id,
    created: unixNow(),
    currency: charge.currency,
    customer: charge.customer,
    customer_account: null,
    destination_details: {
      card: { reference_status: 'pending', reference_type: 'acquirer_reference_number', type: 'refund' },
      type: 'card',
    },
    metadata: fields.metadata,
    payment_intent: charge.payment_intent,
    payment_method: charge.payment_method,
    reason: fields.reason,
    receipt_number: null,
    source_transfer_reversal: null,
    status: 'succeeded',
    transfer_reversal: null,
  };
}
