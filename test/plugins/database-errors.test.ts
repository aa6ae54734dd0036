import { describe, expect, it } from 'vitest';
import { databaseErrorToJsonApi } from '../../src/plugins/database-errors.ts';

const answer = (error: { code?: string; meta?: unknown; message?: string }, method = 'POST') => {
  const result = databaseErrorToJsonApi(error, method);
  return result && { status: result.status, errors: result.errors, headers: result.headers };
};

describe('database errors as JSON:API errors', () => {
  it('a missing related record: 422 on a write, 423 on a delete that other rows depend on', () => {
    expect(answer({ code: 'P2003' })).toMatchObject({ status: 422, errors: [{ code: 'VALIDATION_ERROR', status: '422' }] });
    expect(answer({ code: 'P2003' }, 'DELETE')).toMatchObject({ status: 423, errors: [{ code: 'LOCKED', status: '423' }] });
  });

  it('a taken unique value names its attribute, from the driver adapter or from Prisma', () => {
    const fromAdapter = answer({ code: 'P2002', meta: { driverAdapterError: { cause: { constraint: { fields: ['"email"'] } } } } });
    expect(fromAdapter?.errors).toEqual([
      { title: 'has already been taken', detail: 'email - has already been taken', code: 'VALIDATION_ERROR', status: '422', source: { pointer: '/data/attributes/email' } },
    ]);
    expect(answer({ code: 'P2002', meta: { target: ['code'] } })?.errors[0]?.source).toEqual({ pointer: '/data/attributes/code' });
    const unnamed = answer({ code: 'P2002' });
    expect(unnamed?.errors[0]).toMatchObject({ detail: 'a unique field - has already been taken' });
    expect(unnamed?.errors[0]?.source).toBeUndefined();
  });

  it('a record gone: 404', () => {
    expect(answer({ code: 'P2025' })).toMatchObject({ status: 404, errors: [{ code: 'RECORD_NOT_FOUND' }] });
  });

  it('a database that is not there: 503 with Retry-After, whatever layer reports it', () => {
    const unavailable = [
      { code: 'P1001' },
      { code: 'P2028' },
      { code: 'ECONNREFUSED' },
      { code: '57P01' },
      { message: 'Connection terminated unexpectedly' },
      { code: 'P2010', meta: { driverAdapterError: { cause: { kind: 'DatabaseNotReachable' } } } },
      { code: 'P2010', meta: { driverAdapterError: { cause: { kind: 'postgres', code: '08006' } } } },
    ];
    for (const error of unavailable) {
      expect(answer(error), JSON.stringify(error)).toMatchObject({ status: 503, errors: [{ code: 'SERVICE_UNAVAILABLE' }], headers: { 'retry-after': '2' } });
    }
  });

  it('leaves any other error to the caller', () => {
    expect(answer({ code: 'P2010', meta: { driverAdapterError: { cause: { kind: 'postgres', code: '23514' } } } })).toBeUndefined();
    expect(answer({ code: 'FST_ERR_CTP_INVALID_JSON_BODY' })).toBeUndefined();
    expect(answer({})).toBeUndefined();
  });
});
