import { columnOfField, qualified } from './identifiers.ts';

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
