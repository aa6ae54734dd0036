// The baseline: the same GET by id as GET /api/stripe_payments/:id, done the shortest way:
// one hand-written SQL query through pg and JSON.stringify. No auth, no validation, no
// JSON:API. It reads what the API's retrieve needs: the payment row and its order's
// total and currency (for mismatched_amounts), with the same visibility rule.
import Fastify from 'fastify';
import pg from 'pg';

const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: Number(process.env.DATABASE_POOL_MAX ?? 10) });
const app = Fastify({ logger: false });

app.get<{ Params: { id: string } }>('/stripe_payments/:id', async (request, reply) => {
  const { rows } = await pool.query(
    `SELECT p.*, o.total_amount_cents AS order_total_amount_cents, o.currency_code AS order_currency_code
     FROM stripe_payments p JOIN orders o ON o.id = p.order_id
     WHERE p.id = $1 AND p.intent_state = 'created'`,
    [request.params.id],
  );
  reply.header('content-type', 'application/json');
  if (rows.length === 0) return reply.code(404).send('{"error":"not found"}');
  return reply.send(JSON.stringify(rows[0]));
});

// The same answer in two queries, the way the API reads it (the payment, then its order):
// what the second round trip costs on its own.
app.get<{ Params: { id: string } }>('/two-queries/stripe_payments/:id', async (request, reply) => {
  const payments = await pool.query(`SELECT * FROM stripe_payments WHERE id = $1 AND intent_state = 'created'`, [request.params.id]);
  reply.header('content-type', 'application/json');
  const payment = payments.rows[0];
  if (!payment) return reply.code(404).send('{"error":"not found"}');
  const orders = await pool.query(`SELECT id, total_amount_cents, currency_code FROM orders WHERE id = $1`, [payment.order_id]);
  return reply.send(JSON.stringify({ ...payment, order: orders.rows[0] ?? null }));
});

await app.listen({ port: Number(process.env.PORT), host: '127.0.0.1' });
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => void app.close().then(() => pool.end()).then(() => process.exit(0)));
}
