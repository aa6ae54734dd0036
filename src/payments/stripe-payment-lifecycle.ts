import Stripe from 'stripe';
import type { Prisma, PrismaClient } from '../db/client.ts';
import type { StripePayment } from '../generated/prisma/client.ts';
import { recordNotFound, validationError } from '../jsonapi/errors.ts';
import type { Services } from '../services.ts';
import { isDefinitiveStripeRejection, stripeErrorToJsonApi } from '../stripe/errors.ts';
import { fromStripeAmount, toStripeAmount } from './money.ts';
import { editableStatuses, lockOrder } from './orders.ts';
import { intentStatusRank } from './payment-status.ts';
import { checkOrderPayable, type StripePaymentOptions } from './stripe-payments.ts';
import { applyPaymentIntent, lockPaymentAndOrder } from './stripe-sync.ts';

/** What the resource serializer needs besides the row: the order's amounts, for mismatched_amounts. */
const withOrder = { order: { select: { totalAmountCents: true, currencyCode: true } } } satisfies Prisma.StripePaymentInclude;

export type StripePaymentWithOrder = Prisma.StripePaymentGetPayload<{ include: typeof withOrder }>;

export interface UpdateStripePaymentInput {
  options?: StripePaymentOptions | null;
  returnUrl?: string | null;
  reference?: string | null;
  referenceOrigin?: string | null;
  metadata?: Record<string, unknown> | null;
  /** The order relationship: moves the payment when it names another order. */
  orderId?: string;
  /** Commerce Layer's `_update` trigger: send the order's current amount to the PaymentIntent. */
  update?: boolean;
  /** Commerce Layer's `_refresh` trigger: read the PaymentIntent back from Stripe. */
  refresh?: boolean;
}

const orderPointer = '/data/relationships/order';
const updatePointer = '/data/attributes/_update';
const refreshPointer = '/data/attributes/_refresh';
// Rails puts errors about the record as a whole on `base`; Commerce Layer follows it.
const basePointer = '/data/attributes/base';

/** Statuses in which Stripe still lets a PaymentIntent's amount, currency and payment method change. */
const changeableStatuses: ReadonlySet<string> = new Set(['requires_payment_method', 'requires_confirmation', 'requires_action']);
const changeableList = [...changeableStatuses].join(', ');
/** Statuses from which a PaymentIntent never returns to a changeable one, so Stripe need not be asked. */
const neverChangeableAgain: ReadonlySet<string> = new Set(['requires_capture', 'succeeded', 'canceled']);
/** Money has moved or is moving: deleting the payment would lose track of it. */
const moneyMovedStatuses: ReadonlySet<string> = new Set(['processing', 'succeeded']);

/** One key per distinct update (the version), the same for the SDK's retries of that update. */
export function updateIntentIdempotencyKey(stripePaymentId: string, version: number): string {
  return `stripe_payments/${stripePaymentId}/update/${version}`;
}

export function cancelIntentIdempotencyKey(stripePaymentId: string): string {
  return `stripe_payments/${stripePaymentId}/cancel`;
}

/**
 * Applies a PATCH to a stripe payment, in Commerce Layer's order: stored attributes and
 * the order relationship (one transaction), then `_update`, then `_refresh`. Each step
 * commits before the next, so a failing Stripe call leaves the earlier steps applied.
 */
export async function updateStripePayment(
  services: Services,
  paymentId: string,
  input: UpdateStripePaymentInput,
): Promise<StripePaymentWithOrder> {
  const { db } = services;
  const payment = await findPayment(db, paymentId);
  const attributes = storedAttributes(input);

  if (input.orderId !== undefined && input.orderId !== payment.orderId) {
    await moveToOrder(services, payment, input.orderId, attributes);
  } else if (Object.keys(attributes).length > 0) {
    await db.stripePayment.update({ where: { id: payment.id }, data: attributes });
  }
  if (input.update === true) await updateIntent(services, payment.id);
  if (input.refresh === true) await refreshIntent(services, payment.id);

  return db.stripePayment.findUniqueOrThrow({ where: { id: payment.id }, include: withOrder });
}

/**
 * Deletes a stripe payment whose money has not moved: cancels its PaymentIntent at Stripe
 * first, so that no authorisation outlives the payment, then removes the row and the
 * order's reference to it. When Stripe cannot be reached nothing is deleted.
 */
