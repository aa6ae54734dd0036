import { columnOfField, qualified, quoted } from './identifiers.ts';

/**
 * The statements of the payment path that Prisma would send as several (a row locked and
 * read, a payment method and its gateway, a count where an existence does): each one
 * statement here, its rows named as Prisma names the model's fields, so that the domain
 * keeps its Prisma types. The schema maps every field to its snake_case column.
 */

/** `"alias"."snake_case" AS "<prefix>camelCase"` for each field. */
function fieldsAs(alias: string, fields: readonly string[], prefix = ''): string {
  return fields.map((field) => `${qualified(alias, columnOfField(field))} AS "${prefix}${field}"`).join(', ');
}

/**
 * One order locked and read in one statement. Only the order's own columns: a row locked
 * after a wait is the newest version of that row, but anything else read by the same
 * statement would be as the statement's snapshot saw it before the wait, so whatever
 * depends on other rows is read by a later statement, under the lock. `o.*` keeps the text
 * short enough for pg_stat_activity to show it whole (it keeps 1 kB of a query); the
 * fields are picked by name (`asFields`).
 */
export const lockOrderSql = 'SELECT o.* FROM orders o WHERE o.id = $1 FOR NO KEY UPDATE';

/**
 * An order locked as `lockOrderSql` locks it, reading only what a create's record step
 * decides on: its payment status, and the amounts the created payment is shown with.
 */
export const lockOrderPaymentStateSql =
  'SELECT o.payment_status AS "paymentStatus", o.total_amount_cents AS "totalAmountCents", o.currency_code AS "currencyCode" FROM orders o WHERE o.id = $1 FOR NO KEY UPDATE';

/** A row of snake_case columns as the model's `fields` name them. */
export function asFields<T>(row: Record<string, unknown>, fields: readonly string[]): T {
  const picked: Record<string, unknown> = {};
  for (const field of fields) picked[field] = row[columnOfField(field)];
  return picked as T;
}

/**
 * What decides whether an order ($1, locked) can be paid with its payment method ($2,
 * possibly null): whether it has a line item (EXISTS, not a count), the method and its
 * gateway. Always one row; the method's and gateway's fields are prefixed `m.` and `g.`,
 * null when there is none. With `pending`, also the order's reservations (payments whose
 * PaymentIntent is being created) as a JSON array of `pending`'s columns, or null: what a
 * create compares to reuse one.
 */
export function payableOrderSql(methodFields: readonly string[], gatewayFields: readonly string[], pending?: readonly string[]): string {
  const reservations = pending
    ? `, (SELECT json_agg(json_build_object(${pending.map((field) => `'${field}', ${qualified('p', columnOfField(field))}`).join(', ')})) ` +
      `FROM stripe_payments p WHERE p.order_id = $1 AND p.intent_state = 'reserved') AS "pending"`
    : '';
  return (
    `SELECT EXISTS (SELECT 1 FROM line_items l WHERE l.order_id = $1) AS "hasLineItems", ` +
    `${fieldsAs('m', methodFields, 'm.')}, ${fieldsAs('g', gatewayFields, 'g.')}${reservations} ` +
    `FROM (SELECT 1) AS one LEFT JOIN payment_methods m ON m.id = $2::text LEFT JOIN stripe_gateways g ON g.id = m.payment_gateway_id`
  );
}

/**
 * A create's check and reservation in one statement, under the order's lock: the row of
 * `payableOrderSql` ($1 the order, $2 its payment method) with the order's pending
 * reservations, and `"reserved"`, whether the new reservation was inserted. Its columns are
 * `insert`'s (bound from $3) and the gateway's id, account, key and mode; it is inserted
 * only while the order has no reservation (the caller compares those, and inserts when none
 * is the same request) and only when the order can be paid as `checkPayable` decides, on
 * the amount and currency placeholders given: the caller checks the row whatever this
 * decided, so a request refused there writes nothing either way.
 */
