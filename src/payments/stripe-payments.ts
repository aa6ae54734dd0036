import { isDeepStrictEqual } from 'node:util';
import type Stripe from 'stripe';
import { z } from 'zod';
import { changedColumns, recordChange } from '../changes.ts';
import { Prisma, type PrismaClient } from '../db/client.ts';
import { insertRow, rowValues } from '../db/sql/insert.ts';
import { payableOrderSql, prefixedRow, recordCreatedSql, reserveIfPayableSql } from '../db/sql/payments.ts';
import { prismaOf, run, type AnyTx, type Statement } from '../db/sql-transaction.ts';
import { conflict, invalid, notFound, type ErrorField } from '../domain-error.ts';
import type { Order, PaymentMethod, StripeGateway, StripePayment } from '../generated/prisma/client.ts';
import { newId } from '../ids.ts';
import type { Services } from '../services.ts';
import { unexpectedStateStatus } from '../stripe/error-mapping.ts';
import { asStripePayment, inFastTransaction, inTransaction, lockOrder, lockOrderPaymentState, lockPaymentWithOrder, lockPaymentWithOrders, type Tx } from './locks.ts';
import { formatAmount, fromStripeAmount, toStripeAmount } from './money.ts';
import { editableStatuses } from './orders.ts';
import { changeableIntentList, changeableIntentStatuses, moneyMovedStatuses, neverChangeableAgain, resetPaymentStatusAfterPaymentDeleted } from './payment-status.ts';
import { askStripe, Finished, readFromStripe, withReservation } from './reservation.ts';
import { gatewayAccount, paymentAccount } from './stripe-account.ts';
import { releaseSuperseded, releaseSupersededQuietly, supersedeOtherPayments } from './supersede.ts';

/** The columns a retried create compares with a pending reservation to reuse it. */
const comparedColumns = {
  orderId: true,
  paymentGatewayId: true,
  amountCents: true,
  currencyCode: true,
  options: true,
  returnUrl: true,
  receiptEmail: true,
  connectedAccount: true,
  publishableKey: true,
  mode: true,
} as const;

/**
 * Stripe payments, Commerce Layer's payment source: creating one (a PaymentIntent for the
 * order's total), changing its stored attributes or moving it to another order, deleting
 * it (cancelling its PaymentIntent). Its triggers `_update` and `_refresh` are in
 * triggers/update-intent.ts and triggers/refresh-intent.ts.
 */

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
    // Connect on the platform's account: the connected account the funds are for, and the group of the transfers that follow.
    on_behalf_of: z.string().regex(/^acct_\w+$/, 'must be a Stripe account id (acct_...)'),
    transfer_group: z.string().min(1).max(255),
  })
  .partial()
  .strict();

export type StripePaymentOptions = z.infer<typeof stripePaymentOptionsSchema>;

/**
 * The options as PaymentIntent parameters of the pinned API version, which names the list
 * of payment method types `allowed_payment_method_types` (Stripe rejects
 * `payment_method_types` there); clients keep Commerce Layer's name.
 */
function intentOptions(options: StripePaymentOptions): Partial<Stripe.PaymentIntentCreateParams> {
  const { payment_method_types: types, ...rest } = options;
  return { ...rest, ...(types ? { allowed_payment_method_types: types } : {}) };
}

/**
 * The columns of a new payment, as the declaration maps its fields: the order and what the
 * PaymentIntent is created with; any other column (reference, metadata, ...) is stored as it is.
 */
export interface NewStripePayment {
  orderId: string;
  options?: StripePaymentOptions | null;
  returnUrl?: string | null;
  receiptEmail?: string | null;
  [column: string]: unknown;
}

/** The columns of a change: a moved order (`orderId`) and stored attributes. */
export interface StripePaymentChange {
  orderId?: string;
  [column: string]: unknown;
}

const orderField: ErrorField = { relationship: 'order' };
// Rails puts errors about the record as a whole on `base`; Commerce Layer follows it.
const baseField: ErrorField = { base: true };

/** What the resource serializer needs besides the row: the order's amounts, for mismatched_amounts. */
const withOrder = { order: { select: { totalAmountCents: true, currencyCode: true } } } satisfies Prisma.StripePaymentInclude;