export async function deleteStripePayment(services: Services, paymentId: string): Promise<void> {
  const { db, logger } = services;
  const payment = await findPayment(db, paymentId);
  const order = await db.order.findUnique({ where: { id: payment.orderId }, select: { status: true } });
  if (order && !editableStatuses.has(order.status)) {
    throw validationError(basePointer, `cannot be deleted: its order is ${order.status}, only a draft or pending order's payment can be deleted`);
  }
  // succeeded is final: no need to ask Stripe.
  if (payment.status === 'succeeded') throw moneyMoved(payment.status);

  if (payment.stripeId && payment.status !== 'canceled') {
    const { client, requestOptions } = await stripeFor(db, services, payment);
    let status: string;
    try {
      // Webhooks may lag: decide on Stripe's current status, not the stored one.
      status = (await client.paymentIntents.retrieve(payment.stripeId, {}, requestOptions)).status;
    } catch (error) {
      throw translate(services, error, basePointer, payment.id, 'PaymentIntent retrieval before delete failed');
    }
    if (moneyMovedStatuses.has(status)) throw moneyMoved(status);
    if (status !== 'canceled') {
      try {
        await client.paymentIntents.cancel(payment.stripeId, {}, { ...requestOptions, idempotencyKey: cancelIntentIdempotencyKey(payment.id) });
      } catch (error) {
        const current = unexpectedStateStatus(error);
        if (current !== undefined && moneyMovedStatuses.has(current)) throw moneyMoved(current);
        // Canceled meanwhile (another delete, the dashboard): what we wanted.
        if (current !== 'canceled') throw translate(services, error, basePointer, payment.id, 'PaymentIntent cancellation outcome unknown');
      }
    }
  } else if (!payment.stripeId) {
    logger.warn({ stripePaymentId: payment.id }, 'created stripe payment without a PaymentIntent id; deleting without Stripe');
  }

  await db.$transaction(async (tx) => {
    const locked = await lockPayment(tx, payment.id);
    // Deleted concurrently: the outcome the caller asked for.
    if (!locked) return;
    // Row before order, as every writer here does, so two writers never wait on each other.
    await lockOrder(tx, locked.orderId);
    await tx.stripePayment.delete({ where: { id: locked.id } });
    await tx.order.updateMany({
      where: { id: locked.orderId, paymentSourceType: 'stripe_payments', paymentSourceId: locked.id },
      data: { paymentSourceType: null, paymentSourceId: null },
    });
  });
}

/** Only created payments exist for the API; a reservation is a PaymentIntent still being made. */
async function findPayment(db: PrismaClient, paymentId: string): Promise<StripePayment> {
  const payment = await db.stripePayment.findFirst({ where: { id: paymentId, intentState: 'created' } });
  if (!payment) throw recordNotFound();
  return payment;
}

/** Takes the payment's row lock for the rest of the transaction and reads it. */
async function lockPayment(tx: Prisma.TransactionClient, paymentId: string): Promise<StripePayment | null> {
  const locked = await tx.$queryRaw<{ id: string }[]>`
    SELECT id FROM stripe_payments WHERE id = ${paymentId} AND intent_state = 'created' FOR UPDATE`;
  if (locked.length === 0) return null;
  return tx.stripePayment.findUniqueOrThrow({ where: { id: paymentId } });
}

/** The SDK client and request options of the Stripe account the payment's PaymentIntent lives in. */
export async function stripeFor(db: PrismaClient, services: Services, payment: StripePayment) {
  const gateway = await db.stripeGateway.findUniqueOrThrow({
    where: { id: payment.paymentGatewayId },
    select: { loginEncrypted: true },
  });
  const client = services.stripe.forKey(services.secretBox.open(gateway.loginEncrypted));
  // The account recorded at creation, not the gateway's current one: the PaymentIntent stays where it was made.
  const requestOptions: Stripe.RequestOptions = payment.connectedAccount ? { stripeAccount: payment.connectedAccount } : {};
  return { client, requestOptions };
}

/** Plain attributes as columns; null resets objects to empty, as the other resources do. */
function storedAttributes(input: UpdateStripePaymentInput): Prisma.StripePaymentUncheckedUpdateInput {
  return {
    ...(input.options !== undefined ? { options: (input.options ?? {}) as object } : {}),
    ...(input.returnUrl !== undefined ? { returnUrl: input.returnUrl } : {}),
    ...(input.reference !== undefined ? { reference: input.reference } : {}),
    ...(input.referenceOrigin !== undefined ? { referenceOrigin: input.referenceOrigin } : {}),
    ...(input.metadata !== undefined ? { metadata: (input.metadata ?? {}) as object } : {}),
  };
}

/**
 * Moves a payment to another order of the same Stripe account while its PaymentIntent has
 * not been paid. The PaymentIntent itself is left alone: mismatched_amounts then tells
 * the client whether an `_update` is due.
 */