export function reserveIfPayableSql(
  methodFields: readonly string[],
  gatewayFields: readonly string[],
  pending: readonly string[],
  insert: { columns: readonly string[]; placeholders: readonly string[] },
  placeholderOf: { amountCents: string; currencyCode: string },
): string {
  const m = (field: string) => qualified('m', columnOfField(field));
  const g = (field: string) => qualified('g', columnOfField(field));
  const gatewayColumns = ['paymentGatewayId', 'connectedAccount', 'publishableKey', 'mode'].map((field) => quoted(columnOfField(field)));
  return (
    `WITH reserved AS (INSERT INTO stripe_payments (${[...gatewayColumns, ...insert.columns].join(', ')}) ` +
    `SELECT ${[g('id'), g('connectedAccount'), g('publishableKey'), g('mode'), ...insert.placeholders].join(', ')} ` +
    `FROM payment_methods m JOIN stripe_gateways g ON g.id = ${m('paymentGatewayId')} ` +
    `WHERE m.id = $2::text AND ${m('paymentSourceType')} = 'stripe_payments' AND ${m('disabledAt')} IS NULL AND ${g('disabledAt')} IS NULL ` +
    `AND ${m('currencyCode')} = ${placeholderOf.currencyCode} AND ${placeholderOf.amountCents} > 0 ` +
    `AND EXISTS (SELECT 1 FROM line_items l WHERE l.order_id = $1) ` +
    `AND NOT EXISTS (SELECT 1 FROM stripe_payments p WHERE p.order_id = $1 AND p.intent_state = 'reserved') RETURNING 1) ` +
    `SELECT payable.*, EXISTS (SELECT 1 FROM reserved) AS "reserved" FROM (${payableOrderSql(methodFields, gatewayFields, pending)}) AS payable`
  );
}

/** The fields of `row` named `<prefix><field>`, without the prefix; null when its id is null (a LEFT JOIN found nothing). */
export function prefixedRow<T>(row: Record<string, unknown>, prefix: string): T | null {
  if (row[`${prefix}id`] === null || row[`${prefix}id`] === undefined) return null;
  const picked: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(row)) if (key.startsWith(prefix)) picked[key.slice(prefix.length)] = value;
  return picked as T;
}

/**
 * The record step of a create, under the order's lock ($1 the payment, $2 the order), in
 * one statement: the reservation becomes the created payment (the PaymentIntent's $3 id,
 * $4 client secret, $5 status, $6 payment method as JSON or null to keep it, $7
 * on_behalf_of, $8 transfer group, $9 the time, ISO 8601 in UTC as Prisma writes it) and
 * the order's payment source, its payment status reset to unpaid when $10. Only a payment
 * still reserved is recorded: `intentState` says what it was before (created: recorded
 * already by another request that shared the reservation; null: gone), `recorded` whether
 * this statement recorded it, `othersLive` whether the order has another live payment for
 * the new source to supersede; the payment's columns as recorded follow (null when it was
 * not), so that nothing reads it back. The statement starts after the lock was granted, so
 * it reads what committed before.
 */
export const recordCreatedSql = `WITH before AS (SELECT intent_state FROM stripe_payments WHERE id = $1),
recorded AS (
  UPDATE stripe_payments SET intent_state = 'created', stripe_id = $3, client_secret = $4, status = $5,
    payment_method = COALESCE($6::jsonb, payment_method), on_behalf_of = $7, transfer_group = $8, updated_at = $9::timestamp(3)
  WHERE id = $1 AND intent_state = 'reserved' RETURNING *),
source AS (
  UPDATE orders SET payment_source_type = 'stripe_payments', payment_source_id = $1,
    payment_status = CASE WHEN $10::boolean THEN 'unpaid' ELSE payment_status END,
    payment_updated_at = CASE WHEN $10::boolean THEN $9::timestamp(3) ELSE payment_updated_at END, updated_at = $9::timestamp(3)
  WHERE id = $2 AND EXISTS (SELECT 1 FROM recorded) RETURNING id)
SELECT (SELECT intent_state FROM before) AS "intentState", (SELECT count(*) FROM source)::int AS "recorded",
  EXISTS (SELECT 1 FROM stripe_payments s WHERE s.order_id = $2 AND s.intent_state = 'created' AND s.id <> $1 AND s.superseded_at IS NULL) AS "othersLive",
  r.* FROM (SELECT 1) AS one LEFT JOIN recorded r ON true`;

