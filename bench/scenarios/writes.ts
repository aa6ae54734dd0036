// Writes: POST and PATCH of stripe payments (each a Stripe call through the stand-in), a
// token, and POSTs beside the list's table-wide counts.
import type { Bench } from '../bench.ts';
import { measure, type Measurement } from '../measure.ts';
import { onApi } from './profile.ts';

/** Orders to pay, as many as a POST run can use. */
export const orderIds = (bench: Bench) => bench.loader.orderIds(20_000);

/** POST /api/stripe_payments, then PATCH {_update} of the payments it created (their ids, for the memory mix). */
export async function measureWrites(bench: Bench): Promise<{ create: Measurement; update: Measurement; created: string[] }> {
  const { requests } = bench;
  const createStarted = new Date(Date.now() - 1_000);
  const create = await onApi(bench, 'create', (target) => measure(bench, 'POST /api/stripe_payments', target, [requests.create(orderIds(bench))]));
  const created = await bench.loader.apiCreatedPaymentIds(createStarted);
  if (created.length === 0) throw new Error('POST created no payments: nothing to PATCH');
  const update = await onApi(bench, 'update', (target) => measure(bench, 'PATCH /api/stripe_payments/:id {_update}', target, [requests.update(created)]));
  return { create, update, created };
}

export function measureToken(bench: Bench): Promise<Measurement> {
  return measure(bench, 'POST /oauth/token', bench.api, [bench.requests.token()]);
}

/**
 * A list's count holds a pool connection for as long as it scans: what that does to
 * writes arriving at the same time.
 */
export function measureWritesBesideCounts(bench: Bench, size: number): Promise<Measurement> {
  return measure(bench, `list and POST side by side @${size}`, bench.api, [bench.requests.list(), bench.requests.create(orderIds(bench))]);
}
