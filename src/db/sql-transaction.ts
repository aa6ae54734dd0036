import type pg from 'pg';
import type { Prisma } from '../generated/prisma/client.ts';

/**
 * A transaction on one connection of the pool, past Prisma's engine: BEGIN, named
 * statements (parsed and planned once per connection), COMMIT. Prisma's interactive
 * transaction costs about 0.3 ms of CPU of its own per transaction (its transaction
 * manager, timers and per-call serialisation) before any statement; the money path's
 * writes, the requests the API exists for, run here instead.
 *
 * The domain's transaction functions take either kind (`AnyTx`): statements go through
 * `run`, which sends them by name on this kind and through `$queryRawUnsafe` on Prisma's.
 * What is written only for Prisma's client (a model delegate) asks for it with
 * `prismaOf`; on this kind that throws `PrismaNeeded`, and `inFastTransaction`
 * (src/payments/locks.ts) rolls back and runs the same work again in a Prisma transaction.
 * So a path is fast where every statement it takes is SQL here, and correct everywhere.
 */

/** A statement sent by name: one name per text in the whole process. */
export interface Statement {
  name: string;
  text: string;
}

export interface SqlTransaction {
  readonly kind: 'sql';
  /** Rows as objects of column values, timestamps read as UTC. */
  query<Row = Record<string, unknown>>(statement: Statement, values?: readonly unknown[]): Promise<Row[]>;
}

export type AnyTx = Prisma.TransactionClient | SqlTransaction;

export function isSqlTransaction(tx: AnyTx): tx is SqlTransaction {
  return (tx as Partial<SqlTransaction>).kind === 'sql';
}

/** One statement in either kind of transaction. */
export function run<Row = Record<string, unknown>>(tx: AnyTx, statement: Statement, values: readonly unknown[] = []): Promise<Row[]> {
  return isSqlTransaction(tx) ? tx.query<Row>(statement, values) : tx.$queryRawUnsafe<Row[]>(statement.text, ...values);
}

/** Thrown by `prismaOf` in a SQL transaction: the work is run again in a Prisma one. */
export class PrismaNeeded extends Error {
  constructor() {
    super('this step needs a Prisma transaction');
  }
}

/** The Prisma client of a Prisma transaction; in a SQL transaction, asks for the work to run in one. */
export function prismaOf(tx: AnyTx): Prisma.TransactionClient {
  if (isSqlTransaction(tx)) throw new PrismaNeeded();
  return tx;
}

/** Runs `work` in a SQL transaction: committed when it resolves, rolled back when it throws. */
export type SqlTransactions = <T>(work: (tx: SqlTransaction) => Promise<T>) => Promise<T>;

export interface SqlTransactionOptions {
  /** False behind a transaction pooler: statements go unnamed (src/db/client.ts says why). */
  named: boolean;
  types: pg.CustomTypesConfig;
  /** Set by each transaction itself, where the connection's session cannot carry it (behind a transaction pooler). */
  lockTimeoutMs?: number;
}

const begin: Statement = { name: 'tx BEGIN', text: 'BEGIN' };
const commit: Statement = { name: 'tx COMMIT', text: 'COMMIT' };
const rollback: Statement = { name: 'tx ROLLBACK', text: 'ROLLBACK' };
const setLockTimeout: Statement = { name: 'tx lock_timeout', text: "SELECT set_config('lock_timeout', $1, true)" };

export function sqlTransactions(pool: pg.Pool, options: SqlTransactionOptions): SqlTransactions {
  const send = async <Row>(client: pg.PoolClient, statement: Statement, values: readonly unknown[] = []): Promise<Row[]> => {
    const config = { name: options.named ? statement.name : undefined, text: statement.text, values: values as unknown[], types: options.types };
    const result = await client.query(config);
    return result.rows as Row[];
  };
  return async (work) => {
    const client = await pool.connect();
    // A connection whose ROLLBACK failed is in an unknown state: the pool drops it instead of reusing it.
    let unusable: Error | undefined;
    try {
      await send(client, begin);
      if (options.lockTimeoutMs !== undefined) await send(client, setLockTimeout, [`${options.lockTimeoutMs}ms`]);
      const tx: SqlTransaction = { kind: 'sql', query: (statement, values) => send(client, statement, values) };
      const result = await work(tx);
      await send(client, commit);
      return result;
    } catch (error) {
      await send(client, rollback).catch((rollbackError: unknown) => {
        unusable = rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError));
      });
      throw error;
    } finally {
      client.release(unusable);
    }
  };
}