/** `_update`'s reservation: the payment's write version bumped ($1 the payment, $2 the time), the payment returned whole (snake_case). */
export const bumpWriteVersionSql =
  'UPDATE stripe_payments SET stripe_write_version = stripe_write_version + 1, updated_at = $2::timestamp(3) WHERE id = $1 RETURNING *';

/**
 * `_update`'s record: the PaymentIntent's amount ($3), currency ($4), status ($5) and
 * transfer group ($6) at $7, only while no later update has bumped the version ($2) since.
 */
export const recordIntentUpdateSql =
  'UPDATE stripe_payments SET amount_cents = $3, currency_code = $4, status = $5, transfer_group = $6, updated_at = $7::timestamp(3) WHERE id = $1 AND stripe_write_version = $2 RETURNING id';

/** A PaymentIntent's status as Stripe said it ($2, at $3). */
export const setIntentStatusSql = 'UPDATE stripe_payments SET status = $2, updated_at = $3::timestamp(3) WHERE id = $1 RETURNING id';

/** A stripe payment read whole (snake_case), without a lock: a trigger's payment, whose order it holds locked. */
export const stripePaymentSql = 'SELECT p.* FROM stripe_payments p WHERE p.id = $1';

/**
 * A PaymentIntent's state on its payment ($1): status ($2), charge ($3) and, when $4, the
 * payment method ($5) and instrument ($6) as JSON, or null for SQL NULL; at $7.
 */
export const applyIntentSql = `UPDATE stripe_payments SET status = $2, charge_id = $3,
  payment_method = CASE WHEN $4::boolean THEN $5::jsonb ELSE payment_method END,
  payment_instrument = CASE WHEN $4::boolean THEN $6::jsonb ELSE payment_instrument END, updated_at = $7::timestamp(3)
  WHERE id = $1`;

/**
 * An order's payment_status moved to $2 ($4 the time) only from one of $3: one conditional
 * UPDATE, returning the status it had (none when it did not move). The caller holds the
 * order's lock, so the self-join reads the row as the UPDATE finds it.
 */
export const advancePaymentStatusSql = `UPDATE orders o SET payment_status = $2, payment_updated_at = $4::timestamp(3), updated_at = $4::timestamp(3)
  FROM orders old WHERE o.id = $1 AND old.id = o.id AND o.payment_status = ANY($3::text[]) RETURNING old.payment_status AS "before"`;

/** Whether a customer ($1) has placed orders other than $2. */
export const customerHasPlacedSql =
  'SELECT EXISTS (SELECT 1 FROM orders WHERE customer_id = $1 AND placed_at IS NOT NULL AND id <> $2) AS "placed"';

/** `_place`: the order ($1) placed at $2, with its customer type ($3). */
export const placeOrderSql = `UPDATE orders SET status = 'placed', placed_at = $2::timestamp(3), customer_type = $3, updated_at = $2::timestamp(3) WHERE id = $1`;

/** `_cancel`: the order ($1) cancelled at $2. */
export const cancelOrderSql = `UPDATE orders SET status = 'cancelled', cancelled_at = $2::timestamp(3), updated_at = $2::timestamp(3) WHERE id = $1`;

/** The transaction an earlier attempt of a request made: order $1, kind $2, metadata key $3 holding the string $4. */
export const transactionOfRequestSql = 'SELECT t.* FROM transactions t WHERE t.order_id = $1 AND t.kind = $2 AND t.metadata -> $3::text = to_jsonb($4::text) LIMIT 1';

/** A transaction of kind $2 and order $3 by its id ($1): one a Stripe object's metadata names. */
export const ownTransactionSql = 'SELECT id FROM transactions WHERE id = $1 AND kind = $2 AND order_id = $3';

/** Whether Stripe's object $2 is recorded as a transaction of kind $1 already. */
export const gatewayRecordedSql = 'SELECT EXISTS (SELECT 1 FROM transactions WHERE kind = $1 AND gateway_transaction_id = $2) AS "recorded"';

/** A reservation marked in flight again at $2 (a retry), returned whole. */
export const touchTransactionSql = 'UPDATE transactions SET updated_at = $2::timestamp(3) WHERE id = $1 RETURNING *';

/**
 * An order's ($1) transactions, oldest first, but for those of superseded payments
 * (Prisma's `stripePayment: { supersededAt: null }`: the payment exists and is not superseded).
 */
