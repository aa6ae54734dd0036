import Stripe from 'stripe';
import { StripeCallFailed, type ErrorField } from '../domain-error.ts';
import type { Services } from '../services.ts';
import { isDefinitiveStripeRejection } from '../stripe/error-mapping.ts';
import type { AnyTx } from '../db/sql-transaction.ts';
import { inTransaction, type Tx } from './locks.ts';

/**
 * The money protocol, written once. Every call that moves money or decides on Stripe's
 * word (creating a PaymentIntent, `_update`, `_capture`, `_refund`, `_cancel`, the cancel
 * of a deleted payment) runs these three steps, so that no lock is held while Stripe
 * answers and nothing moves twice:
 *
 * 1. reserve: in a transaction, under the locks of locks.ts, check what the database says
 *    (what is captured, refunded, in flight) and reserve a row (a payment being created, a
 *    transaction in flight, a write version), or find that nothing is left to do;
 * 2. call Stripe outside any transaction, with an idempotency key derived from the reserved
 *    row's id only, so that a retry of the same reservation is answered from Stripe's
 *    idempotency record instead of acting again;
 * 3. record: in a second transaction, lock again and record Stripe's answer, conditionally,
 *    since a webhook or the reconciliation job may have recorded the same news first.
 *
 * When the call fails, whether Stripe acted decides. A definitive rejection (a declined
 * card, an invalid request, a PaymentIntent in another state) is `refused` in a
 * transaction: the reservation is released or recorded as failed. Anything else (a
 * timeout, a 5xx, a cut connection, a 409 for the same key in flight) leaves the outcome
 * unknown: the reservation is kept, and a retry reuses its key. Either way the caller gets
 * StripeCallFailed naming `field`, unless `refused` gives a reason of its own.
 *
 * Reads that decide (`_authorize`, `_place`, `_refresh`, checks before a move or a delete)
 * are the same protocol without a reservation or a key: `readFromStripe`.
 */

/** What `reserve` returns when there is nothing left to call Stripe for (a retry of a recorded call). */
export class Finished<Result> {
  constructor(readonly result: Result) {}
}

/** Runs the steps' transactions: Prisma's, or `inFastTransaction` for steps written for either kind (src/db/sql-transaction.ts). */
export type Transactions<X extends AnyTx> = <T>(services: Services, work: (tx: X) => Promise<T>) => Promise<T>;

const prismaTransactions: Transactions<Tx> = (services, work) => inTransaction(services.db, work);

/** Without a runner the steps are Prisma's (X is Tx), or written for either kind, which a Prisma transaction is. */
function runnerOf<X extends AnyTx>(transactions: Transactions<X> | undefined): Transactions<X> {
  return transactions ?? (prismaTransactions as unknown as Transactions<X>);
}

export interface Reservation<Reserved, Answer, Result, X extends AnyTx = Tx> {
  /** Where the steps' transactions run; Prisma's when absent. */
  transactions?: Transactions<X>;
  /** The field of the request that asked for the call: where a refusal points. */
  field: ErrorField;
  /** The log line's words when the outcome is unknown. */
  unknownOutcome: string;
  /** What that log line names besides Stripe's error kind (ids, never secrets). */
  logged(reserved: Reserved): Record<string, unknown>;
  /** Step 1, in a transaction. */
  reserve(tx: X): Promise<Reserved | Finished<Result>>;
  /** The call's idempotency key: our reserved row's id, nothing a client chose. */
  idempotencyKey(reserved: Reserved): string;
  /** Step 2, outside any transaction. */
  call(reserved: Reserved, idempotencyKey: string): Promise<Answer>;
  /** Step 3, in a transaction. */
  record(tx: X, reserved: Reserved, answer: Answer): Promise<Result>;
  /** After a definitive rejection, in a transaction: release the reservation or record the failure; may give the reason to answer with. */
  refused?(tx: X, reserved: Reserved, error: Stripe.errors.StripeError): Promise<Error | void>;
}

export async function withReservation<Reserved, Answer, Result, X extends AnyTx = Tx>(
  services: Services,
  steps: Reservation<Reserved, Answer, Result, X>,
): Promise<Result> {
  const inTransaction = runnerOf(steps.transactions);
  const reserved = await inTransaction(services, (tx) => steps.reserve(tx));
  if (reserved instanceof Finished) return reserved.result;
  let answer: Answer;
  try {
    answer = await steps.call(reserved, steps.idempotencyKey(reserved));
  } catch (error) {
    if (error instanceof Stripe.errors.StripeError && isDefinitiveStripeRejection(error)) {
      const reason = steps.refused ? await inTransaction(services, (tx) => steps.refused!(tx, reserved, error)) : undefined;
      throw reason ?? new StripeCallFailed(error, steps.field);
    }
    throw failed(services, error, steps.field, steps.logged(reserved), steps.unknownOutcome);
  }
  return inTransaction(services, (tx) => steps.record(tx, reserved, answer));
}

export interface StripeRead<Answer, Result, X extends AnyTx = Tx> {
  /** Where the record step's transaction runs; Prisma's when absent. */
  transactions?: Transactions<X>;
  field: ErrorField;
  /** The log line's words when Stripe could not be read. */
  failure: string;
  logged: Record<string, unknown>;
  /** Outside any transaction. */
  read(): Promise<Answer>;
  /** In a transaction, under the locks it takes. */
  record(tx: X, answer: Answer): Promise<Result>;
}

/** A read of Stripe that decides what to record: read, then lock and record. */
export async function readFromStripe<Answer, Result, X extends AnyTx = Tx>(services: Services, steps: StripeRead<Answer, Result, X>): Promise<Result> {
  const answer = await askStripe(services, steps, steps.read);
  return runnerOf(steps.transactions)(services, (tx) => steps.record(tx, answer));
}

/** A read of Stripe alone (a check before a reservation), its failure answered as every call's is. */
export async function askStripe<Answer>(services: Services, about: Pick<StripeRead<Answer, unknown>, 'field' | 'failure' | 'logged'>, read: () => Promise<Answer>): Promise<Answer> {
  try {
    return await read();
  } catch (error) {
    throw failed(services, error, about.field, about.logged, about.failure);
  }
}

/** A failed call as the caller sees it; only the kind of Stripe's error is logged, never the object (it can hold a client secret). */
function failed(services: Services, error: unknown, field: ErrorField, logged: Record<string, unknown>, words: string): unknown {
  if (!(error instanceof Stripe.errors.StripeError)) return error;
  if (!isDefinitiveStripeRejection(error)) {
    services.logger.warn({ ...logged, stripeErrorType: error.type, stripeCode: error.code, stripeRequestId: error.requestId }, words);
  }
  return new StripeCallFailed(error, field);
}
