import type { Transaction } from '../generated/prisma/client.ts';
import { defineResource, type AttributeDeclaration, type RelationshipDeclaration } from '../jsonapi/resource.ts';
import { formatAmount, toFloat } from '../payments/money.ts';
import type { TransactionKind } from '../payments/transactions.ts';
import type { Services } from '../services.ts';
import { amountAttributes, commonAttributes } from './common.ts';

/**
 * Authorizations, captures, refunds and voids: read-only records of an order's money
 * movements, made by the order triggers, webhooks and the reconciliation job. One table
 * (`transactions`, its `kind` the resource type); transactions whose Stripe call is still in
 * flight are not shown.
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
  ...commonAttributes(),
};

const commonRelationships: Record<string, RelationshipDeclaration<TransactionRow>> = {
  order: { kind: 'to_one', types: ['orders'], foreignKey: 'orderId' },
  payment_source: { kind: 'to_one', types: ['stripe_payments'], foreignKey: 'stripePaymentId' },
};

const children = { referencedBy: { select: { kind: true, amountCents: true, succeeded: true, state: true } } };

function transactionResource(
  kind: TransactionKind,
  extra: { attributes?: Record<string, AttributeDeclaration<TransactionRow>>; relationships: Record<string, RelationshipDeclaration<TransactionRow>>; load?: Record<string, unknown> },
) {
  return defineResource<TransactionRow, Services>()({
    type: kind,
    model: 'transaction',
    table: 'transactions',
    actions: ['list', 'retrieve'],
    visibleWhere: { kind, state: 'recorded' },
    ...(extra.load ? { load: extra.load } : {}),
    meta: (row) => ({ mode: row.mode }),
    attributes: { ...transactionAttributes, ...extra.attributes },
    relationships: { ...commonRelationships, ...extra.relationships },
  });
}

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
});

export const refunds = transactionResource('refunds', {
  relationships: { reference_capture: { kind: 'to_one', types: ['captures'], foreignKey: 'referenceId' } },
});

export const voids = transactionResource('voids', {
  relationships: { reference_authorization: { kind: 'to_one', types: ['authorizations'], foreignKey: 'referenceId' } },
});