async function moveToOrder(
  services: Services,
  payment: StripePayment,
  newOrderId: string,
  attributes: Prisma.StripePaymentUncheckedUpdateInput,
): Promise<void> {
  if (payment.status && neverChangeableAgain.has(payment.status)) throw notMovable(payment.status);
  if (payment.stripeId) {
    const { client, requestOptions } = await stripeFor(services.db, services, payment);
    let intent: Stripe.PaymentIntent;
    try {
      intent = await client.paymentIntents.retrieve(payment.stripeId, {}, requestOptions);
    } catch (error) {
      throw translate(services, error, orderPointer, payment.id, 'PaymentIntent retrieval before order change failed');
    }
    if (!changeableStatuses.has(intent.status)) throw notMovable(intent.status);
  }

  await services.db.$transaction(async (tx) => {
    const locked = await lockPayment(tx, payment.id);
    if (!locked) throw recordNotFound();
    const oldOrderId = locked.orderId;
    if (oldOrderId === newOrderId) {
      await tx.stripePayment.update({ where: { id: locked.id }, data: attributes });
      return;
    }
    // Both orders, in id order, so two moves between the same orders cannot deadlock.
    const orders = new Map<string, Awaited<ReturnType<typeof lockOrder>>>();
    for (const id of [oldOrderId, newOrderId].sort()) orders.set(id, await lockOrder(tx, id));
    const oldOrder = orders.get(oldOrderId);
    const newOrder = orders.get(newOrderId);
    if (!newOrder) throw validationError(orderPointer, `orders ${newOrderId} not found`);
    if (oldOrder && !editableStatuses.has(oldOrder.status)) {
      throw validationError(orderPointer, `the payment's order is ${oldOrder.status}, its payment can no longer move to another order`);
    }
    const { gateway } = await checkOrderPayable(tx, newOrder, orderPointer);
    if (gateway.id !== locked.paymentGatewayId || gateway.connectedAccount !== locked.connectedAccount) {
      throw validationError(orderPointer, "order's payment_method uses another Stripe gateway; a PaymentIntent cannot move between Stripe accounts");
    }

    await tx.stripePayment.update({ where: { id: locked.id }, data: { ...attributes, orderId: newOrder.id } });
    await tx.order.updateMany({
      where: { id: oldOrderId, paymentSourceType: 'stripe_payments', paymentSourceId: locked.id },
      data: { paymentSourceType: null, paymentSourceId: null },
    });
    await tx.order.update({
      where: { id: newOrder.id },
      data: { paymentSourceType: 'stripe_payments', paymentSourceId: locked.id },
    });
  });
}

/**
 * `_update`: sends the order's current total, currency and the payment's options to the
 * PaymentIntent. Three steps so no lock is held while Stripe answers: with the payment
 * and order locked, read the amount and bump the write version (the idempotency key);
 * call Stripe; record what Stripe answered, unless a later update has started since.
 */
async function updateIntent(services: Services, paymentId: string): Promise<void> {
  const { db } = services;
  const prepared = await db.$transaction(async (tx) => {
    const payment = await lockPayment(tx, paymentId);
    if (!payment) throw recordNotFound();
    if (!payment.stripeId) throw validationError(updatePointer, 'the payment has no PaymentIntent to update');
    if (payment.status && neverChangeableAgain.has(payment.status)) throw notUpdatable(payment.status);
    const order = await lockOrder(tx, payment.orderId);
    if (!order) throw recordNotFound();
    const { currencyCode, gateway } = await checkOrderPayable(tx, order, updatePointer);
    if (gateway.id !== payment.paymentGatewayId || gateway.connectedAccount !== payment.connectedAccount) {
      throw validationError(updatePointer, "order's payment_method now uses another Stripe gateway than the PaymentIntent");
    }
    const bumped = await tx.stripePayment.update({
      where: { id: payment.id },
      data: { stripeWriteVersion: { increment: 1 } },
    });
    return { payment: bumped, order, amountCents: order.totalAmountCents, currencyCode };
  });

  const { payment, order } = prepared;
  const stripeId = payment.stripeId!;
  const options = payment.options as StripePaymentOptions;
  const params: Stripe.PaymentIntentUpdateParams = {
    amount: toStripeAmount(prepared.amountCents, prepared.currencyCode),
    currency: prepared.currencyCode.toLowerCase(),
    // Stripe merges metadata: these keys follow the payment to its current order.
    metadata: { order_id: order.id, order_number: String(order.number), stripe_payment_id: payment.id },
    // Only what Stripe accepts on an update; the rest of the options apply at creation only.
    ...(options.customer !== undefined ? { customer: options.customer } : {}),
    ...(options.payment_method !== undefined ? { payment_method: options.payment_method } : {}),
    ...(options.setup_future_usage !== undefined ? { setup_future_usage: options.setup_future_usage } : {}),
    ...(options.description !== undefined ? { description: options.description } : {}),
    ...(payment.receiptEmail ? { receipt_email: payment.receiptEmail } : {}),
  };

  const { client, requestOptions } = await stripeFor(db, services, payment);
  let intent: Stripe.PaymentIntent;
  try {
    intent = await client.paymentIntents.update(stripeId, params, {
      ...requestOptions,
      idempotencyKey: updateIntentIdempotencyKey(payment.id, payment.stripeWriteVersion),
    });
  } catch (error) {
    const current = unexpectedStateStatus(error);
    if (current !== undefined) {
      // Stripe told us the real status: keep it, and say why nothing changed.
      if (current !== 'unknown') await db.stripePayment.updateMany({ where: { id: payment.id }, data: { status: current } });
      throw notUpdatable(current);
    }
    throw translate(services, error, updatePointer, payment.id, 'PaymentIntent update outcome unknown');
  }

  const currencyCode = intent.currency.toUpperCase();
  await db.stripePayment.updateMany({
    where: { id: payment.id, stripeWriteVersion: payment.stripeWriteVersion },
    data: { amountCents: fromStripeAmount(intent.amount, currencyCode), currencyCode, status: intent.status },
  });
}

