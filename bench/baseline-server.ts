// The baseline: the same GET by id as GET /api/stripe_payments/:id, done the shortest way:
// one hand-written SQL query through pg and JSON.stringify. No auth, no validation, no
// JSON:API. It reads what the API's retrieve needs: the payment row and its order's
// total and currency (for mismatched_amounts), with the same visibility rule.
//
// And the same create as POST /api/stripe_payments, written by hand: lock the order, check
// its line items, payment method and gateway, reserve the payment, create the
// PaymentIntent at the same Stripe stand-in with an idempotency key from the payment's id
// (no lock held meanwhile), record it and make it the order's payment source. Nine
// statements, all prepared: BEGIN, lock, check, reserve, COMMIT; BEGIN, record, source,
// COMMIT. No versions, webhooks, Idempotency-Key, retry of a pending reservation or
// supersession of other payments: the API's guarantees beyond the core write.
//
// For the memory comparison's mixed load, the two requests of its mix it lacked, as
// short: the list of up to 25 payments by id with their orders (one prepared query, the
// orders as JSON), and `_update` (lock the payment and its order, check the order as the
// create does, bump the write version, COMMIT; update the PaymentIntent with the order's
// total under a key of that version; record what Stripe answered if no later update
// started). No JSON:API, no versions, no webhooks.
import { createDecipheriv, randomInt } from 'node:crypto';
import Fastify, { type FastifyReply } from 'fastify';
import pg from 'pg';
import Stripe from 'stripe';

const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: Number(process.env.DATABASE_POOL_MAX ?? 10) });
const app = Fastify({ logger: false });

const paymentById = `SELECT p.*, o.total_amount_cents AS order_total_amount_cents, o.currency_code AS order_currency_code
  FROM stripe_payments p JOIN orders o ON o.id = p.order_id
  WHERE p.id = $1 AND p.intent_state = 'created'`;

function answer(reply: FastifyReply, rows: unknown[]) {
  reply.header('content-type', 'application/json');
  if (rows.length === 0) return reply.code(404).send('{"error":"not found"}');
  return reply.send(JSON.stringify(rows[0]));
}

// A named statement: PostgreSQL parses and plans it once per connection, as the API's reads are.
app.get<{ Params: { id: string } }>('/stripe_payments/:id', async (request, reply) => {
  const { rows } = await pool.query({ name: 'payment_by_id', text: paymentById, values: [request.params.id] });
  return answer(reply, rows);
});

// The same query unnamed, parsed and planned on every request: what preparing saves PostgreSQL.
app.get<{ Params: { id: string } }>('/unprepared/stripe_payments/:id', async (request, reply) => {
  const { rows } = await pool.query(paymentById, [request.params.id]);
  return answer(reply, rows);
});

const encryptionKey = Buffer.from(process.env.ENCRYPTION_KEY ?? '', 'base64');
const stripeUrl = new URL(process.env.STRIPE_API_URL ?? 'http://127.0.0.1:12111');
const stripeClients = new Map<string, Stripe>();
function stripeFor(sealedKey: string): Stripe {
  let client = stripeClients.get(sealedKey);
  if (!client) {
    // The gateway's key as the API stores it: AES-256-GCM, "v1.<iv>.<tag>.<ciphertext>".
    const [, iv, tag, ciphertext] = sealedKey.split('.');
    const decipher = createDecipheriv('aes-256-gcm', encryptionKey, Buffer.from(iv!, 'base64url'));
    decipher.setAuthTag(Buffer.from(tag!, 'base64url'));
    const secretKey = Buffer.concat([decipher.update(Buffer.from(ciphertext!, 'base64url')), decipher.final()]).toString('utf8');
    client = new Stripe(secretKey, { host: stripeUrl.hostname, port: Number(stripeUrl.port), protocol: 'http', telemetry: false, maxNetworkRetries: 0 });
    stripeClients.set(sealedKey, client);
  }
  return client;
}

const letters = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const newId = () => Array.from({ length: 10 }, () => letters[randomInt(letters.length)]).join('');