export type StripePaymentWithOrder = Prisma.StripePaymentGetPayload<{ include: typeof withOrder }>;

/** The idempotency key of the PaymentIntent create call: derived from our payment id only. */
export function createIntentIdempotencyKey(stripePaymentId: string): string {
  return `stripe_payments/${stripePaymentId}/create`;
}

export function cancelIntentIdempotencyKey(stripePaymentId: string): string {
  return `stripe_payments/${stripePaymentId}/cancel`;
}

/** The PaymentIntent metadata that ties it to our order and payment (Stripe merges metadata on update). */
export function intentMetadata(order: Pick<Order, 'id' | 'number'>, stripePaymentId: string): Record<string, string> {
  return { order_id: order.id, order_number: String(order.number), stripe_payment_id: stripePaymentId };
}

/**
 * What the checks and the Stripe calls use of the order's payment method and gateway, and
 * all that is read of them: every column returned is decoded and copied on each create
 * (their full rows are 39 columns; these are 10).
 */
const methodFields = ['id', 'paymentSourceType', 'disabledAt', 'currencyCode'] as const satisfies readonly (keyof PaymentMethod)[];
const gatewayFields = ['id', 'disabledAt', 'connectedAccount', 'publishableKey', 'mode', 'loginEncrypted'] as const satisfies readonly (keyof StripeGateway)[];
type PayableMethod = Pick<PaymentMethod, (typeof methodFields)[number]>;
type PayableGateway = Pick<StripeGateway, (typeof gatewayFields)[number]>;
const payableOrderStatement: Statement = { name: 'orders.payable', text: payableOrderSql(methodFields, gatewayFields) };
/** What a create reads of the order's pending reservations, to reuse one. */
const pendingFields = ['id', ...Object.keys(comparedColumns)];
const recordCreatedStatement: Statement = { name: 'stripe_payments.record_created', text: recordCreatedSql };
const releaseReservationStatement: Statement = { name: 'stripe_payments.release', text: "DELETE FROM stripe_payments WHERE id = $1 AND intent_state = 'reserved'" };

/** A reservation as the create compares it. */
type PendingReservation = { id: string } & { [column in keyof typeof comparedColumns]: StripePayment[column] };

/**
 * Checks that a locked order can be paid with a stripe payment (when a payment moves to it,
 * before `_update` sends its amount; a create reads the same row as it reserves) and returns
 * its currency and Stripe gateway. Errors name `field`, the part of the request that named the order.
 */
export async function checkOrderPayable(tx: AnyTx, order: Order, field: ErrorField) {
  checkOrderEditable(order, field);
  // Line items, payment method and gateway in one statement, after the lock (see lockOrderSql).
  const [payable] = await run(tx, payableOrderStatement, [order.id, order.paymentMethodId]);
  return checkPayable(order, payable, field);
}

function checkOrderEditable(order: Order, field: ErrorField): void {
  if (!editableStatuses.has(order.status)) {
    throw invalid(field, `order is ${order.status}, a payment can only be created for a draft or pending order`);
  }
}

/** The checks of `checkOrderPayable` on the row of `payableOrderSql` read for `order`. */
function checkPayable(order: Order, payable: Record<string, unknown> | undefined, field: ErrorField) {
  if (!payable?.hasLineItems) throw invalid(field, 'order has no line items');
  if (order.totalAmountCents <= 0) throw invalid(field, 'order total must be greater than zero');
  const currencyCode = order.currencyCode;
  if (!currencyCode) throw invalid(field, 'order has no currency_code');
  if (!order.paymentMethodId) throw invalid(field, 'order has no payment_method');
  const paymentMethod = prefixedRow<PayableMethod>(payable, 'm.');
  if (!paymentMethod || paymentMethod.paymentSourceType !== 'stripe_payments') {
    throw invalid(field, "order's payment_method does not accept stripe_payments");
  }
  if (paymentMethod.disabledAt) throw invalid(field, "order's payment_method is disabled");
  if (paymentMethod.currencyCode !== currencyCode) {
    throw invalid(field, `order's payment_method is for ${paymentMethod.currencyCode}, the order is in ${currencyCode}`);
  }
  const gateway = prefixedRow<PayableGateway>(payable, 'g.');
  if (!gateway || gateway.disabledAt) throw invalid(field, "order's payment_method has no active stripe gateway");
  return { currencyCode, paymentMethod, gateway, pending: (payable.pending as PendingReservation[] | null | undefined) ?? [] };
}

