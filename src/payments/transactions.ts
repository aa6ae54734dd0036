import type Stripe from 'stripe';
import { Prisma } from '../db/client.ts';
import type { Order, StripePayment, Transaction } from '../generated/prisma/client.ts';
import { changedColumns, recordChange } from '../changes.ts';
import {
  asFields,
  gatewayRecordedSql,
  insertTransactionSql,
  ownTransactionSql,
  orderTransactionsSql,
  recordOutcomeSql,
  touchTransactionSql,
  transactionOfRequestSql,
} from '../db/sql/payments.ts';
import { run, type AnyTx, type Statement } from '../db/sql-transaction.ts';
import { newId } from '../ids.ts';

const transactionFields = Object.values(Prisma.TransactionScalarFieldEnum);
const asTransaction = (row: Record<string, unknown>) => asFields<Transaction>(row, transactionFields);

const insertTransaction: Statement = { name: 'transactions.insert', text: insertTransactionSql };
const transactionOfRequestStatement: Statement = { name: 'transactions.of_request', text: transactionOfRequestSql };
const recordOutcomeStatement: Statement = { name: 'transactions.record_outcome', text: recordOutcomeSql };
const touchTransactionStatement: Statement = { name: 'transactions.touch', text: touchTransactionSql };
const orderTransactions: Statement = { name: 'transactions.of_order', text: orderTransactionsSql };
const ownTransaction: Statement = { name: 'transactions.own', text: ownTransactionSql };
const gatewayRecorded: Statement = { name: 'transactions.gateway_recorded', text: gatewayRecordedSql };

export type TransactionKind = 'authorizations' | 'captures' | 'refunds' | 'voids';

const letters: Record<TransactionKind, string> = { authorizations: 'A', captures: 'C', refunds: 'R', voids: 'V' };

/**
 * A reservation older than this is no longer in flight: the request that made it has
 * ended (the SDK gives up after its timeout and retries), so a new request may retry its
 * Stripe call with the same idempotency key. Younger ones belong to a request still running.
 */
export const reservationStaleAfterMs = 60_000;

export function isStale(transaction: Pick<Transaction, 'updatedAt'>, now = Date.now()): boolean {
  return now - transaction.updatedAt.getTime() >= reservationStaleAfterMs;
}

/** The idempotency key of the Stripe call a transaction is made by: derived from our id only. */
export function transactionIdempotencyKey(transaction: Pick<Transaction, 'kind' | 'id'>): string {
  return `${transaction.kind}/${transaction.id}`;
}

/**
 * "<order number>/<A|C|R|V>/<n>": readable, and unique per order since numbering runs under
 * the order lock. The prefix; the insert counts n (insertTransactionSql).
 */
function numberPrefix(order: Pick<Order, 'number'>, kind: TransactionKind): string {
  return `${order.number}/${letters[kind]}/`;
}

/** What Stripe says of the charge behind a transaction: Commerce Layer's transaction attributes a gateway fills. */
export interface ChargeDetails {
  paymentMethodType: string | null;
  cvvCode: string | null;
  cvvMessage: string | null;
  avsCode: string | null;
  avsMessage: string | null;
  fraudReview: string | null;
}

/**
 * The details of a PaymentIntent's latest charge (expanded, or the expanded payment method
 * alone): the method's type, the card's CVC check (cvv) and address checks (avs: the postal
 * code's, the street line's in the message), and Radar's risk level as the fraud review.
 */
export function chargeDetails(intent: Pick<Stripe.PaymentIntent, 'latest_charge' | 'payment_method'>): ChargeDetails {
  const charge = typeof intent.latest_charge === 'object' ? intent.latest_charge : null;
  const method = typeof intent.payment_method === 'object' ? intent.payment_method : null;
  const checks = charge?.payment_method_details?.card?.checks ?? method?.card?.checks ?? null;
  const check = (value: string | null | undefined) => value ?? null;
  return {
    paymentMethodType: charge?.payment_method_details?.type ?? method?.type ?? null,
    cvvCode: check(checks?.cvc_check),
    cvvMessage: checks?.cvc_check ? `CVC check: ${checks.cvc_check}` : null,
    avsCode: check(checks?.address_postal_code_check),
    avsMessage:
      checks && (checks.address_postal_code_check || checks.address_line1_check)
        ? `postal code check: ${checks.address_postal_code_check ?? 'not sent'}, address line 1 check: ${checks.address_line1_check ?? 'not sent'}`
        : null,
    fraudReview: charge?.outcome?.risk_level ?? null,
  };
}

export interface NewTransaction {
  kind: TransactionKind;
  order: Pick<Order, 'id' | 'number'>;
  payment: Pick<StripePayment, 'id' | 'stripeId' | 'currencyCode' | 'mode'>;
  amountCents: number;
  referenceId?: string | null;
  /** Absent: a reservation, recorded once Stripe answers. */
  recorded?: { succeeded: boolean; gatewayTransactionId?: string | null; message?: string | null };
  /** The digest of the Idempotency-Key of the request that asked for it, to find it again when that request is retried. */
  requestKey?: string;
  /** Absent: those of the transaction it references (a capture's are its authorization's: one charge). */
  details?: ChargeDetails;
}

/** Where a transaction keeps the digest of its request's Idempotency-Key. */
export const requestKeyField = 'idempotency_key_digest';

/** The transaction of `kind` an earlier attempt of the same request (same Idempotency-Key) made for the order, if any. */
export async function transactionOfRequest(tx: AnyTx, orderId: string, kind: TransactionKind, requestKey: string | undefined): Promise<Transaction | null> {
  if (requestKey === undefined) return null;
  const [row] = await run(tx, transactionOfRequestStatement, [orderId, kind, requestKeyField, requestKey]);
  return row === undefined ? null : asTransaction(row);
}

