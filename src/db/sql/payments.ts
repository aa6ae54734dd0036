import { qualified } from './identifiers.ts';

/**
 * The statements of the payment path that Prisma would send as several (a row locked and
 * read, a payment method and its gateway, a count where an existence does): each one
 * statement here, its rows named as Prisma names the model's fields, so that the domain
 * keeps its Prisma types. The schema maps every field to its snake_case column.
 */

const snakeCase = (field: string) => field.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`);

/** `"alias"."snake_case" AS "<prefix>camelCase"` for each field. */
function fieldsAs(alias: string, fields: readonly string[], prefix = ''): string {
  return fields.map((field) => `${qualified(alias, snakeCase(field))} AS "${prefix}${field}"`).join(', ');
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
  return Object.fromEntries(fields.map((field) => [field, row[snakeCase(field)]])) as T;
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
    ? `, (SELECT json_agg(json_build_object(${pending.map((field) => `'${field}', ${qualified('p', snakeCase(field))}`).join(', ')})) ` +
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
 * In the record step of a create, under the order's lock: the reservation's state, and
 * whether the order has another live payment ($1 the order, $2 the payment) that the new
 * source supersedes, so that nothing is read for the other payments when there are none.
 */
export const recordStateSql = `SELECT
  (SELECT p.intent_state FROM stripe_payments p WHERE p.id = $2) AS "intentState",
  EXISTS (SELECT 1 FROM stripe_payments s WHERE s.order_id = $1 AND s.intent_state = 'created' AND s.id <> $2 AND s.superseded_at IS NULL) AS "othersLive"`;