/**
 * A create's check and reservation (`reserveIfPayableSql`) for `row`'s shape: one statement
 * per set of columns, as `insertRow` names its own.
 */
const reserveStatements = new Map<string, Statement>();
function reserveIfPayable(row: Record<string, unknown>): { statement: Statement; values: unknown[] } {
  // $1 the order and $2 its payment method come first.
  const insert = rowValues(row, 3);
  let statement = reserveStatements.get(insert.key);
  if (!statement) {
    const placeholder = (field: string) => insert.placeholders[insert.fields.indexOf(field)] as string;
    const text = reserveIfPayableSql(methodFields, gatewayFields, pendingFields, insert, { amountCents: placeholder('amountCents'), currencyCode: placeholder('currencyCode') });
    statement = { name: `stripe_payments.reserve.${reserveStatements.size}`, text };
    reserveStatements.set(insert.key, statement);
  }
  return { statement, values: insert.values };
}

/** What a create returns: with `shownRow`, the payment as the API reads it, returned by the statement that recorded it. */
export interface CreatedStripePayment {
  id: string;
  stripeId: string | null;
  shownRow?: StripePaymentWithOrder;
}

/**
 * Creates a stripe payment for an order: a PaymentIntent for the order's total at the
 * Stripe account of the order's payment method, and the order's payment source. The
 * reservation is a payment row hidden from the API that fixes the amount, currency and
 * options sent to Stripe; a retry of the same request (after a timeout, a crash or Stripe
 * being down) reuses it, so Stripe answers with the PaymentIntent it already made.
 */
