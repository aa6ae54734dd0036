import type Stripe from 'stripe';

/**
 * The Stripe objects the stand-in serves, named by the pinned SDK's own declarations
 * (generated from Stripe's OpenAPI spec for the SDK's API version). The fidelity test
 * reads this file with the TypeScript compiler and checks responses against each type,
 * so upgrading `stripe` re-runs the same checks against the new contract.
 */
export interface StripeContract {
  PaymentIntent: Stripe.PaymentIntent;
  Charge: Stripe.Charge;
  Refund: Stripe.Refund;
  PaymentMethod: Stripe.PaymentMethod;
  Event: Stripe.Event;
  WebhookEndpoint: Stripe.WebhookEndpoint;
  DeletedWebhookEndpoint: Stripe.DeletedWebhookEndpoint;
  RefundList: Stripe.ApiList<Stripe.Refund>;
  EventList: Stripe.ApiList<Stripe.Event>;
  WebhookEndpointList: Stripe.ApiList<Stripe.WebhookEndpoint>;
  PaymentIntentList: Stripe.ApiList<Stripe.PaymentIntent>;
  /** The `error` member of an error response. */
  Error: Stripe.StripeRawError;
}

/** Closed lists of values Stripe declares (their `OtherString` member set aside). */
export interface StripeEnums {
  /** Every error `code` Stripe documents. */
  ErrorCode: Stripe.PaymentIntent.LastPaymentError.Code;
}

/** The request parameters of every endpoint the stand-in serves, as the SDK declares them. */
export interface StripeParams {
  PaymentIntentCreateParams: Stripe.PaymentIntentCreateParams;
  PaymentIntentRetrieveParams: Stripe.PaymentIntentRetrieveParams;
  PaymentIntentUpdateParams: Stripe.PaymentIntentUpdateParams;
  PaymentIntentConfirmParams: Stripe.PaymentIntentConfirmParams;
  PaymentIntentCaptureParams: Stripe.PaymentIntentCaptureParams;
  PaymentIntentCancelParams: Stripe.PaymentIntentCancelParams;
  RefundCreateParams: Stripe.RefundCreateParams;
  RefundListParams: Stripe.RefundListParams;
  RefundRetrieveParams: Stripe.RefundRetrieveParams;
  ChargeRetrieveParams: Stripe.ChargeRetrieveParams;
  PaymentMethodRetrieveParams: Stripe.PaymentMethodRetrieveParams;
  WebhookEndpointCreateParams: Stripe.WebhookEndpointCreateParams;
  WebhookEndpointListParams: Stripe.WebhookEndpointListParams;
  WebhookEndpointRetrieveParams: Stripe.WebhookEndpointRetrieveParams;
  WebhookEndpointUpdateParams: Stripe.WebhookEndpointUpdateParams;
  WebhookEndpointDeleteParams: Stripe.WebhookEndpointDeleteParams;
  EventListParams: Stripe.EventListParams;
  EventRetrieveParams: Stripe.EventRetrieveParams;
}
