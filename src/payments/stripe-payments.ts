import { isDeepStrictEqual } from 'node:util';
import { z } from 'zod';
import type Stripe from 'stripe';
import type { Order, Prisma } from '../generated/prisma/client.ts';
import { newId } from '../ids.ts';
import { validationError } from '../jsonapi/errors.ts';
import type { Services } from '../services.ts';
import { isDefinitiveStripeRejection, stripeErrorToJsonApi } from '../stripe/errors.ts';
import { toStripeAmount } from './money.ts';
import { editableStatuses, lockOrder } from './orders.ts';

/** The PaymentIntent options a client may set (Commerce Layer's `options`), checked before Stripe sees them. */
export const stripePaymentOptionsSchema = z
  .object({
    customer: z.string().regex(/^cus_\w+$/, 'must be a Stripe customer id (cus_...)'),
    payment_method: z.string().regex(/^pm_\w+$/, 'must be a Stripe payment method id (pm_...)'),
    setup_future_usage: z.enum(['on_session', 'off_session']),
    description: z.string().max(1000),
    statement_descriptor_suffix: z.string().max(22),
    payment_method_types: z.array(z.string().regex(/^[a-z_]+$/)).min(1).max(20),
    automatic_payment_methods: z.object({ enabled: z.boolean() }).strict(),
  })
  .partial()
  .strict();

export type StripePaymentOptions = z.infer<typeof stripePaymentOptionsSchema>;

export interface CreateStripePaymentInput {
  orderId: string;
  options?: StripePaymentOptions | null;
  returnUrl?: string | null;
  receiptEmail?: string | null;
  reference?: string | null;
  referenceOrigin?: string | null;
  metadata?: Record<string, unknown> | null;
}

const orderPointer = '/data/relationships/order';

/** The idempotency key of the PaymentIntent create call: derived from our payment id only. */
export function createIntentIdempotencyKey(stripePaymentId: string): string {
  return `stripe_payments/${stripePaymentId}/create`;
}

/**
 * Checks that a locked order can be paid with a stripe payment (at creation, when a payment
 * moves to it, before `_update` sends its amount) and returns its currency and Stripe gateway.
 * Errors point at `pointer`, the part of the request that named the order.
 */
export async function checkOrderPayable(tx: Prisma.TransactionClient, order: Order, pointer: string) {
  if (!editableStatuses.has(order.status)) {
    throw validationError(pointer, `order is ${order.status}, a payment can only be created for a draft or pending order`);
  }
  const lineItemCount = await tx.lineItem.count({ where: { orderId: order.id } });
  if (lineItemCount === 0) throw validationError(pointer, 'order has no line items');
  if (order.totalAmountCents <= 0) throw validationError(pointer, 'order total must be greater than zero');
  const currencyCode = order.currencyCode;
  if (!currencyCode) throw validationError(pointer, 'order has no currency_code');
  if (!order.paymentMethodId) throw validationError(pointer, 'order has no payment_method');
  const paymentMethod = await tx.paymentMethod.findUnique({
    where: { id: order.paymentMethodId },
    include: { paymentGateway: true },
  });
  if (!paymentMethod || paymentMethod.paymentSourceType !== 'stripe_payments') {
    throw validationError(pointer, "order's payment_method does not accept stripe_payments");
  }
  if (paymentMethod.disabledAt) throw validationError(pointer, "order's payment_method is disabled");
  if (paymentMethod.currencyCode !== currencyCode) {
    throw validationError(pointer, `order's payment_method is for ${paymentMethod.currencyCode}, the order is in ${currencyCode}`);
  }
  const gateway = paymentMethod.paymentGateway;
  if (!gateway || gateway.disabledAt) throw validationError(pointer, "order's payment_method has no active stripe gateway");
  return { currencyCode, paymentMethod, gateway };
}