export async function createStripePayment(services: Services, columns: NewStripePayment): Promise<CreatedStripePayment> {
  const { orderId, options, returnUrl, receiptEmail, stripeId, clientSecret, ...annotations } = columns;
  if (typeof stripeId === 'string') return attachStripePayment(services, { ...columns, stripeId });
  if (clientSecret !== undefined && clientSecret !== null) throw invalid(clientSecretField, 'is only taken with the stripe_id of the PaymentIntent it belongs to');
  let superseded: string[] = [];
  const created = await withReservation(services, {
    // Every statement of the create is SQL of its own; superseding another payment asks for Prisma.
    transactions: inFastTransaction,
    field: orderField,
    unknownOutcome: 'PaymentIntent creation outcome unknown; reservation kept for retry',
    logged: ({ row }) => ({ stripePaymentId: row.id }),

    async reserve(tx) {
      const order = await lockOrder(tx, orderId);
      if (!order) throw invalid(orderField, `orders ${orderId} not found`);
      checkOrderEditable(order, orderField);
      const requested = {
        orderId: order.id,
        amountCents: order.totalAmountCents,
        currencyCode: order.currencyCode,
        options: options ?? {},
        returnUrl: returnUrl ?? null,
        receiptEmail: receiptEmail ?? order.customerEmail ?? null,
      };
      // The usual create, an order with no reservation, is checked and reserved in one statement.
      let id = newId();
      const now = new Date();
      const reservation = { id, ...requested, ...annotations, intentState: 'reserved', createdAt: now, updatedAt: now };
      const { statement, values } = reserveIfPayable(reservation);
      const [payable] = await run(tx, statement, [order.id, order.paymentMethodId, ...values]);
      const { currencyCode, gateway, pending } = checkPayable(order, payable, orderField);
      if (options?.on_behalf_of !== undefined && gateway.connectedAccount) {
        // A direct charge is already the connected account's own: Stripe takes on_behalf_of only for charges on the platform.
        throw invalid({ attribute: 'options' }, "on_behalf_of is for charges on the platform's account; this gateway charges on its connected_account");
      }
      const wanted = {
        ...requested,
        currencyCode,
        paymentGatewayId: gateway.id,
        connectedAccount: gateway.connectedAccount,
        publishableKey: gateway.publishableKey,
        mode: gateway.mode,
      };
      // Nothing read back of the row written: the call needs what `wanted` holds.
      if (!payable?.reserved) {
        // The order holds reservations: the same request's is reused (a retry), or one is made beside the others.
        const sameRequest = pending.find((row) => (Object.keys(wanted) as (keyof typeof wanted)[]).every((key) => isDeepStrictEqual(row[key], wanted[key])));
        if (sameRequest) {
          id = sameRequest.id;
          if (Object.keys(annotations).length > 0) await prismaOf(tx).stripePayment.update({ where: { id }, data: annotations, select: { id: true } });
        } else {
          const insert = insertRow('stripe_payments', { ...reservation, ...wanted });
          await run(tx, insert.statement, insert.values);
        }
      }
      const row = { id, ...wanted };
      return { row, order, gateway };
    },

    idempotencyKey: ({ row }) => createIntentIdempotencyKey(row.id),

    call({ row, order, gateway }, idempotencyKey) {
      const params: Stripe.PaymentIntentCreateParams = {
        amount: toStripeAmount(row.amountCents, row.currencyCode),
        currency: row.currencyCode.toLowerCase(),
        // Authorise now, capture when the order is approved: Commerce Layer's flow.
        capture_method: 'manual',
        metadata: intentMetadata(order, row.id),
        ...intentOptions(row.options as StripePaymentOptions),
        ...(row.receiptEmail ? { receipt_email: row.receiptEmail } : {}),
      };
      const { client, requestOptions } = gatewayAccount(services, gateway, row.connectedAccount);
      return client.paymentIntents.create(params, { idempotencyKey, ...requestOptions });
    },

    async record(tx, { row, order }, intent) {
      const locked = await lockOrderPaymentState(tx, order.id);
      // The order is locked: its payment status is as read, so whether the new source resets it is known here.
      const resetsStatus = authorizationStatuses.includes((locked ?? order).paymentStatus);
      const paymentMethod = typeof intent.payment_method === 'string' ? JSON.stringify({ id: intent.payment_method }) : null;
      const onBehalfOf = typeof intent.on_behalf_of === 'string' ? intent.on_behalf_of : (intent.on_behalf_of?.id ?? null);
      const [state] = await run<{ intentState: string | null; recorded: number; othersLive: boolean } & Record<string, unknown>>(tx, recordCreatedStatement, [
        row.id,
        order.id,
        intent.id,
        intent.client_secret,
        intent.status,
        paymentMethod,
        onBehalfOf,
        intent.transfer_group ?? null,
        new Date().toISOString(),
        resetsStatus,
      ]);
      // Recorded already by another request that shared the reservation (the statement then
      // changed nothing): it made the payment the order's source then, and a payment created
      // since may have superseded it; making it the source again would supersede the newer
      // one and leave no live PaymentIntent.
      if (state?.intentState === 'created') return { id: row.id, stripeId: intent.id };
      if (!state || state.recorded === 0) throw new Error(`the reservation of stripe payment ${row.id} is gone`);
      await recordChange(tx, { type: 'stripe_payments', id: row.id, event: 'create', changes: changedColumns(undefined, { ...columns, stripeId: intent.id, clientSecret: intent.client_secret }) });
      // Nothing to supersede is known from the same statement: no read of the other payments then.
      if (state.othersLive) superseded = await supersedeOtherPayments(prismaOf(tx), order.id, row.id);
      if (resetsStatus) await recordChange(tx, { type: 'orders', id: order.id, event: 'update', changes: { paymentStatus: { before: 'authorized', after: 'unpaid' } } });
      // As the store reads it (the model's fields and the order's amounts): the order is locked, its amounts as read.
      const lockedOrder = locked ?? order;
      const shownRow = { ...asStripePayment(state), order: { totalAmountCents: lockedOrder.totalAmountCents, currencyCode: lockedOrder.currencyCode } };
      return { id: row.id, stripeId: intent.id, shownRow };
    },

    // Stripe made nothing: the reservation goes, and the order stays as it was.
    async refused(tx, { row, order }) {
      await lockOrder(tx, order.id);
      await run(tx, releaseReservationStatement, [row.id]);
    },
  });
  // After the commit: a failure leaves the release due, for a webhook or the reconciliation job.
  await releaseSupersededQuietly(services, superseded);
  return created;
}

