// The benchmark's own database: created on the machine's PostgreSQL, migrated, filled by
// a bulk loader (SQL, not the API) and dropped at the end.
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { createSecretBox } from '../src/crypto/secret-box.ts';
import { applyMigrations } from '../src/db/migrations.ts';

export const projectRoot = path.resolve(import.meta.dirname, '..');

export interface BenchDatabase {
  name: string;
  databaseUrl: string;
  /** Drops it, closing whatever connection is still open; safe to call more than once. */
  drop(): Promise<void>;
}

/** A fresh `payments_bench_<random>` database with every migration applied (or none: `migrate: false`). */
export async function createBenchDatabase(adminUrl: string, options: { migrate?: boolean } = {}): Promise<BenchDatabase> {
  const name = `payments_bench_${randomBytes(5).toString('hex')}`;
  await asAdmin(adminUrl, (admin) => `CREATE DATABASE ${admin.escapeIdentifier(name)}`);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  let dropping: Promise<void> | undefined;
  const database: BenchDatabase = {
    name,
    databaseUrl: url.toString(),
    // FORCE: a server child killed mid-run may still hold connections.
    drop: () => (dropping ??= asAdmin(adminUrl, (admin) => `DROP DATABASE IF EXISTS ${admin.escapeIdentifier(name)} WITH (FORCE)`)),
  };
  if (options.migrate === false) return database;
  try {
    await applyMigrations(database.databaseUrl, {
      migrationsDir: path.join(projectRoot, 'prisma', 'migrations'),
      schemaPath: path.join(projectRoot, 'prisma', 'schema.prisma'),
    });
  } catch (error) {
    await database.drop();
    throw error;
  }
  return database;
}

async function asAdmin(adminUrl: string, statement: (client: pg.Client) => string): Promise<void> {
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(statement(admin));
  } finally {
    await admin.end();
  }
}

/** The fixed rows every payment hangs off: one Stripe gateway and one payment method. */
export interface Fixture {
  gatewayId: string;
  paymentMethodId: string;
  secretKey: string;
}

/** 52^10: ids are ten letters, so a bijection onto [0, 52^10) gives unique, app-shaped ids. */
const idSpace = 144555105949057024n;
// Coprime to 52^10 = 2^10 * 13^10 (odd, not a multiple of 13), so n -> n*M mod 52^10 is a
// bijection; about 0.618 of the space, so consecutive rows land far apart in the index.
const idMultiplier = 89339968716646811n;
const letters = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const alphanumerics = `${letters}0123456789`;
const half = 52n ** 5n;
export const maxRows = 3_000_000;
const salts = { order: 1, lineItem: 2, payment: 3 } as const;
const batchSize = 50_000;

/** Row n's id in table `salt`: ten letters like src/ids.ts makes, unique per table by construction. */
export function benchId(n: number, salt: number): string {
  const x = (BigInt(n) * idMultiplier + BigInt(salt) * 1_000_000_007n) % idSpace;
  let id = '';
  // Two halves of five base-52 digits each fit a double, keeping BigInt out of the loop.
  for (let part of [Number(x % half), Number(x / half)]) {
    for (let digit = 0; digit < 5; digit += 1) {
      id += letters[part % 52];
      part = Math.floor(part / 52);
    }
  }
  return id;
}

/** Stripe-style alphanumerics (pi_ ids, client secret suffixes); unique enough from 62^24. */
function alphanumeric(length: number): string {
  let out = '';
  for (let i = 0; i < length; i += 1) out += alphanumerics[randomByte() % 62];
  return out;
}

// One randomBytes call per 64 KiB instead of one per string.
let pool = Buffer.alloc(0);
let poolOffset = 0;
function randomByte(): number {
  if (poolOffset >= pool.length) {
    pool = randomBytes(65_536);
    poolOffset = 0;
  }
  return pool[poolOffset++]!;
}