/**
 * Creates a stripe payment for an order: a PaymentIntent for the order's total at the
 * Stripe account of the order's payment method, and the order's payment source.
 *
 * Three steps so that no lock is held during the Stripe call and nothing is duplicated:
 * 1. with the order locked, check it is payable and reserve a payment row (hidden from
 *    the API) that fixes the amount, currency and options sent to Stripe;
 * 2. create the PaymentIntent with an idempotency key derived from the reserved id;
 * 3. record the PaymentIntent and make the payment the order's payment source.
 * A retry of the same request (after a timeout, a crash or Stripe being down) reuses the
 * reservation, so Stripe answers with the PaymentIntent it already made.
 */
export async function createStripePayment(services: Services, input: CreateStripePaymentInput) {
  const { db, stripe, secretBox, logger } = services;

  const reservation = await db.$transaction(async (tx) => {
    const order = await lockOrder(tx, input.orderId);
    if (!order) throw validationError(orderPointer, `orders ${input.orderId} not found`);
    const { currencyCode, gateway } = await checkOrderPayable(tx, order, orderPointer);

    const wanted = {
      orderId: order.id,
      paymentGatewayId: gateway.id,
      amountCents: order.totalAmountCents,
      currencyCode,
      options: input.options ?? {},
      returnUrl: input.returnUrl ?? null,
      receiptEmail: input.receiptEmail ?? order.customerEmail ?? null,
      connectedAccount: gateway.connectedAccount,
      publishableKey: gateway.publishableKey,
      mode: gateway.mode,
    };
    const pending = await tx.stripePayment.findMany({ where: { orderId: order.id, intentState: 'reserved' } });
    const sameRequest = pending.find((row) =>
      (Object.keys(wanted) as (keyof typeof wanted)[]).every((key) => isDeepStrictEqual(row[key], wanted[key])),
    );
    const annotations = {
      reference: input.reference ?? null,
      referenceOrigin: input.referenceOrigin ?? null,
      metadata: (input.metadata ?? {}) as object,
    };
    const row = sameRequest
      ? await tx.stripePayment.update({ where: { id: sameRequest.id }, data: annotations })
      : await tx.stripePayment.create({ data: { id: newId(), ...wanted, ...annotations, intentState: 'reserved' } });
    return { row, order, loginEncrypted: gateway.loginEncrypted };
  });

  const { row, order } = reservation;
  const secretKey = secretBox.open(reservation.loginEncrypted);
  const options = row.options as StripePaymentOptions;
  const params: Stripe.PaymentIntentCreateParams = {
    amount: toStripeAmount(row.amountCents, row.currencyCode),
    currency: row.currencyCode.toLowerCase(),
    // Authorise now, capture when the order is approved: Commerce Layer's flow.
    capture_method: 'manual',
    metadata: { order_id: order.id, order_number: String(order.number), stripe_payment_id: row.id },
    ...options,
    ...(row.receiptEmail ? { receipt_email: row.receiptEmail } : {}),
  };

  let intent: Stripe.PaymentIntent;
  try {
    intent = await stripe.forKey(secretKey).paymentIntents.create(params, {
      idempotencyKey: createIntentIdempotencyKey(row.id),
      ...(row.connectedAccount ? { stripeAccount: row.connectedAccount } : {}),
    });
  } catch (error) {
    const translated = stripeErrorToJsonApi(error, orderPointer);
    if (isDefinitiveStripeRejection(error)) {
      // Stripe made nothing: release the reservation so the order stays as it was.
      await db.stripePayment.deleteMany({ where: { id: row.id, intentState: 'reserved' } });
    } else {
      logger.warn({ stripePaymentId: row.id, err: error }, 'PaymentIntent creation outcome unknown; reservation kept for retry');
    }
    throw translated ?? error;
  }

  return db.$transaction(async (tx) => {
    const created = await tx.stripePayment.update({
      where: { id: row.id },
      data: {
        intentState: 'created',
        stripeId: intent.id,
        clientSecret: intent.client_secret,
        status: intent.status,
        paymentMethod: typeof intent.payment_method === 'string' ? { id: intent.payment_method } : undefined,
      },
      include: { order: { select: { totalAmountCents: true, currencyCode: true } } },
    });
    await tx.order.update({
      where: { id: order.id },
      data: { paymentSourceType: 'stripe_payments', paymentSourceId: row.id },
    });
    return created;
  });
}