/** An order's payment statuses that come from its payment's authorization: a new source resets them to unpaid. */
const authorizationStatuses = ['authorized', 'voided'];

/**
 * With the order locked, once `paymentId` is its payment source: the other payments are
 * superseded (their release is due), and an authorization they gave the order is no
 * longer the order's.
 */
async function replaceSource(tx: Tx, orderId: string, paymentId: string): Promise<string[]> {
  const superseded = await supersedeOtherPayments(tx, orderId, paymentId);
  const { count } = await tx.order.updateMany({ where: { id: orderId, paymentStatus: { in: authorizationStatuses } }, data: { paymentStatus: 'unpaid', paymentUpdatedAt: new Date() } });
  if (count > 0) await recordChange(tx, { type: 'orders', id: orderId, event: 'update', changes: { paymentStatus: { before: 'authorized', after: 'unpaid' } } });
  return superseded;
}

const stripeIdField: ErrorField = { attribute: 'stripe_id' };
const clientSecretField: ErrorField = { attribute: 'client_secret' };

/**
 * Commerce Layer's "created if null": a stripe payment for a PaymentIntent made elsewhere
 * (the storefront's own backend). Nothing is created at Stripe; the PaymentIntent is read
 * on the account of the order's gateway, and attached only when it exists there, is not
 * another payment's (here, or named by another payment's metadata), is not canceled, and is
 * for the order's total in its currency. The checks run again under the order's lock with
 * what Stripe said; the unique stripe_id settles two attaches of one PaymentIntent at once.
 */
async function attachStripePayment(services: Services, columns: NewStripePayment & { stripeId: string }): Promise<StripePaymentWithOrder> {
  const { orderId, options, returnUrl, receiptEmail, stripeId, clientSecret, ...annotations } = columns;
  const { gateway } = await inTransaction(services.db, async (tx) => {
    const order = await lockOrder(tx, orderId);
    if (!order) throw invalid(orderField, `orders ${orderId} not found`);
    return checkOrderPayable(tx, order, orderField);
  });
  let superseded: string[] = [];
  try {
    const created = await readFromStripe(services, {
      field: stripeIdField,
      failure: 'PaymentIntent retrieval before it is attached failed',
      logged: { orderId, paymentIntentId: stripeId },
      read: () => {
        const { client, requestOptions } = gatewayAccount(services, gateway, gateway.connectedAccount);
        return client.paymentIntents.retrieve(stripeId, {}, requestOptions);
      },
      async record(tx, intent: Stripe.PaymentIntent) {
        const order = await lockOrder(tx, orderId);
        if (!order) throw invalid(orderField, `orders ${orderId} not found`);
        const payable = await checkOrderPayable(tx, order, orderField);
        if (payable.gateway.id !== gateway.id || payable.gateway.connectedAccount !== gateway.connectedAccount) {
          throw conflict(orderField, "the order's payment method changed while the PaymentIntent was being checked; retry");
        }
        if (clientSecret !== undefined && clientSecret !== null && clientSecret !== intent.client_secret) {
          throw invalid(clientSecretField, `is not the client secret of ${stripeId}`);
        }
        const attached = await tx.stripePayment.findUnique({ where: { stripeId }, select: { id: true } });
        const named = intent.metadata?.stripe_payment_id;
        if (attached || named) throw invalid(stripeIdField, `${stripeId} is already attached to stripe payment ${attached?.id ?? named}`);
        if (intent.status === 'canceled') throw invalid(stripeIdField, `${stripeId} is canceled`, { stripe_status: intent.status });
        const currencyCode = intent.currency.toUpperCase();
        const amountCents = fromStripeAmount(intent.amount, currencyCode);
        if (currencyCode !== payable.currencyCode || amountCents !== order.totalAmountCents) {
          throw invalid(
            stripeIdField,
            `${stripeId} is for ${formatAmount(amountCents, currencyCode)}, the order total is ${formatAmount(order.totalAmountCents, payable.currencyCode)}`,
          );
        }
        const row = {
          id: newId(),
          orderId: order.id,
          paymentGatewayId: gateway.id,
          amountCents,
          currencyCode,
          options: options ?? {},
          returnUrl: returnUrl ?? null,
          receiptEmail: receiptEmail ?? null,
          connectedAccount: gateway.connectedAccount,
          publishableKey: gateway.publishableKey,
          mode: gateway.mode,
          intentState: 'created',
          stripeId,
          clientSecret: intent.client_secret,
          status: intent.status,
          onBehalfOf: typeof intent.on_behalf_of === 'string' ? intent.on_behalf_of : (intent.on_behalf_of?.id ?? null),
          transferGroup: intent.transfer_group ?? null,
          ...(typeof intent.payment_method === 'string' ? { paymentMethod: { id: intent.payment_method } } : {}),
          ...annotations,
        };
        const created = await tx.stripePayment.create({ data: row, include: withOrder });
        await tx.order.update({ where: { id: order.id }, data: { paymentSourceType: 'stripe_payments', paymentSourceId: created.id } });
        await recordChange(tx, { type: 'stripe_payments', id: created.id, event: 'create', changes: changedColumns(undefined, { ...columns, clientSecret: intent.client_secret }) });
        // An attached PaymentIntent replaces the order's source like a created one: at most one live per order.
        superseded = await replaceSource(tx, order.id, created.id);
        return created;
      },
    });
    await releaseSupersededQuietly(services, superseded);
    return created;
  } catch (error) {
    // The same PaymentIntent attached by a concurrent request that committed first.
    if ((error as { code?: unknown }).code === 'P2002') throw invalid(stripeIdField, `${stripeId} is already attached to another stripe payment`);
    throw error;
  }
}