interface Batch {
  from: number;
  orderIds: string[];
  lineItemIds: string[];
  paymentIds: string[];
  intentIds: string[];
  clientSecrets: string[];
}

function makeBatch(from: number, to: number): Batch {
  const batch: Batch = { from, orderIds: [], lineItemIds: [], paymentIds: [], intentIds: [], clientSecrets: [] };
  for (let i = from; i <= to; i += 1) {
    batch.orderIds.push(benchId(i, salts.order));
    batch.lineItemIds.push(benchId(i, salts.lineItem));
    batch.paymentIds.push(benchId(i, salts.payment));
    const intentId = `pi_${alphanumeric(24)}`;
    batch.intentIds.push(intentId);
    batch.clientSecrets.push(`${intentId}_secret_${alphanumeric(25)}`);
  }
  return batch;
}

/**
 * Fills the database with what many storefront checkouts leave behind: per row number i,
 * an order (draft, EUR, one line item, paid with the fixture's payment method) and a
 * stripe payment for its total, in the state POST /api/stripe_payments leaves it
 * (intent_state created, a pi_ id and its client secret, status requires_payment_method,
 * the order's payment source pointing at it).
 */
export class BulkLoader {
  private rows = 0;
  // Row i was created i*30 s before this instant: a million rows span about a year, and
  // growing the table adds older history, as for a store that has been open longer.
  private readonly newest = new Date(Date.now() - 60_000);

  private constructor(
    /** For everything but the bulk inserts. */
    private readonly client: pg.Client,
    /** One per table, so the three inserts of a batch run side by side. */
    private readonly writers: [pg.Client, pg.Client, pg.Client],
    readonly fixture: Fixture,
  ) {}

  static async open(databaseUrl: string, encryptionKey: Buffer): Promise<BulkLoader> {
    const connect = async () => {
      const client = new pg.Client({ connectionString: databaseUrl });
      await client.connect();
      return client;
    };
    const client = await connect();
    const writers = [await connect(), await connect(), await connect()] as [pg.Client, pg.Client, pg.Client];
    // Every reference is computed from the row number, so the rows are consistent by
    // construction; skipping the per-row foreign key triggers makes the load much faster.
    for (const writer of writers) await writer.query('SET session_replication_role = replica');
    const secretKey = `sk_test_bench${randomBytes(12).toString('hex')}`;
    const fixture: Fixture = { gatewayId: 'BenchGatwy', paymentMethodId: 'BenchPayMt', secretKey };
    // Sealed with the server's ENCRYPTION_KEY, as POST /api/stripe_gateways stores it.
    const sealed = createSecretBox(encryptionKey).seal(secretKey);
    await client.query(
      `INSERT INTO stripe_gateways (id, name, login_encrypted, mode, publishable_key, updated_at)
       VALUES ($1, 'Stripe', $2, 'test', 'pk_test_bench', now())`,
      [fixture.gatewayId, sealed],
    );
    await client.query(
      `INSERT INTO payment_methods (id, payment_source_type, currency_code, price_amount_cents, payment_gateway_id, updated_at)
       VALUES ($1, 'stripe_payments', 'EUR', 0, $2, now())`,
      [fixture.paymentMethodId, fixture.gatewayId],
    );
    return new BulkLoader(client, writers, fixture);
  }

  get size(): number {
    return this.rows;
  }