export const orderTransactionsSql = `SELECT t.* FROM transactions t WHERE t.order_id = $1
  AND (t.stripe_payment_id IS NULL OR EXISTS (SELECT 1 FROM stripe_payments p WHERE p.id = t.stripe_payment_id AND p.superseded_at IS NULL))
  ORDER BY t.created_at`;

/**
 * A new transaction, in one statement with its number and the charge details of the one it
 * references: $1 id, $2 kind, $3 order, $4 payment, $5 reference, $6 the number's prefix
 * (`<order number>/<letter>/`, completed with the count of the order's transactions of the
 * kind plus one: the order is locked, so the count cannot change before the insert), $7
 * state, $8 currency, $9 amount, $10 succeeded, $11 message, $12 token, $13 gateway id, $14
 * mode, $15 to $20 the charge details, unless $21 names the transaction to copy them from,
 * $22 metadata as JSON (null: the column's default), $23 the time. Returned whole.
 */
export const insertTransactionSql = `INSERT INTO transactions (id, kind, order_id, stripe_payment_id, reference_id, number, state, currency_code, amount_cents,
  succeeded, message, token, gateway_transaction_id, mode, payment_method_type, cvv_code, cvv_message, avs_code, avs_message, fraud_review,
  metadata, created_at, updated_at)
SELECT $1::text, $2::text, $3::text, $4::text, $5::text,
  $6::text || ((SELECT count(*) FROM transactions c WHERE c.order_id = $3::text AND c.kind = $2::text) + 1)::text,
  $7::text, $8::text, $9::int, $10::boolean, $11::text, $12::text, $13::text, $14::text,
  CASE WHEN r.id IS NULL THEN $15::text ELSE r.payment_method_type END, CASE WHEN r.id IS NULL THEN $16::text ELSE r.cvv_code END,
  CASE WHEN r.id IS NULL THEN $17::text ELSE r.cvv_message END, CASE WHEN r.id IS NULL THEN $18::text ELSE r.avs_code END,
  CASE WHEN r.id IS NULL THEN $19::text ELSE r.avs_message END, CASE WHEN r.id IS NULL THEN $20::text ELSE r.fraud_review END,
  COALESCE($22::jsonb, '{}'), $23::timestamp(3), $23::timestamp(3)
FROM (SELECT 1) AS one LEFT JOIN transactions r ON r.id = $21::text
RETURNING *`;

/**
 * A reserved transaction ($1) recorded at $7, in one statement: unless Stripe's object ($2)
 * is recorded under another transaction of its kind already (found before our answer,
 * without our id), which keeps it and this one fails naming it (`duplicateOf`), it takes
 * the outcome ($3 succeeded, $4 message, $5 error code, $6 error detail). Only while it is
 * still reserved: no row otherwise. Returns the row as recorded and, as `before`, its
 * outcome columns as they were.
 */
export const recordOutcomeSql = `WITH target AS (
  SELECT id, kind, state, succeeded, gateway_transaction_id, message, error_code, error_detail FROM transactions WHERE id = $1 AND state = 'reserved'),
duplicate AS (
  SELECT d.number FROM transactions d JOIN target ON d.kind = target.kind WHERE d.gateway_transaction_id = $2::text AND d.id <> target.id LIMIT 1)
UPDATE transactions t SET state = 'recorded', succeeded = $3::boolean AND duplicate.number IS NULL,
  gateway_transaction_id = CASE WHEN duplicate.number IS NULL THEN $2::text ELSE t.gateway_transaction_id END,
  message = CASE WHEN duplicate.number IS NULL THEN $4::text ELSE $2::text || ' is already recorded as ' || duplicate.number END,
  error_code = CASE WHEN duplicate.number IS NULL THEN $5::text ELSE t.error_code END,
  error_detail = CASE WHEN duplicate.number IS NULL THEN $6::text ELSE t.error_detail END,
  updated_at = $7::timestamp(3)
FROM target LEFT JOIN duplicate ON true
WHERE t.id = target.id AND t.state = 'reserved'
RETURNING t.*, to_json(target) AS "before", duplicate.number AS "duplicateOf"`;