/** Only created payments exist for the API; a reservation is a PaymentIntent still being made. */
export async function findPayment(db: PrismaClient, paymentId: string): Promise<StripePayment> {
  const payment = await db.stripePayment.findFirst({ where: { id: paymentId, intentState: 'created' } });
  if (!payment) throw notFound();
  return payment;
}

/**
 * A change to a stripe payment's stored attributes, and to its order: a payment whose
 * PaymentIntent has not been paid moves to another order of the same Stripe account. The
 * PaymentIntent itself is left alone: mismatched_amounts then tells the client whether an
 * `_update` is due.
 */
export async function updateStripePayment(services: Services, { id }: Pick<StripePayment, 'id'>, columns: StripePaymentChange): Promise<StripePaymentWithOrder> {
  const { db } = services;
  const { orderId, ...attributes } = columns;
  const payment = await findPayment(db, id);
  if (orderId !== undefined && orderId !== payment.orderId) {
    await moveToOrder(services, payment, orderId, attributes);
  } else if (Object.keys(attributes).length > 0) {
    await inTransaction(db, async (tx) => {
      const locked = await lockPaymentWithOrder(tx, payment.id);
      if (!locked) throw notFound();
      await tx.stripePayment.update({ where: { id: payment.id }, data: attributes });
      await recordChange(tx, { type: 'stripe_payments', id: payment.id, event: 'update', changes: changedColumns(locked.payment, attributes) });
    });
  }
  return db.stripePayment.findUniqueOrThrow({ where: { id: payment.id }, include: withOrder });
}

