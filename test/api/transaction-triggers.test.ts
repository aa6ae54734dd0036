import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { api, startTestContext, type TestContext } from '../support/context.ts';
import { confirm, getOrder, payableOrder, paymentStatusAfterWebhooks, trigger, type PayableOrder } from '../support/payments.ts';

// Commerce Layer's way of moving an order's money: triggers on its transactions. They are
// the order's triggers run for the transaction's order, so however the two ways are mixed,
// retried or raced, money moves at most once.

let context: TestContext;
beforeAll(async () => {
  context = await startTestContext();
});
afterEach(() => {
  context.standin.clearFaults();
});
afterAll(async () => {
  await context?.close();
});

async function placed(): Promise<PayableOrder & { authorizationId: string }> {
  const order = await payableOrder(context);
  await confirm(order);
  expect(await paymentStatusAfterWebhooks(context, order.orderId)).toBe('authorized');
  const response = await trigger(context, order.orderId, { _place: true });
  expect(response.status, response.text).toBe(200);
  const authorizations = await api(context).get(`/api/orders/${order.orderId}/authorizations`);
  return { ...order, authorizationId: authorizations.body.data[0].id as string };
}

function patch(type: string, id: string, attributes: Record<string, unknown>, headers: Record<string, string> = {}) {
  const request = api(context).patch(`/api/${type}/${id}`, { data: { type, id, attributes } });
  for (const [name, value] of Object.entries(headers)) request.set(name, value);
  return request;
}

function stripeCalls(order: PayableOrder, suffix: string) {
  return context.standin.requestLog().filter((entry) => entry.method === 'POST' && entry.path === `/v1/payment_intents/${order.paymentIntentId}${suffix}`);
}

async function capturesOf(orderId: string) {
  const response = await api(context).get(`/api/orders/${orderId}/captures`);
  return response.body.data as { id: string; attributes: Record<string, any> }[];
}