/** Whether `transactionId` (named by a Stripe object's metadata) is the order's transaction of `kind`. */
export async function isTransactionOf(tx: AnyTx, transactionId: string, kind: TransactionKind, orderId: string): Promise<boolean> {
  return (await run(tx, ownTransaction, [transactionId, kind, orderId])).length > 0;
}

/** Whether Stripe's object `gatewayTransactionId` is recorded as a transaction of `kind` already. */
export async function isRecordedAs(tx: AnyTx, kind: TransactionKind, gatewayTransactionId: string): Promise<boolean> {
  const [row] = await run<{ recorded: boolean }>(tx, gatewayRecorded, [kind, gatewayTransactionId]);
  return row?.recorded === true;
}

/** Marks a reservation in flight again (a retry takes it up), and returns it. */
export async function touchTransaction(tx: AnyTx, transactionId: string): Promise<Transaction> {
  const [row] = await run(tx, touchTransactionStatement, [transactionId, new Date().toISOString()]);
  if (row === undefined) throw new Error(`transaction ${transactionId} not found`);
  return asTransaction(row);
}

/** Creates a transaction; call with the order locked. */
export async function createTransaction(tx: AnyTx, input: NewTransaction): Promise<Transaction> {
  const { recorded, details } = input;
  const referenceId = input.referenceId ?? null;
  const [row] = await run(tx, insertTransaction, [
    newId(),
    input.kind,
    input.order.id,
    input.payment.id,
    referenceId,
    numberPrefix(input.order, input.kind),
    recorded ? 'recorded' : 'reserved',
    input.payment.currencyCode,
    input.amountCents,
    recorded?.succeeded ?? false,
    recorded?.message ?? (recorded?.succeeded ? 'Success!' : null),
    input.payment.stripeId,
    recorded?.gatewayTransactionId ?? null,
    input.payment.mode,
    details?.paymentMethodType ?? null,
    details?.cvvCode ?? null,
    details?.cvvMessage ?? null,
    details?.avsCode ?? null,
    details?.avsMessage ?? null,
    details?.fraudReview ?? null,
    // Without details of its own, those of the transaction it references (if any).
    details ? null : referenceId,
    input.requestKey ? JSON.stringify({ [requestKeyField]: input.requestKey }) : null,
    new Date().toISOString(),
  ]);
  const created = asTransaction(row!);
  const { id: _id, metadata: _metadata, createdAt: _createdAt, updatedAt: _updatedAt, ...shown } = created;
  await recordChange(tx, { type: input.kind, id: created.id, event: `${input.kind}.create`, changes: changedColumns(undefined, shown) });
  return created;
}

export interface Outcome {
  succeeded: boolean;
  gatewayTransactionId?: string | null;
  message?: string | null;
  errorCode?: string | null;
  errorDetail?: string | null;
}

/** What recordOutcomeSql returns of the row as it was. */
const outcomeFields = ['id', 'kind', 'state', 'succeeded', 'gatewayTransactionId', 'message', 'errorCode', 'errorDetail'] as const;

/**
 * Records the outcome of a reserved transaction; call with its order locked. Conditional on
 * it still being reserved: the API answer, a webhook and the reconciliation job may all
 * learn the outcome, and only the first one writes it. Returns whether this call recorded it.
 * One statement: the condition, the duplicate check and the write (recordOutcomeSql).
 */
export async function recordOutcome(tx: AnyTx, transactionId: string, outcome: Outcome): Promise<boolean> {
  const [row] = await run<Record<string, unknown> & { before: Record<string, unknown>; duplicateOf: string | null }>(tx, recordOutcomeStatement, [
    transactionId,
    outcome.gatewayTransactionId ?? null,
    outcome.succeeded,
    outcome.message ?? (outcome.succeeded ? 'Success!' : null),
    outcome.errorCode ?? null,
    outcome.errorDetail ?? null,
    new Date().toISOString(),
  ]);
  if (row === undefined) return false;
  const before = asFields<Transaction>(row.before, outcomeFields);
  const after = asTransaction(row);
  // A duplicate keeps its own gateway id and errors: only what changed is described.
  const data = row.duplicateOf !== null
    ? { state: after.state, succeeded: after.succeeded, message: after.message }
    : { state: after.state, succeeded: after.succeeded, gatewayTransactionId: after.gatewayTransactionId, message: after.message, errorCode: after.errorCode, errorDetail: after.errorDetail };
  await recordChange(tx, { type: before.kind, id: transactionId, event: 'update', changes: changedColumns(before, data) });
  return row.duplicateOf === null;
}

/** The order's money as its transactions tell it: succeeded amounts and reservations in flight, superseded payments left out. */
export interface OrderMoney {
  authorization: Transaction | undefined;
  capture: Transaction | undefined;
  void: Transaction | undefined;
  capturedCents: number;
  refundedCents: number;
  /** Reserved, not yet recorded, by kind. */
  reserved: Transaction[];
}

export async function orderMoney(tx: AnyTx, orderId: string): Promise<OrderMoney> {
  // A superseded payment's void or refund released money that was never the order's (payments/supersede.ts).
  const rows = (await run(tx, orderTransactions, [orderId])).map(asTransaction);
  const succeeded = (kind: TransactionKind) => rows.filter((row) => row.kind === kind && row.state === 'recorded' && row.succeeded);
  const sum = (list: Transaction[]) => list.reduce((total, row) => total + row.amountCents, 0);
  return {
    authorization: succeeded('authorizations').at(-1),
    capture: succeeded('captures').at(-1),
    void: succeeded('voids').at(-1),
    capturedCents: sum(succeeded('captures')),
    refundedCents: sum(succeeded('refunds')),
    reserved: rows.filter((row) => row.state === 'reserved'),
  };
}