async function moveToOrder(services: Services, payment: StripePayment, newOrderId: string, attributes: Record<string, unknown>): Promise<void> {
  if (payment.status && neverChangeableAgain.has(payment.status)) throw notMovable(payment.status);
  if (payment.supersededAt) throw invalid(orderField, 'the payment was replaced by another payment of its order; it can no longer move to another order');
  let superseded: string[] = [];

  const move = async (tx: Tx) => {
    const locked = await lockPaymentWithOrders(tx, payment.id, newOrderId);
    if (!locked) throw notFound();
    const oldOrderId = locked.payment.orderId;
    if (oldOrderId === newOrderId) {
      await tx.stripePayment.update({ where: { id: payment.id }, data: attributes });
      return;
    }
    const oldOrder = locked.orders.get(oldOrderId);
    const newOrder = locked.orders.get(newOrderId);
    if (!newOrder) throw invalid(orderField, `orders ${newOrderId} not found`);
    if (oldOrder && !editableStatuses.has(oldOrder.status)) {
      throw invalid(orderField, `the payment's order is ${oldOrder.status}, its payment can no longer move to another order`);
    }
    const { gateway } = await checkOrderPayable(tx, newOrder, orderField);
    if (gateway.id !== locked.payment.paymentGatewayId || gateway.connectedAccount !== locked.payment.connectedAccount) {
      throw invalid(orderField, "order's payment_method uses another Stripe gateway; a PaymentIntent cannot move between Stripe accounts");
    }
    await tx.stripePayment.update({ where: { id: payment.id }, data: { ...attributes, orderId: newOrder.id } });
    await tx.order.updateMany({
      where: { id: oldOrderId, paymentSourceType: 'stripe_payments', paymentSourceId: payment.id },
      data: { paymentSourceType: null, paymentSourceId: null },
    });
    await tx.order.update({ where: { id: newOrder.id }, data: { paymentSourceType: 'stripe_payments', paymentSourceId: payment.id } });
    await recordChange(tx, { type: 'stripe_payments', id: payment.id, event: 'update', changes: changedColumns(locked.payment, { ...attributes, orderId: newOrder.id }) });
    superseded = await replaceSource(tx, newOrder.id, payment.id);
  };

  if (!payment.stripeId) {
    await inTransaction(services.db, move);
    return releaseSupersededQuietly(services, superseded);
  }
  const stripeId = payment.stripeId;
  // Webhooks may lag: the PaymentIntent as Stripe has it now decides.
  await readFromStripe(services, {
    field: orderField,
    failure: 'PaymentIntent retrieval before order change failed',
    logged: { stripePaymentId: payment.id },
    read: async () => {
      const { client, requestOptions } = await paymentAccount(services, payment);
      return client.paymentIntents.retrieve(stripeId, {}, requestOptions);
    },
    async record(tx, intent) {
      if (!changeableIntentStatuses.has(intent.status)) throw notMovable(intent.status);
      await move(tx);
    },
  });
  await releaseSupersededQuietly(services, superseded);
}

/**
 * Deletes a stripe payment whose money has not moved. Its PaymentIntent is cancelled at
 * Stripe first, so that no authorisation outlives the payment; the reservation is taking
 * the payment off its order (under the order's lock), so that an order being placed at the
 * same time either is placed first (and the delete is refused) or finds no payment source.
 * When Stripe cannot be reached before the cancel, nothing changes; when the cancel's
 * outcome is unknown, the payment stays off its order until a retry deletes it.
 */
