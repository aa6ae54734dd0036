import { z } from 'zod';
import type { Transaction } from '../generated/prisma/client.ts';
import { inputSchemaOf } from '../jsonapi/document.ts';
import { defineResource, trigger, type AttributeDeclaration, type RelationshipDeclaration } from '../jsonapi/resource.ts';
import { formatAmount, toFloat } from '../payments/money.ts';
import { captureAuthorization, refundCapture, voidAuthorizationTrigger } from '../payments/triggers/transaction-triggers.ts';
import { requestKeyField, type TransactionKind } from '../payments/transactions.ts';
import type { Services } from '../services.ts';
import { versionsRelationship } from './versions.ts';
import { amountAttributes, commonAttributes, written } from './common.ts';

/**
 * Authorizations, captures, refunds and voids: records of an order's money movements, made
 * by the order triggers, the triggers here (`_capture` and `_void` on an authorization,
 * `_refund` on a capture: src/payments/triggers/transaction-triggers.ts), webhooks and the
 * reconciliation job. Only reference, reference_origin and metadata are the client's to
 * change. One table (`transactions`, its `kind` the resource type, all of them listed
 * together as `transactions`); transactions whose Stripe call is still in flight are not shown.
 */

type Child = Pick<Transaction, 'kind' | 'amountCents' | 'succeeded' | 'state'>;
type TransactionRow = Transaction & { referencedBy?: Child[] };

/** Succeeded captures, voids or refunds made against this transaction. */
function settled(row: TransactionRow, kind: TransactionKind): number {
  return (row.referencedBy ?? [])
    .filter((child) => child.kind === kind && child.state === 'recorded' && child.succeeded)
    .reduce((total, child) => total + child.amountCents, 0);
}

/** A computed `<name>_cents` / `_float` / `formatted_` triple, as amountAttributes makes stored ones. */
function computedAmount(name: string, cents: (row: TransactionRow) => number): Record<string, AttributeDeclaration<TransactionRow>> {
  return {
    [`${name}_cents`]: { type: 'integer', column: null, read: cents },
    [`${name}_float`]: { type: 'float', column: null, read: (row) => toFloat(cents(row), row.currencyCode) },
    [`formatted_${name}`]: { type: 'string', column: null, read: (row) => formatAmount(cents(row), row.currencyCode) },
  };
}

const filterableString = { type: 'string', filterable: true } as const;

/** The server's own keys in a transaction's metadata (the digest of the Idempotency-Key that made it): kept, never shown. */
function ownMetadata(metadata: unknown): Record<string, unknown> {
  const stored = (metadata ?? {}) as Record<string, unknown>;
  return Object.hasOwn(stored, requestKeyField) ? { [requestKeyField]: stored[requestKeyField] } : {};
}

function clientMetadata(metadata: unknown): Record<string, unknown> {
  const { [requestKeyField]: _own, ...rest } = (metadata ?? {}) as Record<string, unknown>;
  return rest;
}

const metadata = {
  ...written({ type: 'object', updatable: true, filterable: true }, inputSchemaOf({ type: 'object' }) as z.ZodType<Record<string, unknown>>, (value, context) => ({
    metadata: { ...(value ?? {}), ...ownMetadata(context.row?.metadata) },
  })),
  read: (row: TransactionRow) => clientMetadata(row.metadata),
};

const stripeDetail = { type: 'string' } as const;

const transactionAttributes: Record<string, AttributeDeclaration<TransactionRow>> = {
  number: { type: 'string', filterable: true, sortable: true },
  currency_code: filterableString,
  ...amountAttributes('amount', (row: TransactionRow) => ({ cents: row.amountCents, currencyCode: row.currencyCode })),
  succeeded: { type: 'boolean', filterable: true },
  message: filterableString,
  error_code: filterableString,
  error_detail: filterableString,
  // The PaymentIntent id.
  token: filterableString,
  gateway_transaction_id: filterableString,
  payment_method_type: stripeDetail,
  cvv_code: stripeDetail,
  cvv_message: stripeDetail,
  avs_code: stripeDetail,
  avs_message: stripeDetail,
  fraud_review: stripeDetail,
  ...commonAttributes(),
  // Created by the server only: updatable, not creatable.
  reference: { ...commonAttributes().reference, creatable: false },
  reference_origin: { ...commonAttributes().reference_origin, creatable: false },
  metadata,
};

