import { Prisma, type PrismaClient } from '../db/client.ts';
import { asFields, lockOrderPaymentStateSql, lockOrderSql } from '../db/sql/payments.ts';
import { lockOrderRows, lockStripePaymentRow, stripePaymentOrderId } from '../db/sql/locks.ts';
import { PrismaNeeded, run, type AnyTx, type Statement } from '../db/sql-transaction.ts';
import { conflict } from '../domain-error.ts';
import type { Order, StripePayment } from '../generated/prisma/client.ts';
import type { Services } from '../services.ts';

/**
 * Every row lock the domain takes, in one order and one strength, so that two writers of
 * the same rows wait for each other instead of deadlocking:
 *
 *   1. the order (several orders: all in one statement, in id order);
 *   2. then the order's stripe payment;
 *   3. transactions are inserted and recorded only while their order is locked, and take
 *      no lock of their own.
 *
 * The strength is FOR NO KEY UPDATE for every row (src/db/sql/locks.ts says why). Found
 * from outside when writers took payment and order in different orders: a webhook holding
 * the payment while a capture held the order and inserted a transaction referencing the
 * payment (the foreign key's KEY SHARE), and 20 parallel creates of a payment for one order,
 * some holding the order and waiting for the reservation row that others held while they
 * waited for the order.
 *
 * Whoever starts from a payment (a webhook, `_refresh`, the reconciliation, a capture's
 * outcome) reads its order id, locks that order, then the payment. A payment moved to
 * another order in between is seen once both are locked, and the transaction starts again
 * (`inTransaction`) rather than lock the other order after the payment.
 *
 * The reconciliation job's claim (claimStripePaymentsToReconcile) locks payments without
 * their orders, with SKIP LOCKED: it never waits, so it cannot close a cycle.
 */

export type Tx = Prisma.TransactionClient;

const orderFields = Object.values(Prisma.OrderScalarFieldEnum);
const paymentFields = Object.values(Prisma.StripePaymentScalarFieldEnum);

/** A stripe_payments row (snake_case columns, as `SELECT p.*` or `RETURNING *` give it) as Prisma's StripePayment. */
export function asStripePayment<T extends StripePayment = StripePayment>(row: Record<string, unknown>): T {
  return asFields<T>(row, paymentFields);
}

/** Locks a created payment and reads it, in one statement; null when there is none. */
async function lockPayment(tx: AnyTx, paymentId: string): Promise<StripePayment | null> {
  const row = await lockStripePaymentRow(tx, paymentId);
  return row === null ? null : asStripePayment(row);
}

const lockOrderStatement: Statement = { name: 'orders.lock', text: lockOrderSql };

/** Locks an order for the rest of the transaction and reads it, in one statement; null when there is none. */
export async function lockOrder(tx: AnyTx, orderId: string): Promise<Order | null> {
  const [row] = await run(tx, lockOrderStatement, [orderId]);
  return row === undefined ? null : asFields<Order>(row, orderFields);
}

const lockOrderPaymentStateStatement: Statement = { name: 'orders.lock_payment_state', text: lockOrderPaymentStateSql };

/** `lockOrder` reading only the order's payment status and amounts; null when there is none. */
export async function lockOrderPaymentState(tx: AnyTx, orderId: string): Promise<Pick<Order, 'paymentStatus' | 'totalAmountCents' | 'currencyCode'> | null> {
  const [row] = await run<Pick<Order, 'paymentStatus' | 'totalAmountCents' | 'currencyCode'>>(tx, lockOrderPaymentStateStatement, [orderId]);
  return row ?? null;
}

export interface Locked {
  payment: StripePayment;
  order: Order;
}

/** Raised inside a transaction when a payment changed orders between reading and locking it. */
class PaymentMoved extends Error {}

/**
 * Locks a created payment's order, then the payment, and reads both; null when the payment
 * (or its order) is gone. Call inside `inTransaction`, which restarts the transaction when
 * the payment moved to another order meanwhile.
 */
export async function lockPaymentWithOrder(tx: AnyTx, paymentId: string): Promise<Locked | null> {
  const orderId = await stripePaymentOrderId(tx, paymentId);
  if (orderId === null) return null;
  const order = await lockOrder(tx, orderId);
  const payment = await lockPayment(tx, paymentId);
  if (!payment) return null;
  if (payment.orderId !== orderId) throw new PaymentMoved();
  if (!order) return null;
  return { payment, order };
}

/**
 * Moving a payment: its current order and `otherOrderId`, in id order, then the payment.
 * Null when the payment is gone; an order that does not exist is absent from `orders`.
 */
export async function lockPaymentWithOrders(
  tx: Tx,
  paymentId: string,
  otherOrderId: string,
): Promise<{ payment: StripePayment; orders: Map<string, Order> } | null> {
  const orderId = await stripePaymentOrderId(tx, paymentId);
  if (orderId === null) return null;
  const lockedIds = await lockOrderRows(tx, [orderId, otherOrderId]);
  const payment = await lockPayment(tx, paymentId);
  if (!payment) return null;
  if (payment.orderId !== orderId) throw new PaymentMoved();
  const rows = await tx.order.findMany({ where: { id: { in: lockedIds } } });
  return { payment, orders: new Map(rows.map((row) => [row.id, row])) };
}

const attemptsWhenMoved = 3;
const movedMeanwhile = () => conflict({ relationship: 'order' }, "the payment's order changed meanwhile; retry");

/**
 * Runs `work` in one transaction, starting it again (at most three times) when a payment
 * it locks moved to another order meanwhile. `work` must only touch the database.
 */
export async function inTransaction<T>(db: PrismaClient, work: (tx: Tx) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await db.$transaction(work);
    } catch (error) {
      if (!(error instanceof PaymentMoved)) throw error;
      if (attempt === attemptsWhenMoved) throw movedMeanwhile();
    }
  }
}

/**
 * `inTransaction` for work written for either kind of transaction (src/db/sql-transaction.ts):
 * a SQL transaction first, and when a step of it needs Prisma (`prismaOf`), the same work
 * again in a Prisma transaction, the first rolled back.
 */
export async function inFastTransaction<T>(services: Pick<Services, 'db' | 'transactions'>, work: (tx: AnyTx) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await services.transactions(work);
    } catch (error) {
      if (error instanceof PrismaNeeded) return inTransaction(services.db, work);
      if (!(error instanceof PaymentMoved)) throw error;
      if (attempt === attemptsWhenMoved) throw movedMeanwhile();
    }
  }
}