const lockOrder = { name: 'create_lock_order', text: 'SELECT id, number, status, total_amount_cents, currency_code, customer_email, payment_method_id FROM orders WHERE id = $1 FOR NO KEY UPDATE' };
const checkOrder = {
  name: 'create_check_order',
  text: `SELECT EXISTS (SELECT 1 FROM line_items WHERE order_id = $1) AS has_line_items, m.payment_source_type, m.currency_code, m.disabled_at AS method_disabled_at,
      g.id AS gateway_id, g.login_encrypted, g.publishable_key, g.connected_account, g.mode, g.disabled_at AS gateway_disabled_at
    FROM payment_methods m JOIN stripe_gateways g ON g.id = m.payment_gateway_id WHERE m.id = $2`,
};
const reserve = {
  name: 'create_reserve',
  text: `INSERT INTO stripe_payments (id, order_id, payment_gateway_id, intent_state, amount_cents, currency_code, receipt_email, publishable_key, connected_account, mode, updated_at)
    VALUES ($1, $2, $3, 'reserved', $4, $5, $6, $7, $8, $9, now())`,
};
const record = {
  name: 'create_record',
  text: `UPDATE stripe_payments SET intent_state = 'created', stripe_id = $2, client_secret = $3, status = $4, updated_at = now() WHERE id = $1 AND intent_state = 'reserved'`,
};
const setSource = { name: 'create_set_source', text: `UPDATE orders SET payment_source_type = 'stripe_payments', payment_source_id = $2, updated_at = now() WHERE id = $1` };

class Refused extends Error {}

async function inTransaction<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query({ name: 'begin', text: 'BEGIN' });
    const result = await work(client);
    await client.query({ name: 'commit', text: 'COMMIT' });
    return result;
  } catch (error) {
    await client.query('ROLLBACK');
    throw error;
  } finally {
    client.release();
  }
}

app.post<{ Body: { data?: { relationships?: { order?: { data?: { id?: string } } } } } }>('/stripe_payments', async (request, reply) => {
  const orderId = request.body?.data?.relationships?.order?.data?.id;
  if (typeof orderId !== 'string') return reply.code(422).send({ error: 'order is required' });
  try {
    const reserved = await inTransaction(async (client) => {
      const [order] = (await client.query(lockOrder, [orderId])).rows;
      if (!order) throw new Refused('order not found');
      if (order.status !== 'draft' && order.status !== 'pending') throw new Refused('order is not editable');
      const [check] = (await client.query(checkOrder, [orderId, order.payment_method_id])).rows;
      if (!check?.has_line_items) throw new Refused('order has no line items');
      if (order.total_amount_cents <= 0 || !order.currency_code) throw new Refused('order has no total');
      if (check.payment_source_type !== 'stripe_payments' || check.method_disabled_at || check.currency_code !== order.currency_code || check.gateway_disabled_at) {
        throw new Refused('order cannot be paid with stripe payments');
      }
      const id = newId();
      await client.query(reserve, [id, orderId, check.gateway_id, order.total_amount_cents, order.currency_code, order.customer_email, check.publishable_key, check.connected_account, check.mode]);
      return { id, order, gateway: check };
    });
    const intent = await stripeFor(reserved.gateway.login_encrypted).paymentIntents.create(
      {
        amount: reserved.order.total_amount_cents,
        currency: String(reserved.order.currency_code).toLowerCase(),
        capture_method: 'manual',
        metadata: { order_id: orderId, order_number: String(reserved.order.number), stripe_payment_id: reserved.id },
        ...(reserved.order.customer_email ? { receipt_email: reserved.order.customer_email } : {}),
      },
      { idempotencyKey: `stripe_payments/${reserved.id}/create` },
    );
    await inTransaction(async (client) => {
      await client.query(record, [reserved.id, intent.id, intent.client_secret, intent.status]);
      await client.query(setSource, [orderId, reserved.id]);
    });
    reply.header('content-type', 'application/json');
    return reply.code(201).send(JSON.stringify({ id: reserved.id, order_id: orderId, stripe_id: intent.id, client_secret: intent.client_secret, status: intent.status, publishable_key: reserved.gateway.publishable_key }));
  } catch (error) {
    if (error instanceof Refused) return reply.code(422).send({ error: error.message });
    throw error;
  }
});

