import Stripe from 'stripe';
import { stripePaymentSql } from '../../db/sql/payments.ts';
import { run, type AnyTx, type Statement } from '../../db/sql-transaction.ts';
import { conflict, notFound, type ErrorField } from '../../domain-error.ts';
import type { Order, StripePayment, Transaction } from '../../generated/prisma/client.ts';
import type { Services } from '../../services.ts';
import { unexpectedStateStatus } from '../../stripe/error-mapping.ts';
import { asStripePayment, inFastTransaction, lockOrder, lockPaymentWithOrder, type Locked } from '../locks.ts';
import { intentStatusRank } from '../payment-status.ts';
import { Finished, withReservation } from '../reservation.ts';
import { paymentAccount, type StripeAccount } from '../stripe-account.ts';
import { applyPaymentIntent } from '../stripe-sync.ts';
import {
  isStale,
  recordOutcome,
  touchTransaction,
  transactionIdempotencyKey,
  transactionOfRequest,
  type Outcome,
  type TransactionKind,
} from '../transactions.ts';

/**
 * The order triggers that move money (`_capture`, `_refund`, `_cancel`) on the protocol of
 * reservation.ts: the reservation is a transaction row made under the order's lock (its id
 * is the call's idempotency key), Stripe's answer is recorded under the order's and the
 * payment's locks, and a definitive refusal is recorded as a failed transaction.
 *
 * A second request while a reservation is in flight is refused (409); one after it went
 * stale (its request ended without learning the outcome) retries the same Stripe call,
 * which Stripe answers from its idempotency record instead of moving money again. A retry
 * of the very request that reserved it (same Idempotency-Key) takes it up again, so that a
 * retried partial refund does not refund twice.
 */

export interface ReservedTransaction {
  row: Transaction;
  payment: StripePayment & { stripeId: string };
}

/** What a trigger knows of the request that sent it. */
export interface TriggerRequest {
  /** Digest of the request's Idempotency-Key: its retries find what it did. */
  requestKey?: string | undefined;
}

export interface TransactionCall<Answer> {
  /** The order the trigger was sent to. */
  orderId: string;
  kind: Extract<TransactionKind, 'captures' | 'refunds' | 'voids'>;
  field: ErrorField;
  request: TriggerRequest;
  unknownOutcome: string;
  /** Under the order's lock: check the order's money and reserve a transaction (or finish without Stripe). */
  reserve(tx: AnyTx, order: Order): Promise<ReservedTransaction | Finished<void>>;
  /** The request's own earlier attempt was recorded: finish what it left (e.g. mark the order cancelled). */
  finishOwn?(tx: AnyTx, order: Order): Promise<void>;
  call(reserved: ReservedTransaction, account: StripeAccount, idempotencyKey: string): Promise<Answer>;
  /** Under the order's and the payment's locks. */
  record(tx: AnyTx, locked: Locked, reserved: ReservedTransaction, answer: Answer): Promise<void>;
}

export function withTransactionCall<Answer>(services: Services, steps: TransactionCall<Answer>): Promise<void> {
  return withReservation<ReservedTransaction, Answer, void, AnyTx>(services, {
    // The steps' statements are SQL of their own (src/db/sql-transaction.ts); a superseded payment's release asks for Prisma.
    transactions: inFastTransaction,
    field: steps.field,
    unknownOutcome: steps.unknownOutcome,
    logged: ({ payment, row }) => ({ stripePaymentId: payment.id, transactionId: row.id }),

    async reserve(tx) {
      const order = await lockOrder(tx, steps.orderId);
      if (!order) throw notFound();
      const resumed = await resumeOwnAttempt(tx, order.id, steps.kind, steps.request);
      if (resumed === 'done') {
        await steps.finishOwn?.(tx, order);
        return new Finished(undefined);
      }
      return resumed ?? steps.reserve(tx, order);
    },

    idempotencyKey: ({ row }) => transactionIdempotencyKey(row),

    async call(reserved, idempotencyKey) {
      return steps.call(reserved, await paymentAccount(services, reserved.payment), idempotencyKey);
    },

    async record(tx, reserved, answer) {
      const locked = await lockPaymentWithOrder(tx, reserved.payment.id);
      if (locked) await steps.record(tx, locked, reserved, answer);
    },

    async refused(tx, reserved, error) {
      // The same call (same key, same parameters) is still running at Stripe: its outcome is not ours to record.
      if (error instanceof Stripe.errors.StripeIdempotencyError) {
        return conflict(steps.field, 'this transaction is still being processed by Stripe; retry when it has finished');
      }
      const locked = await lockPaymentWithOrder(tx, reserved.payment.id);
      if (!locked) return undefined;
      const outcome: Outcome = { succeeded: false, errorCode: error.code ?? error.type, errorDetail: error.decline_code ?? null, message: error.message };
      await recordOutcome(tx, reserved.row.id, outcome);
      // Stripe said why: its PaymentIntent is in another state. Record that state (forward only).
      const intent = error.payment_intent as Stripe.PaymentIntent | undefined;
      if (unexpectedStateStatus(error) && intent?.id === reserved.payment.stripeId && intentStatusRank(intent.status) >= intentStatusRank(locked.payment.status)) {
        await applyPaymentIntent(tx, locked, intent);
      }
      return undefined;
    },
  });
}

const stripePayment: Statement = { name: 'stripe_payments.by_id', text: stripePaymentSql };

/** The payment a transaction is made on (the order's lock keeps it there), read whole. */
export async function paymentOfTransaction(tx: AnyTx, paymentId: string): Promise<ReservedTransaction['payment']> {
  const [row] = await run(tx, stripePayment, [paymentId]);
  if (row === undefined) throw new Error(`stripe payment ${paymentId} not found`);
  return asStripePayment<ReservedTransaction['payment']>(row);
}

/** Reuses a stale reservation (a retry), refuses a live one. */
export async function retryOrRefuse(tx: AnyTx, row: Transaction, what: string, field: ErrorField): Promise<Transaction> {
  if (!isStale(row)) throw conflict(field, `${what} of this order is in progress; retry when it has finished`);
  // Marks the retry in flight, so that a third request waits for it in turn.
  return touchTransaction(tx, row.id);
}

/**
 * A retry of a request that reserved a transaction and then failed (a 5xx, e.g. the database
 * connection was cut after Stripe had acted): its own reservation is taken up again (the same
 * Stripe call, answered from Stripe's idempotency record), and once recorded it is done.
 */
async function resumeOwnAttempt(tx: AnyTx, orderId: string, kind: TransactionCall<unknown>['kind'], request: TriggerRequest) {
  const own = await transactionOfRequest(tx, orderId, kind, request.requestKey);
  if (!own || !own.stripePaymentId) return undefined;
  if (own.state === 'recorded') return own.succeeded ? ('done' as const) : undefined;
  // The idempotency layer runs one request per key at a time, so the earlier attempt has ended.
  const row = await touchTransaction(tx, own.id);
  return { row, payment: await paymentOfTransaction(tx, own.stripePaymentId) };
}
