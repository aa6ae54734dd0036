import type Stripe from 'stripe';
import type { Prisma } from '../db/client.ts';
import type { Order, StripePayment, Transaction } from '../generated/prisma/client.ts';
import { changedColumns, recordChange } from '../changes.ts';
import { newId } from '../ids.ts';

type Tx = Prisma.TransactionClient;

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

/** "<order number>/<A|C|R|V>/<n>": readable, and unique per order since numbering runs under the order lock. */
async function nextNumber(tx: Tx, order: Pick<Order, 'id' | 'number'>, kind: TransactionKind): Promise<string> {
  const count = await tx.transaction.count({ where: { orderId: order.id, kind } });
  return `${order.number}/${letters[kind]}/${count + 1}`;
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

const detailFields = { paymentMethodType: true, cvvCode: true, cvvMessage: true, avsCode: true, avsMessage: true, fraudReview: true } as const;

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
export async function transactionOfRequest(tx: Tx, orderId: string, kind: TransactionKind, requestKey: string | undefined): Promise<Transaction | null> {
  if (requestKey === undefined) return null;
  return tx.transaction.findFirst({ where: { orderId, kind, metadata: { path: [requestKeyField], equals: requestKey } } });
}

/** Creates a transaction; call with the order locked. */
export async function createTransaction(tx: Tx, input: NewTransaction): Promise<Transaction> {
  const { recorded } = input;
  const details =
    input.details ?? (input.referenceId ? await tx.transaction.findUnique({ where: { id: input.referenceId }, select: detailFields }) : null) ?? {};
  const created = await tx.transaction.create({
    data: {
      id: newId(),
      kind: input.kind,
      orderId: input.order.id,
      stripePaymentId: input.payment.id,
      referenceId: input.referenceId ?? null,
      number: await nextNumber(tx, input.order, input.kind),
      state: recorded ? 'recorded' : 'reserved',
      currencyCode: input.payment.currencyCode,
      amountCents: input.amountCents,
      succeeded: recorded?.succeeded ?? false,
      message: recorded?.message ?? (recorded?.succeeded ? 'Success!' : null),
      token: input.payment.stripeId,
      gatewayTransactionId: recorded?.gatewayTransactionId ?? null,
      mode: input.payment.mode,
      ...details,
      ...(input.requestKey ? { metadata: { [requestKeyField]: input.requestKey } } : {}),
    },
  });
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

/**
 * Records the outcome of a reserved transaction; call with its order locked. Conditional on
 * it still being reserved: the API answer, a webhook and the reconciliation job may all
 * learn the outcome, and only the first one writes it. Returns whether this call recorded it.
 */
export async function recordOutcome(tx: Tx, transactionId: string, outcome: Outcome): Promise<boolean> {
  const row = await tx.transaction.findUnique({ where: { id: transactionId } });
  if (!row || row.state !== 'reserved') return false;
  const gatewayTransactionId = outcome.gatewayTransactionId ?? null;
  // Already recorded under another transaction (found before our answer, without our id): keep one.
  const duplicate = gatewayTransactionId
    ? await tx.transaction.findFirst({ where: { kind: row.kind, gatewayTransactionId, NOT: { id: row.id } }, select: { number: true } })
    : null;
  const data = duplicate
    ? { state: 'recorded', succeeded: false, message: `${gatewayTransactionId} is already recorded as ${duplicate.number}` }
    : {
        state: 'recorded',
        succeeded: outcome.succeeded,
        gatewayTransactionId,
        message: outcome.message ?? (outcome.succeeded ? 'Success!' : null),
        errorCode: outcome.errorCode ?? null,
        errorDetail: outcome.errorDetail ?? null,
      };
  const { count } = await tx.transaction.updateMany({ where: { id: transactionId, state: 'reserved' }, data });
  if (count > 0) await recordChange(tx, { type: row.kind, id: row.id, event: 'update', changes: changedColumns(row, data) });
  return count > 0 && !duplicate;
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

export async function orderMoney(tx: Tx, orderId: string): Promise<OrderMoney> {
  // A superseded payment's void or refund released money that was never the order's (payments/supersede.ts).
  const rows = await tx.transaction.findMany({
    where: { orderId, OR: [{ stripePaymentId: null }, { stripePayment: { supersededAt: null } }] },
    orderBy: { createdAt: 'asc' },
  });
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