export async function deleteStripePayment(services: Services, { id }: Pick<StripePayment, 'id'>): Promise<void> {
  const { db, logger } = services;
  const payment = await findPayment(db, id);
  if (payment.supersededAt) return deleteSuperseded(services, payment);
  const order = await db.order.findUnique({ where: { id: payment.orderId }, select: { status: true } });
  if (order && !editableStatuses.has(order.status)) throw orderNotEditable(order.status);
  // succeeded is final: no need to ask Stripe.
  if (payment.status === 'succeeded') throw moneyMoved(payment.status);

  let cancel = false;
  if (payment.stripeId && payment.status !== 'canceled') {
    const stripeId = payment.stripeId;
    // Webhooks may lag: decide on Stripe's current status, not the stored one.
    const { status } = await askStripe(services, { field: baseField, failure: 'PaymentIntent retrieval before delete failed', logged: { stripePaymentId: payment.id } }, async () => {
      const { client, requestOptions } = await paymentAccount(services, payment);
      return client.paymentIntents.retrieve(stripeId, {}, requestOptions);
    });
    if (moneyMovedStatuses.has(status)) throw moneyMoved(status);
    cancel = status !== 'canceled';
  } else if (!payment.stripeId) {
    logger.warn({ stripePaymentId: payment.id }, 'created stripe payment without a PaymentIntent id; deleting without Stripe');
  }

  const remove = async (tx: Tx) => {
    const locked = await lockPaymentWithOrder(tx, payment.id);
    // Deleted concurrently: the outcome the caller asked for.
    if (!locked) return;
    await tx.stripePayment.delete({ where: { id: payment.id } });
    await tx.order.updateMany({
      where: { id: locked.order.id, paymentSourceType: 'stripe_payments', paymentSourceId: payment.id },
      data: { paymentSourceType: null, paymentSourceId: null },
    });
    await recordChange(tx, { type: 'stripe_payments', id: payment.id, event: 'destroy' });
    await resetPaymentStatusAfterPaymentDeleted(tx, locked.order.id);
  };

  await withReservation(services, {
    field: baseField,
    unknownOutcome: 'PaymentIntent cancellation outcome unknown; the payment stays off its order until a retry',
    logged: () => ({ stripePaymentId: payment.id }),

    async reserve(tx) {
      const locked = await lockPaymentWithOrder(tx, payment.id);
      if (!locked) return new Finished(undefined);
      if (!editableStatuses.has(locked.order.status)) throw orderNotEditable(locked.order.status);
      if (!cancel) {
        await remove(tx);
        return new Finished(undefined);
      }
      await tx.order.updateMany({
        where: { id: locked.order.id, paymentSourceType: 'stripe_payments', paymentSourceId: payment.id },
        data: { paymentSourceType: null, paymentSourceId: null },
      });
      return locked.payment as StripePayment & { stripeId: string };
    },

    idempotencyKey: (reserved) => cancelIntentIdempotencyKey(reserved.id),

    async call(reserved, idempotencyKey) {
      const { client, requestOptions } = await paymentAccount(services, reserved);
      try {
        await client.paymentIntents.cancel(reserved.stripeId, {}, { ...requestOptions, idempotencyKey });
      } catch (error) {
        // Canceled meanwhile (another delete, the dashboard): what we wanted.
        if (unexpectedStateStatus(error) !== 'canceled') throw error;
      }
    },

    record: (tx) => remove(tx),

    // Not cancelled (its money moved meanwhile): the payment goes back to its order, unless the order has another by now.
    async refused(tx, reserved, error) {
      const locked = await lockPaymentWithOrder(tx, reserved.id);
      if (locked) {
        await tx.order.updateMany({
          where: { id: locked.order.id, paymentSourceId: null },
          data: { paymentSourceType: 'stripe_payments', paymentSourceId: reserved.id },
        });
      }
      const current = unexpectedStateStatus(error);
      return current !== undefined && moneyMovedStatuses.has(current) ? moneyMoved(current) : undefined;
    },
  });
}

/**
 * A superseded payment is not its order's: deleting it is how an integration releases what
 * its PaymentIntent still holds (cancelled, voided or refunded, recorded as for an automatic
 * release), whatever the order's status; the payment goes once Stripe holds nothing for it.
 * Its void or refund stays with the order, naming the PaymentIntent.
 */
async function deleteSuperseded(services: Services, payment: StripePayment): Promise<void> {
  const outcome = await releaseSuperseded(services, payment.id);
  if (outcome === 'pending') {
    throw invalid(baseField, 'cannot be deleted yet: its PaymentIntent is still being released at Stripe; retry later');
  }
  await inTransaction(services.db, async (tx) => {
    const locked = await lockPaymentWithOrder(tx, payment.id);
    if (!locked || !locked.payment.releasedAt) return;
    await tx.stripePayment.delete({ where: { id: payment.id } });
    await recordChange(tx, { type: 'stripe_payments', id: payment.id, event: 'destroy' });
  });
}

function notMovable(status: string) {
  return invalid(orderField, `the PaymentIntent is ${status}; a payment can only move to another order while its PaymentIntent is ${changeableIntentList}`);
}

function orderNotEditable(status: string) {
  return invalid(baseField, `cannot be deleted: its order is ${status}, only a draft or pending order's payment can be deleted`);
}

function moneyMoved(status: string) {
  return invalid(baseField, `cannot be deleted: its PaymentIntent is ${status}, money has moved or is moving (refund it instead)`, { stripe_status: status });
}
