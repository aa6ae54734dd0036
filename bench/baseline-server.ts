// The baseline: the same GET by id as GET /api/stripe_payments/:id, done the shortest way:
// one hand-written SQL query through pg and JSON.stringify. No auth, no validation, no
// JSON:API. It reads what the API's retrieve needs: the payment row and its order's
// total and currency (for mismatched_amounts), with the same visibility rule.
import Fastify, { type FastifyReply } from 'fastify';
import pg from 'pg';

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

await app.listen({ port: Number(process.env.PORT), host: '127.0.0.1' });
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => void app.close().then(() => pool.end()).then(() => process.exit(0)));
}
