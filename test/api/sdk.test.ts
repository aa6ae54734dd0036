import { CommerceLayer, type CommerceLayerBundle } from '@commercelayer/sdk/bundle';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCheckout, startTestContext, type TestContext } from '../support/context.ts';
import { confirm, payableOrder, paymentStatusAfterWebhooks } from '../support/payments.ts';

let context: TestContext;
let cl: CommerceLayerBundle;

beforeAll(async () => {
  context = await startTestContext();
  const { port } = context.app.server.address() as { port: number };
  cl = CommerceLayer({
    accessToken: context.token,
    // The SDK always builds https://{organization}.{domain}/api/...: send it to our server.
    fetch: (input, init) => {
      const url = new URL(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url);
      return fetch(`http://127.0.0.1:${port}${url.pathname}${url.search}`, init);
    },
  });
});
afterAll(async () => {
  await context?.close();
});

describe('the official @commercelayer/sdk against our server', () => {
  it('creates a stripe payment and reads it back with its order included', async () => {
    const { orderId } = await createCheckout(context, { lines: [{ quantity: 1, unit_amount_cents: 4200 }] });
    const payment = await cl.stripe_payments.create({ order: cl.orders.relationship(orderId), reference: 'sdk-1' });
    expect(payment.client_secret).toMatch(/^pi_\w+_secret_\w+$/);

    const read = await cl.stripe_payments.retrieve(payment.id, { include: ['order', 'payment_gateway'] });
    expect(read.reference).toBe('sdk-1');
    expect(read.order?.id).toBe(orderId);
    expect(read.order?.total_amount_cents).toBe(4200);
    expect(read.payment_gateway?.id).toBeDefined();

    const order = await cl.stripe_payments.order(payment.id);
    expect(order.id).toBe(orderId);
  });

  it('lists with filters, sorting and paging', async () => {
    const marker = `sdk-list-${Date.now()}`;
    for (let i = 0; i < 3; i += 1) {
      const { orderId } = await createCheckout(context);
      await cl.stripe_payments.create({ order: cl.orders.relationship(orderId), reference: marker, reference_origin: String(i) });
    }
    const page = await cl.stripe_payments.list({
      filters: { reference_eq: marker },
      sort: { reference_origin: 'desc' },
      pageSize: 2,
      pageNumber: 1,
    });
    expect(page.recordCount).toBe(3);
    expect(page.pageCount).toBe(2);
    expect([...page].map((payment) => payment.reference_origin)).toEqual(['2', '1']);
  });

  it('updates with _update and _refresh, then deletes', async () => {
    const { orderId } = await createCheckout(context, { lines: [{ quantity: 1, unit_amount_cents: 1000 }] });
    const payment = await cl.stripe_payments.create({ order: cl.orders.relationship(orderId) });
    await cl.line_items.create({ order: cl.orders.relationship(orderId), quantity: 1, unit_amount_cents: 500 });
    const stale = await cl.stripe_payments.retrieve(payment.id);
    expect(stale.mismatched_amounts).toBe(true);

    const updated = await cl.stripe_payments.update({ id: payment.id, _update: true, metadata: { step: 'updated' } });
    expect(updated.mismatched_amounts).toBe(false);
    expect(updated.metadata).toEqual({ step: 'updated' });
    const intent = context.standin.paymentIntents().find((pi) => pi.id === payment.stripe_id)!;
    expect(intent.amount).toBe(1500);

    const refreshed = await cl.stripe_payments.update({ id: payment.id, _refresh: true });
    expect(refreshed.id).toBe(payment.id);

    await cl.stripe_payments.delete(payment.id);
    await expect(cl.stripe_payments.retrieve(payment.id)).rejects.toMatchObject({ status: 404 });
    expect(context.standin.paymentIntents().find((pi) => pi.id === payment.stripe_id)?.status).toBe('canceled');
  });

  it('captures part of an authorization, refunds the capture, lists transactions and reads versions', async () => {
    const order = await payableOrder(context);
    await confirm(order);
    expect(await paymentStatusAfterWebhooks(context, order.orderId)).toBe('authorized');
    await cl.orders._place(order.orderId);
    const [authorization] = await cl.orders.authorizations(order.orderId);
    const captured = await cl.authorizations.update({ id: authorization!.id, _capture: true, _capture_amount_cents: 2000 });
    expect(captured.capture_balance_cents).toBe(500);
    const [capture] = await cl.authorizations.captures(authorization!.id);
    expect(capture!.amount_cents).toBe(2000);
    const refunded = await cl.captures.update({ id: capture!.id, _refund: true, _refund_amount_cents: 700 });
    expect(refunded.refund_balance_cents).toBe(1300);
    await cl.captures._refund(capture!.id);
    expect((await cl.captures.retrieve(capture!.id)).refund_balance_cents).toBe(0);
    const withReference = await cl.captures.update({ id: capture!.id, reference: 'sdk-capture', metadata: { erp: 'C-1' } });
    expect(withReference).toMatchObject({ reference: 'sdk-capture', metadata: { erp: 'C-1' } });

    const transactions = await cl.transactions.list({ filters: { token_eq: order.paymentIntentId }, sort: { created_at: 'asc' } });
    expect([...transactions].map((transaction) => transaction.type)).toEqual(['authorizations', 'captures', 'refunds', 'refunds']);
    expect(transactions.recordCount).toBe(4);
    const one = await cl.transactions.retrieve(capture!.id);
    expect(one).toMatchObject({ type: 'captures', reference: 'sdk-capture' });

    // Versions through include: this SDK release has no versions resource of its own.
    const withVersions = (await cl.captures.retrieve(capture!.id, { include: ['versions'] })) as unknown as { versions?: { event: string; changes: Record<string, unknown>; who: Record<string, unknown> }[] };
    const events = (withVersions.versions ?? []).map((version) => version.event).sort();
    expect(events).toEqual(['create', 'update', 'update']);
    expect(withVersions.versions!.find((version) => 'reference' in version.changes)?.changes.reference).toEqual([null, 'sdk-capture']);
  });

  it('voids an authorization', async () => {
    const order = await payableOrder(context);
    await confirm(order);
    expect(await paymentStatusAfterWebhooks(context, order.orderId)).toBe('authorized');
    await cl.orders._place(order.orderId);
    const [authorization] = await cl.orders.authorizations(order.orderId);
    const voided = await cl.authorizations._void(authorization!.id);
    expect(voided.void_balance_cents).toBe(0);
    const [voidRecord] = await cl.authorizations.voids(authorization!.id);
    expect(voidRecord!.amount_cents).toBe(2500);
    expect((await cl.orders.retrieve(order.orderId)).payment_status).toBe('voided');
    expect(context.standin.paymentIntents().find((pi) => pi.id === order.paymentIntentId)!.status).toBe('canceled');
  });
});