  /**
   * Adds rows until there are `target` bulk-loaded payments; returns the seconds it took.
   * Not one transaction: the database is thrown away if the load fails.
   */
  async growTo(target: number): Promise<number> {
    if (target > maxRows) throw new Error(`at most ${maxRows} rows`);
    if (target <= this.rows) return 0;
    const started = performance.now();
    // Secondary indexes are rebuilt once at the end (a sort) instead of taking a million
    // random insertions each; the migrations' own definitions are replayed unchanged.
    const indexes = await this.query<{ name: string; definition: string }>(
      `SELECT i.indexname AS name, i.indexdef AS definition FROM pg_indexes i
       WHERE i.schemaname = 'public' AND i.tablename IN ('orders', 'line_items', 'stripe_payments')
         AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)`,
    );
    for (const index of indexes) await this.client.query(`DROP INDEX ${this.client.escapeIdentifier(index.name)}`);
    let pending: Promise<unknown> = Promise.resolve();
    for (let from = this.rows + 1; from <= target; from += batchSize) {
      // The next batch's strings are made while the previous one is being inserted.
      const batch = makeBatch(from, Math.min(target, from + batchSize - 1));
      await pending;
      pending = this.insertBatch(batch);
    }
    await pending;
    // Round robin over the writers, one statement at a time on each.
    await Promise.all(
      this.writers.map(async (writer, lane) => {
        for (const [position, index] of indexes.entries()) {
          if (position % this.writers.length === lane) await writer.query(index.definition);
        }
      }),
    );
    // This machine's PostgreSQL runs without autovacuum; a live database would have
    // vacuumed and analysed a table this size, so the planner statistics and the
    // visibility map are brought to that state here.
    await Promise.all(['orders', 'line_items', 'stripe_payments'].map((table, index) => this.writers[index]!.query(`VACUUM (ANALYZE) ${table}`)));
    // Written out now, so that flushing the load does not land in a measurement.
    await this.client.query('CHECKPOINT');
    this.rows = target;
    return (performance.now() - started) / 1000;
  }

  /**
   * A batch as three INSERT ... SELECT over unnest: ids and Stripe strings arrive as
   * arrays, everything else is computed from the row number i.
   */
  private async insertBatch(batch: Batch): Promise<void> {
    const { gatewayId, paymentMethodId } = this.fixture;
    const newest = this.newest.toISOString();
    const [orderWriter, lineItemWriter, paymentWriter] = this.writers;
    // unnest walks the arrays once; subscripting a text array is a scan per element.
    const rows = (...columns: string[]) =>
      `FROM unnest(${columns.map((column) => `${column}::text[]`).join(', ')}) WITH ORDINALITY AS u(${columns.map((_, index) => `c${index + 1}`).join(', ')}, ord),
         LATERAL (SELECT $1::bigint + ord - 1 AS i) AS row_number`;
    const amount = `((1 + i % 3) * (500 + (i * 37) % 9500))`;
    const createdAt = `($2::timestamptz - i * interval '30 seconds')`;
    await Promise.all([
      orderWriter.query(
        `INSERT INTO orders (id, status, payment_status, currency_code, customer_email, language_code,
           subtotal_amount_cents, payment_method_amount_cents, total_amount_cents, metadata,
           payment_method_id, payment_source_type, payment_source_id, created_at, updated_at)
         SELECT c1, 'draft', 'unpaid', 'EUR', 'shopper' || i || '@example.com', 'en',
           ${amount}, 0, ${amount}, '{}', $3, 'stripe_payments', c2,
           ${createdAt}, ${createdAt} + interval '20 seconds'
         ${rows('$4', '$5')}`,
        [batch.from, newest, paymentMethodId, batch.orderIds, batch.paymentIds],
      ),
      lineItemWriter.query(
        `INSERT INTO line_items (id, order_id, sku_code, name, quantity, unit_amount_cents, total_amount_cents, metadata, created_at, updated_at)
         SELECT c1, c2, 'SKU' || (i % 500), 'Item ' || (i % 500),
           1 + i % 3, 500 + (i * 37) % 9500, ${amount}, '{}', ${createdAt} + interval '5 seconds', ${createdAt} + interval '5 seconds'
         ${rows('$3', '$4')}`,
        [batch.from, newest, batch.lineItemIds, batch.orderIds],
      ),
      // reference_origin: where the storefront said the payment came from; the benchmark's
      // list filters on it (80% storefront, 15% pos, 5% admin).
      paymentWriter.query(
        `INSERT INTO stripe_payments (id, order_id, payment_gateway_id, intent_state, stripe_id, client_secret,
           amount_cents, currency_code, stripe_write_version, status, publishable_key, options, receipt_email, mode,
           reference_origin, metadata, created_at, updated_at)
         SELECT c1, c2, $3, 'created', c3, c4,
           ${amount}, 'EUR', 0, 'requires_payment_method', 'pk_test_bench', '{}', 'shopper' || i || '@example.com', 'test',
           CASE WHEN i % 20 < 16 THEN 'storefront' WHEN i % 20 < 19 THEN 'pos' ELSE 'admin' END, '{}',
           ${createdAt} + interval '15 seconds', ${createdAt} + interval '16 seconds'
         ${rows('$4', '$5', '$6', '$7')}`,
        [batch.from, newest, gatewayId, batch.paymentIds, batch.orderIds, batch.intentIds, batch.clientSecrets],
      ),
    ]);
  }

