import { JsonApiError } from '../jsonapi/errors.ts';

/**
 * What a database failure means for the client, as pure functions of the error (duck-typed:
 * no Prisma import here). Two kinds: outcomes a client's request can cause (a missing
 * related record, a taken unique value), answered 4xx, and "the database is not there right
 * now", answered 503 with Retry-After: the request did not fail for what it asked, and a
 * retry may succeed.
 */

// Driver adapter error kinds that mean "the database is not there right now", not "your request is wrong".
const unavailableKinds = new Set(['DatabaseNotReachable', 'ConnectionClosed', 'SocketTimeout', 'TooManyConnections', 'DatabaseDoesNotExist']);

// node-postgres's own errors for a connection that died under a request (terminated by an
// administrator, a restart or a failover), which reach us unwrapped.
const lostConnectionMessages = /timeout exceeded when trying to connect|Client has encountered a connection error and is not queryable|Connection terminated/;

// What node-postgres reports bare, from reads sent past Prisma: the socket's own errors.
const unreachableSocketCodes = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);

/** SQLSTATE 57P01-57P03 (the server is shutting down or starting) and class 08 (connection exceptions). */
function isUnavailableSqlState(code: unknown): boolean {
  return typeof code === 'string' && /^(57P0[123]|08[0-9A-Z]{3})$/.test(code);
}

type DriverAdapterCause = { kind?: string; code?: string };

/** What the driver adapter said under a Prisma error: Prisma wraps it in meta; one thrown at COMMIT or ROLLBACK reaches us bare, its cause alongside. */
function driverAdapterCause(error: { meta?: unknown }): DriverAdapterCause | undefined {
  const bare = (error as { name?: unknown }).name === 'DriverAdapterError' ? ((error as { cause?: unknown }).cause as DriverAdapterCause | undefined) : undefined;
  return (error.meta as { driverAdapterError?: { cause?: DriverAdapterCause } } | undefined)?.driverAdapterError?.cause ?? bare;
}

export function isDatabaseUnavailable(error: { code?: string; meta?: unknown }): boolean {
  // P2028: no transaction could start in time; the pool's own timeout: every connection busy.
  if (error.code === 'P1001' || error.code === 'P1002' || error.code === 'P1017' || error.code === 'P2028') return true;
  if (lostConnectionMessages.test(String((error as { message?: unknown }).message ?? ''))) return true;
  if (error.code !== undefined && (unreachableSocketCodes.has(error.code) || isUnavailableSqlState(error.code))) return true;
  const cause = driverAdapterCause(error);
  if (cause?.kind !== undefined && unavailableKinds.has(cause.kind)) return true;
  // The request did not fail for what it asked, a retry may succeed.
  return cause?.kind === 'postgres' && isUnavailableSqlState(cause.code);
}

/**
 * SQLSTATE 55P03: a lock not granted within the connection's lock timeout (src/db/client.ts),
 * sent bare by the SQL transactions and inside Prisma's error from its own.
 */
function isLockTimeout(error: { code?: string; meta?: unknown }): boolean {
  return error.code === '55P03' || driverAdapterCause(error)?.code === '55P03';
}

/**
 * The JSON:API error a database failure answers with, or undefined when the error is not
 * one the database layer explains (the caller decides what it is). `method` tells a
 * DELETE refused by dependent rows (423) from a write naming a missing related record (422).
 */
export function databaseErrorToJsonApi(error: { code?: string; meta?: unknown }, method: string): JsonApiError | undefined {
  if (error.code === 'P2003') {
    return method === 'DELETE'
      ? new JsonApiError(423, [{ title: 'Locked', detail: 'The resource cannot be deleted: other resources depend on it.', code: 'LOCKED' }])
      : new JsonApiError(422, [{ title: 'is invalid', detail: 'A related resource does not exist.', code: 'VALIDATION_ERROR' }]);
  }
  if (error.code === 'P2002') {
    // A unique field (a customer's email, a market's code) that another record already has.
    const cause = error.meta as { driverAdapterError?: { cause?: { constraint?: { fields?: string[] } } }; target?: string[] } | undefined;
    const field = cause?.driverAdapterError?.cause?.constraint?.fields?.[0] ?? cause?.target?.[0];
    const name = field?.replace(/"/g, '');
    return new JsonApiError(422, [
      {
        title: 'has already been taken',
        detail: `${name ?? 'a unique field'} - has already been taken`,
        code: 'VALIDATION_ERROR',
        ...(name ? { source: { pointer: `/data/attributes/${name}` } } : {}),
      },
    ]);
  }
  if (isLockTimeout(error)) {
    return new JsonApiError(
      503,
      [{ title: 'Service unavailable', detail: 'Another request holds a record this one needs. Please retry shortly.', code: 'SERVICE_UNAVAILABLE' }],
      { 'retry-after': '1' },
    );
  }
  if (error.code === 'P2025') return new JsonApiError(404, [{ title: 'Record not found', detail: 'The requested resource was not found.', code: 'RECORD_NOT_FOUND' }]);
  if (isDatabaseUnavailable(error)) {
    return new JsonApiError(
      503,
      [{ title: 'Service unavailable', detail: 'The database is unavailable. Please retry shortly.', code: 'SERVICE_UNAVAILABLE' }],
      { 'retry-after': '2' },
    );
  }
  return undefined;
}