// GET /stripe_payments?ids=a,b,c: what the mix's GET /api/stripe_payments?filter[q][id_in]=...&include=order reads.
const paymentsByIds = {
  name: 'payments_by_ids',
  text: `SELECT p.*, to_json(o) AS "order" FROM stripe_payments p JOIN orders o ON o.id = p.order_id
    WHERE p.id = ANY($1) AND p.intent_state = 'created' ORDER BY p.created_at DESC, p.id DESC LIMIT 25`,
};
app.get<{ Querystring: { ids?: string } }>('/stripe_payments', async (request, reply) => {
  const ids = (request.query.ids ?? '').split(',').filter(Boolean).slice(0, 25);
  const { rows } = await pool.query({ ...paymentsByIds, values: [ids] });
  reply.header('content-type', 'application/json');
  return reply.send(JSON.stringify({ data: rows }));
});

const lockPayment = {
  name: 'update_lock',
  text: `SELECT p.id, p.stripe_id, p.status, p.payment_gateway_id, p.receipt_email, o.id AS order_id, o.number, o.status AS order_status,
      o.total_amount_cents, o.currency_code, o.payment_method_id
    FROM stripe_payments p JOIN orders o ON o.id = p.order_id WHERE p.id = $1 AND p.intent_state = 'created' FOR NO KEY UPDATE OF p, o`,
};
const bumpVersion = { name: 'update_bump', text: 'UPDATE stripe_payments SET stripe_write_version = stripe_write_version + 1 WHERE id = $1 RETURNING stripe_write_version' };
const recordUpdate = {
  name: 'update_record',
  text: `UPDATE stripe_payments SET amount_cents = $3, currency_code = $4, status = $5, updated_at = now()
    WHERE id = $1 AND stripe_write_version = $2 RETURNING *`,
};
const settled = new Set(['succeeded', 'canceled']);

app.patch<{ Params: { id: string } }>('/stripe_payments/:id', async (request, reply) => {
  try {
    const reserved = await inTransaction(async (client) => {
      const [payment] = (await client.query(lockPayment, [request.params.id])).rows;
      if (!payment) throw new Refused('payment not found');
      if (!payment.stripe_id || settled.has(payment.status)) throw new Refused(`the payment cannot be updated (its PaymentIntent is ${payment.status})`);
      const [check] = (await client.query(checkOrder, [payment.order_id, payment.payment_method_id])).rows;
      if (!check?.has_line_items || check.method_disabled_at || check.gateway_disabled_at || check.gateway_id !== payment.payment_gateway_id) {
        throw new Refused('order cannot be paid with this payment');
      }
      const [{ stripe_write_version: version }] = (await client.query(bumpVersion, [payment.id])).rows;
      return { payment, gateway: check, version };
    });
    const { payment, gateway, version } = reserved;
    const intent = await stripeFor(gateway.login_encrypted).paymentIntents.update(
      payment.stripe_id,
      {
        amount: payment.total_amount_cents,
        currency: String(payment.currency_code).toLowerCase(),
        metadata: { order_id: payment.order_id, order_number: String(payment.number), stripe_payment_id: payment.id },
        ...(payment.receipt_email ? { receipt_email: payment.receipt_email } : {}),
      },
      { idempotencyKey: `stripe_payments/${payment.id}/update/${version}` },
    );
    const { rows } = await pool.query(recordUpdate, [payment.id, version, intent.amount, intent.currency.toUpperCase(), intent.status]);
    reply.header('content-type', 'application/json');
    return reply.send(JSON.stringify(rows[0] ?? { id: payment.id, status: intent.status }));
  } catch (error) {
    if (error instanceof Refused) return reply.code(422).send({ error: error.message });
    throw error;
  }
});

await app.listen({ port: Number(process.env.PORT), host: '127.0.0.1' });
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => void app.close().then(() => pool.end()).then(() => process.exit(0)));
}