  /** Up to `count` visible payment ids drawn at random over the whole table. */
  async samplePaymentIds(count: number): Promise<string[]> {
    const { rows } = await this.client.query<{ id: string }>(
      `SELECT id FROM stripe_payments WHERE intent_state = 'created' ORDER BY random() LIMIT $1`,
      [count],
    );
    return rows.map((row) => row.id);
  }

  /** Bulk-loaded order ids, newest first: targets for POST /api/stripe_payments. */
  orderIds(count: number): string[] {
    return Array.from({ length: Math.min(count, this.rows) }, (_, index) => benchId(index + 1, salts.order));
  }

  private freshRows = 0;

  /**
   * `count` orders no payment was ever created for (draft, EUR, one line item, the
   * fixture's payment method, no payment source): a create on each is a checkout's first,
   * for the API and for the baseline alike. Numbered after the bulk rows' space, so their
   * ids never meet the table's.
   */
  async freshOrders(count: number): Promise<string[]> {
    const from = maxRows + this.freshRows + 1;
    this.freshRows += count;
    const numbers = Array.from({ length: count }, (_, index) => from + index);
    const orderIds = numbers.map((n) => benchId(n, salts.order));
    const lineItemIds = numbers.map((n) => benchId(n, salts.lineItem));
    await this.client.query(
      `INSERT INTO orders (id, status, payment_status, currency_code, customer_email, language_code,
         subtotal_amount_cents, payment_method_amount_cents, total_amount_cents, metadata, payment_method_id, updated_at)
       SELECT u.id, 'draft', 'unpaid', 'EUR', 'shopper@example.com', 'en', 2500, 0, 2500, '{}', $2, now()
       FROM unnest($1::text[]) AS u(id)`,
      [orderIds, this.fixture.paymentMethodId],
    );
    await this.client.query(
      `INSERT INTO line_items (id, order_id, sku_code, name, quantity, unit_amount_cents, total_amount_cents, metadata, updated_at)
       SELECT u.id, u.order_id, 'SKU1', 'Item 1', 2, 1250, 2500, '{}', now() FROM unnest($1::text[], $2::text[]) AS u(id, order_id)`,
      [lineItemIds, orderIds],
    );
    await this.client.query('ANALYZE orders, line_items');
    return orderIds;
  }

  /** Payments created through the API since `since`: their PaymentIntents exist at the stand-in. */
  /** Payments the API created since then that are still their order's: a payment replaced by a later one for the same order has a canceled PaymentIntent, which `_update` rightly refuses. */
  async apiCreatedPaymentIds(since: Date): Promise<string[]> {
    const { rows } = await this.client.query<{ id: string }>(
      `SELECT id FROM stripe_payments WHERE intent_state = 'created' AND superseded_at IS NULL AND created_at >= $1 ORDER BY created_at`,
      [since],
    );
    return rows.map((row) => row.id);
  }

  async query<T extends pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<T[]> {
    return (await this.client.query<T>(text, values)).rows;
  }

  async close(): Promise<void> {
    for (const client of [this.client, ...this.writers]) await client.end();
  }
}