/**
 * `_refresh`: reads the PaymentIntent back (a fallback for webhooks) and records its
 * status, payment method, latest charge and amount, whatever its status.
 */
async function refreshIntent(services: Services, paymentId: string): Promise<void> {
  const { db } = services;
  const payment = await findPayment(db, paymentId);
  if (!payment.stripeId) throw validationError(refreshPointer, 'the payment has no PaymentIntent to refresh');
  const { client, requestOptions } = await stripeFor(db, services, payment);
  let intent: Stripe.PaymentIntent;
  try {
    intent = await client.paymentIntents.retrieve(payment.stripeId, { expand: ['payment_method', 'latest_charge'] }, requestOptions);
  } catch (error) {
    throw translate(services, error, refreshPointer, payment.id, 'PaymentIntent refresh failed');
  }

  // Stripe's answer, with what it implies for the order; unless a webhook recorded newer news meanwhile.
  await db.$transaction(async (tx) => {
    const locked = await lockPaymentAndOrder(tx, payment.id);
    if (!locked) return;
    if (locked.payment.status === payment.status || intentStatusRank(intent.status) >= intentStatusRank(locked.payment.status)) {
      await applyPaymentIntent(tx, locked, intent);
    }
  });
  // An `_update` that began after our read knows a newer amount than this one.
  const currencyCode = intent.currency.toUpperCase();
  await db.stripePayment.updateMany({
    where: { id: payment.id, stripeWriteVersion: payment.stripeWriteVersion },
    data: { amountCents: fromStripeAmount(intent.amount, currencyCode), currencyCode },
  });
}

/** The PaymentIntent's status when Stripe refused because of it. */
export function unexpectedStateStatus(error: unknown): string | undefined {
  if (!(error instanceof Stripe.errors.StripeError) || error.code !== 'payment_intent_unexpected_state') return undefined;
  return error.payment_intent?.status ?? 'unknown';
}

/** A Stripe SDK error as the client sees it; only its kind is logged, never the raw object (it can hold a client secret). */
export function translate(services: Services, error: unknown, pointer: string, stripePaymentId: string, warning: string): unknown {
  if (!isDefinitiveStripeRejection(error) && error instanceof Stripe.errors.StripeError) {
    services.logger.warn(
      { stripePaymentId, stripeErrorType: error.type, stripeCode: error.code, stripeRequestId: error.requestId },
      warning,
    );
  }
  return stripeErrorToJsonApi(error, pointer) ?? error;
}

function notMovable(status: string) {
  return validationError(
    orderPointer,
    `the PaymentIntent is ${status}; a payment can only move to another order while its PaymentIntent is ${changeableList}`,
  );
}

function notUpdatable(status: string) {
  return validationError(
    updatePointer,
    `the PaymentIntent is ${status}; its amount can only be updated while it is ${changeableList}`,
  );
}

function moneyMoved(status: string) {
  return validationError(
    basePointer,
    `cannot be deleted: its PaymentIntent is ${status}, money has moved or is moving (refund it instead)`,
    { stripe_status: status },
  );
}
