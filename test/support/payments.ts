import { randomBytes } from 'node:crypto';
import Stripe from 'stripe';
import { api, createCheckout, createdId, type Checkout, type TestContext } from './context.ts';

/** What a shopper's browser does with Stripe.js, here through the SDK with the gateway's key. */
export function stripeClient(context: TestContext, secretKey: string): Stripe {
  return new Stripe(secretKey, { host: context.standin.host, port: context.standin.port, protocol: 'http', telemetry: false, maxNetworkRetries: 0 });
}

export interface PayableOrder extends Checkout {
  paymentId: string;
  paymentIntentId: string;
  stripe: Stripe;
}

/** A checkout (2 × 12.50 EUR unless `lines` say otherwise) with a stripe payment: ready for the shopper to pay. */
export async function payableOrder(
  context: TestContext,
  { autoCapture = false, lines }: { autoCapture?: boolean; lines?: { quantity: number; unit_amount_cents: number }[] } = {},
): Promise<PayableOrder> {
  const client = api(context);
  const checkout = await createCheckout(context, lines ? { lines } : {});
  if (autoCapture) {
    const response = await client.patch(`/api/payment_methods/${checkout.paymentMethodId}`, {
      data: { type: 'payment_methods', id: checkout.paymentMethodId, attributes: { auto_capture: true } },
    });
    if (response.status !== 200) throw new Error(`auto_capture: ${response.status} ${response.text}`);
  }
  const created = await client.post('/api/stripe_payments', {
    data: { type: 'stripe_payments', relationships: { order: { data: { type: 'orders', id: checkout.orderId } } } },
  });
  if (created.status !== 201) throw new Error(`stripe payment: ${created.status} ${created.text}`);
  return {
    ...checkout,
    paymentId: created.body.data.id as string,
    paymentIntentId: created.body.data.attributes.stripe_id as string,
    stripe: stripeClient(context, checkout.secretKey),
  };
}

/**
 * Confirms the PaymentIntent with a test payment method, as Stripe.js does after the
 * shopper entered a card (with a return URL for redirects such as 3-D Secure). A decline
 * is returned, not thrown.
 */
export async function confirm(order: PayableOrder, paymentMethod = 'pm_card_visa'): Promise<Stripe.PaymentIntent | Stripe.errors.StripeError> {
  try {
    return await order.stripe.paymentIntents.confirm(order.paymentIntentId, { payment_method: paymentMethod, return_url: 'https://shop.example.com/checkout/return' });
  } catch (error) {
    if (error instanceof Stripe.errors.StripeCardError) return error;
    throw error;
  }
}

/** Sends an order trigger (`_place`, `_capture`, ...) as a PATCH. */
export function trigger(context: TestContext, orderId: string, attributes: Record<string, unknown>, query = '') {
  return api(context).patch(`/api/orders/${orderId}${query}`, { data: { type: 'orders', id: orderId, attributes } });
}

export async function getOrder(context: TestContext, orderId: string, query = '') {
  const response = await api(context).get(`/api/orders/${orderId}${query}`);
  if (response.status !== 200) throw new Error(`order: ${response.status} ${response.text}`);
  return response.body as { data: { attributes: Record<string, unknown>; relationships: Record<string, { data?: unknown }> }; included?: { type: string; id: string; attributes: Record<string, unknown> }[] };
}

/** The order's payment_status once the webhooks Stripe has sent so far are delivered. */
export async function paymentStatusAfterWebhooks(context: TestContext, orderId: string): Promise<unknown> {
  await context.standin.webhooksIdle();
  return (await getOrder(context, orderId)).data.attributes.payment_status;
}

/** A Stripe gateway and a EUR payment method offered in one market, as a merchant sets up a storefront's checkout. */
export async function marketPaymentMethod(context: TestContext, marketId: string): Promise<{ paymentMethodId: string; secretKey: string }> {
  const secretKey = `sk_test_${randomBytes(12).toString('hex')}`;
  const created = (url: string, body: unknown) => createdId(context, url, body);
  const gatewayId = await created('/api/stripe_gateways', { data: { type: 'stripe_gateways', attributes: { name: 'Stripe', login: secretKey } } });
  const paymentMethodId = await created('/api/payment_methods', {
    data: {
      type: 'payment_methods',
      attributes: { payment_source_type: 'stripe_payments', currency_code: 'EUR', price_amount_cents: 0 },
      relationships: { payment_gateway: { data: { type: 'stripe_gateways', id: gatewayId } }, market: { data: { type: 'markets', id: marketId } } },
    },
  });
  return { paymentMethodId, secretKey };
}