describe('_capture and _void on an authorization, _refund on a capture', () => {
  it('captures part of an authorization, then refunds the capture in two steps', async () => {
    const order = await placed();
    const captured = await patch('authorizations', order.authorizationId, { _capture: true, _capture_amount_cents: 1000 });
    expect(captured.status, captured.text).toBe(200);
    expect(captured.body.data.type).toBe('authorizations');
    expect(captured.body.data.attributes).toMatchObject({ amount_cents: 2500, capture_balance_cents: 1500, void_balance_cents: 0 });
    const intent = context.standin.paymentIntents().find((pi) => pi.id === order.paymentIntentId)!;
    expect(intent).toMatchObject({ status: 'succeeded', amount_received: 1000 });
    const [capture] = await capturesOf(order.orderId);
    expect(capture!.attributes).toMatchObject({ amount_cents: 1000, succeeded: true, refund_balance_cents: 1000 });
    expect((await getOrder(context, order.orderId)).data.attributes.payment_status).toBe('paid');

    const part = await patch('captures', capture!.id, { _refund: true, _refund_amount_cents: 400 });
    expect(part.status, part.text).toBe(200);
    expect(part.body.data.attributes.refund_balance_cents).toBe(600);
    const rest = await patch('captures', capture!.id, { _refund: true });
    expect(rest.status, rest.text).toBe(200);
    expect(rest.body.data.attributes.refund_balance_cents).toBe(0);
    const again = await patch('captures', capture!.id, { _refund: true });
    expect(again.status).toBe(422);
    expect(again.body.errors[0]).toMatchObject({ code: 'VALIDATION_ERROR', source: { pointer: '/data/attributes/_refund' } });
    const refunds = await api(context).get(`/api/captures/${capture!.id}/refunds`);
    expect(refunds.body.data.map((refund: { attributes: { amount_cents: number } }) => refund.attributes.amount_cents).sort()).toEqual([400, 600]);
    expect((await getOrder(context, order.orderId)).data.attributes.payment_status).toBe('refunded');
  });

  it('refuses a capture above the authorized amount, and a parameter without its trigger, naming the field', async () => {
    const order = await placed();
    const tooMuch = await patch('authorizations', order.authorizationId, { _capture: true, _capture_amount_cents: 2501 });
    expect(tooMuch.status).toBe(422);
    expect(tooMuch.body.errors[0]).toMatchObject({ source: { pointer: '/data/attributes/_capture_amount_cents' } });
    const alone = await patch('authorizations', order.authorizationId, { _capture_amount_cents: 100 });
    expect(alone.status).toBe(422);
    expect(alone.body.errors[0].source.pointer).toBe('/data/attributes/_capture_amount_cents');
    expect(stripeCalls(order, '/capture')).toHaveLength(0);
  });

  it('voids an authorization: the PaymentIntent is canceled, the order stays placed and cannot be captured', async () => {
    const order = await placed();
    const voided = await patch('authorizations', order.authorizationId, { _void: true });
    expect(voided.status, voided.text).toBe(200);
    expect(voided.body.data.attributes.void_balance_cents).toBe(0);
    expect(context.standin.paymentIntents().find((pi) => pi.id === order.paymentIntentId)!.status).toBe('canceled');
    const body = await getOrder(context, order.orderId, '?include=voids');
    expect(body.data.attributes).toMatchObject({ status: 'placed', payment_status: 'voided' });
    expect(body.included!.map((resource) => resource.type)).toEqual(['voids']);
    const capture = await patch('authorizations', order.authorizationId, { _capture: true });
    expect(capture.status).toBe(422);
    expect((await trigger(context, order.orderId, { _capture: true })).status).toBe(422);
    expect((await patch('authorizations', order.authorizationId, { _void: true })).status).toBe(422);
    expect(stripeCalls(order, '/cancel')).toHaveLength(1);
    expect(stripeCalls(order, '/capture')).toHaveLength(0);
  });

  it('a capture of the order and one of its authorization capture once, in either order', async () => {
    const order = await placed();
    expect((await trigger(context, order.orderId, { _capture: true })).status).toBe(200);
    const second = await patch('authorizations', order.authorizationId, { _capture: true });
    expect(second.status).toBe(422);
    expect(second.body.errors[0].detail).toContain('already captured');
    // A refund of the capture and one of the order share what is left to refund.
    const [capture] = await capturesOf(order.orderId);
    expect((await patch('captures', capture!.id, { _refund: true, _refund_amount_cents: 2000 })).status).toBe(200);
    const tooMuch = await trigger(context, order.orderId, { _refund: true, _refund_amount_cents: 501 });
    expect(tooMuch.status).toBe(422);
    expect(stripeCalls(order, '/capture')).toHaveLength(1);
  });

  it('_capture sent at once to the authorization and to the order: one capture at Stripe', async () => {
    const order = await placed();
    // The first capture to reach Stripe waits there, so the other request arrives while it is in flight.
    context.standin.injectFaults({ kind: 'delay', ms: 700, times: 1, match: { method: 'POST', pathPrefix: `/v1/payment_intents/${order.paymentIntentId}/capture` } });
    const [viaAuthorization, viaOrder] = await Promise.all([
      patch('authorizations', order.authorizationId, { _capture: true }).then((response) => response),
      trigger(context, order.orderId, { _capture: true }).then((response) => response),
    ]);
    const statuses = [viaAuthorization.status, viaOrder.status].sort();
    expect(statuses[0], `${viaAuthorization.text} ${viaOrder.text}`).toBe(200);
    expect([409, 422]).toContain(statuses[1]);
    expect(stripeCalls(order, '/capture')).toHaveLength(1);
    const captures = await capturesOf(order.orderId);
    expect(captures).toHaveLength(1);
    expect(captures[0]!.attributes.amount_cents).toBe(2500);
  }, 30_000);

  it('a retried _capture (same Idempotency-Key) replays its answer without a second capture', async () => {
    const order = await placed();
    const key = `capture-${order.authorizationId}`;
    const first = await patch('authorizations', order.authorizationId, { _capture: true }, { 'Idempotency-Key': key });
    const retry = await patch('authorizations', order.authorizationId, { _capture: true }, { 'Idempotency-Key': key });
    expect([first.status, retry.status]).toEqual([200, 200]);
    expect(stripeCalls(order, '/capture')).toHaveLength(1);
  });

  it('takes reference, reference_origin and metadata on every kind, and keeps its own keys out of metadata', async () => {
    const order = await placed();
    const key = `capture-meta-${order.authorizationId}`;
    expect((await trigger(context, order.orderId, { _capture: true })).status).toBe(200);
    const [capture] = await capturesOf(order.orderId);
    expect((await patch('captures', capture!.id, { _refund: true, _refund_amount_cents: 100 }, { 'Idempotency-Key': key })).status).toBe(200);
    const refunds = await api(context).get(`/api/captures/${capture!.id}/refunds`);
    const other = await placed();
    expect((await patch('authorizations', other.authorizationId, { _void: true })).status).toBe(200);
    const voids = await api(context).get(`/api/orders/${other.orderId}/voids`);
    const targets: [string, string][] = [
      ['authorizations', order.authorizationId],
      ['captures', capture!.id],
      ['refunds', refunds.body.data[0].id],
      ['voids', voids.body.data[0].id],
    ];
    for (const [type, id] of targets) {
      const updated = await patch(type, id, { reference: `ref-${type}`, reference_origin: 'erp', metadata: { batch: 7 } });
      expect(updated.status, updated.text).toBe(200);
      expect(updated.body.data.attributes).toMatchObject({ reference: `ref-${type}`, reference_origin: 'erp', metadata: { batch: 7 } });
      const found = await api(context).get(`/api/${type}?filter[q][reference_eq]=ref-${type}`);
      expect(found.body.data.map((row: { id: string }) => row.id)).toContain(id);
    }
    // Gateway fields are Stripe's to set.
    const refused = await patch('captures', capture!.id, { amount_cents: 1 });
    expect(refused.status).toBe(400);
    // The refund still knows the request that made it: a retry of that request does not refund twice.
    const stored = await context.db.transaction.findUniqueOrThrow({ where: { id: refunds.body.data[0].id } });
    expect(Object.keys(stored.metadata as object).sort()).toEqual(['batch', 'idempotency_key_digest']);
    const retry = await patch('captures', capture!.id, { _refund: true, _refund_amount_cents: 100 }, { 'Idempotency-Key': key });
    expect(retry.status).toBe(200);
    expect((await api(context).get(`/api/captures/${capture!.id}/refunds`)).body.data).toHaveLength(1);
  });

  it('_refund sent at once to the capture and to the order: one refund at Stripe', async () => {
    const order = await placed();
    expect((await trigger(context, order.orderId, { _capture: true })).status).toBe(200);
    const [capture] = await capturesOf(order.orderId);
    context.standin.injectFaults({ kind: 'delay', ms: 700, times: 1, match: { method: 'POST', pathPrefix: '/v1/refunds' } });
    const refundsBefore = context.standin.requestLog().filter((entry) => entry.method === 'POST' && entry.path === '/v1/refunds').length;
    const answers = await Promise.all([
      patch('captures', capture!.id, { _refund: true }).then((response) => response),
      trigger(context, order.orderId, { _refund: true }).then((response) => response),
    ]);
    const statuses = answers.map((answer) => answer.status).sort();
    expect(statuses[0], answers.map((answer) => answer.text).join(' ')).toBe(200);
    expect([409, 422]).toContain(statuses[1]);
    const refunds = context.standin.requestLog().filter((entry) => entry.method === 'POST' && entry.path === '/v1/refunds');
    expect(refunds.length - refundsBefore).toBe(1);
    expect((await api(context).get(`/api/captures/${capture!.id}/refunds`)).body.data).toHaveLength(1);
  }, 30_000);

  it('_void on the authorization racing _cancel on the order: one cancellation at Stripe', async () => {
    const order = await placed();
    context.standin.injectFaults({ kind: 'delay', ms: 700, times: 1, match: { method: 'POST', pathPrefix: `/v1/payment_intents/${order.paymentIntentId}/cancel` } });
    const answers = await Promise.all([
      patch('authorizations', order.authorizationId, { _void: true }).then((response) => response),
      trigger(context, order.orderId, { _cancel: true }).then((response) => response),
    ]);
    expect(answers.map((answer) => answer.status), answers.map((answer) => answer.text).join(' ')).toContain(200);
    expect(stripeCalls(order, '/cancel')).toHaveLength(1);
    expect((await api(context).get(`/api/orders/${order.orderId}/voids`)).body.data).toHaveLength(1);
  }, 30_000);

  it('a _capture whose answer was lost is retried with the same Idempotency-Key: one capture at Stripe', async () => {
    const order = await placed();
    // Stripe captures, then the connection drops before the answer; the SDK's retries carry the same key.
    context.standin.injectFaults({ kind: 'drop_after_processing', times: 1, match: { method: 'POST', pathPrefix: `/v1/payment_intents/${order.paymentIntentId}/capture` } });
    const key = `lost-${order.authorizationId}`;
    const first = await patch('authorizations', order.authorizationId, { _capture: true, _capture_amount_cents: 1200 }, { 'Idempotency-Key': key });
    const retry = first.status === 200 ? first : await patch('authorizations', order.authorizationId, { _capture: true, _capture_amount_cents: 1200 }, { 'Idempotency-Key': key });
    expect(retry.status, retry.text).toBe(200);
    const intent = context.standin.paymentIntents().find((pi) => pi.id === order.paymentIntentId)!;
    expect(intent.amount_received).toBe(1200);
    const idempotencyKeys = new Set(stripeCalls(order, '/capture').map((entry) => entry.idempotencyKey));
    expect(idempotencyKeys.size).toBe(1);
    const captures = await capturesOf(order.orderId);
    expect(captures.map((capture) => capture.attributes.amount_cents)).toEqual([1200]);
  }, 30_000);
});