const commonRelationships: Record<string, RelationshipDeclaration<TransactionRow>> = {
  order: { kind: 'to_one', types: ['orders'], foreignKey: 'orderId' },
  payment_source: { kind: 'to_one', types: ['stripe_payments'], foreignKey: 'stripePaymentId' },
  versions: versionsRelationship,
};

const children = { referencedBy: { select: { kind: true, amountCents: true, succeeded: true, state: true } } };

type Triggers = NonNullable<Parameters<ReturnType<typeof defineResource<TransactionRow, Services>>>[0]['triggers']>;

function transactionResource(
  kind: TransactionKind,
  extra: {
    attributes?: Record<string, AttributeDeclaration<TransactionRow>>;
    relationships: Record<string, RelationshipDeclaration<TransactionRow>>;
    load?: Record<string, unknown>;
    triggers?: Triggers;
  },
) {
  return defineResource<TransactionRow, Services>()({
    type: kind,
    model: 'transaction',
    table: 'transactions',
    actions: ['list', 'retrieve', 'update'],
    visibleWhere: { kind, state: 'recorded' },
    ...(extra.load ? { load: extra.load } : {}),
    meta: (row) => ({ mode: row.mode }),
    attributes: { ...transactionAttributes, ...extra.attributes },
    relationships: { ...commonRelationships, ...extra.relationships },
    ...(extra.triggers ? { triggers: extra.triggers } : {}),
  });
}

const amountInput = z.number().int().min(1).max(2 ** 31 - 1);

export const authorizations = transactionResource('authorizations', {
  load: children,
  attributes: {
    ...computedAmount('capture_amount', (row) => row.amountCents),
    ...computedAmount('capture_balance', (row) => (row.succeeded ? Math.max(row.amountCents - settled(row, 'captures'), 0) : 0)),
    // Nothing is left to void once captured or voided.
    ...computedAmount('void_balance', (row) => (row.succeeded && settled(row, 'captures') === 0 && settled(row, 'voids') === 0 ? row.amountCents : 0)),
  },
  relationships: {
    captures: { kind: 'to_many', types: ['captures'], inverseKey: 'referenceId' },
    voids: { kind: 'to_many', types: ['voids'], inverseKey: 'referenceId' },
  },
  triggers: {
    _capture: trigger(captureAuthorization, {
      prohibited: true,
      callsStripe: true,
      // How much of the authorization to capture; Stripe releases the rest. Default all.
      parameters: { _capture_amount_cents: { type: 'integer', input: amountInput } },
    }),
    _void: trigger(voidAuthorizationTrigger, { prohibited: true, callsStripe: true }),
  },
});

export const captures = transactionResource('captures', {
  load: children,
  attributes: {
    ...computedAmount('refund_amount', (row) => row.amountCents),
    ...computedAmount('refund_balance', (row) => (row.succeeded ? Math.max(row.amountCents - settled(row, 'refunds'), 0) : 0)),
  },
  relationships: {
    reference_authorization: { kind: 'to_one', types: ['authorizations'], foreignKey: 'referenceId' },
    refunds: { kind: 'to_many', types: ['refunds'], inverseKey: 'referenceId' },
  },
  triggers: {
    _refund: trigger(refundCapture, {
      prohibited: true,
      callsStripe: true,
      // How much of the capture to refund; default what is left.
      parameters: { _refund_amount_cents: { type: 'integer', input: amountInput } },
    }),
  },
});

export const refunds = transactionResource('refunds', {
  relationships: { reference_capture: { kind: 'to_one', types: ['captures'], foreignKey: 'referenceId' } },
});

export const voids = transactionResource('voids', {
  relationships: { reference_authorization: { kind: 'to_one', types: ['authorizations'], foreignKey: 'referenceId' } },
});

/**
 * Every kind together, Commerce Layer's `transactions`: each row shown as its kind (an
 * authorization with its capture balance, a capture with its refund balance, ...).
 */
export const transactions = defineResource<TransactionRow, Services>()({
  type: 'transactions',
  model: 'transaction',
  table: 'transactions',
  actions: ['list', 'retrieve'],
  visibleWhere: { state: 'recorded' },
  load: children,
  shownAs: (row) => row.kind,
  meta: (row) => ({ mode: row.mode }),
  attributes: transactionAttributes,
  relationships: commonRelationships,
});
