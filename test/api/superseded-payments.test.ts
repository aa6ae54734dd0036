import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { reconcilePayments } from '../../src/payments/reconcile.ts';
import type { Services } from '../../src/services.ts';
import { api, createCheckout, domainServices, startTestContext, type TestContext } from '../support/context.ts';
import { confirm, getOrder, stripeClient, trigger, type PayableOrder } from '../support/payments.ts';

// At most one live PaymentIntent per order: a payment that replaces the order's payment
// source supersedes the others, whose PaymentIntents are cancelled, voided or refunded.

let context: TestContext;
let services: Services;
beforeAll(async () => {
  context = await startTestContext();
  services = domainServices(context);
});
afterEach(async () => {
  context.standin.clearFaults();
  context.standin.releaseWebhooks();
  // Nothing of one test reaches the app during the next (a release would take its faults).
  await context.standin.webhooksIdle();
});
afterAll(async () => {
  await context?.close();
});

/** A stripe payment as a storefront tab creates it; `description` tells two tabs' requests apart. */
async function createPayment(orderId: string, description: string) {
  return api(context).post('/api/stripe_payments', {
    data: { type: 'stripe_payments', attributes: { options: { description } }, relationships: { order: { data: { type: 'orders', id: orderId } } } },
  });
}

async function tab(checkout: Awaited<ReturnType<typeof createCheckout>>, description: string): Promise<PayableOrder> {
  const response = await createPayment(checkout.orderId, description);
  if (response.status !== 201) throw new Error(`${response.status} ${response.text}`);
  return {
    ...checkout,
    paymentId: response.body.data.id as string,
    paymentIntentId: response.body.data.attributes.stripe_id as string,
    stripe: stripeClient(context, checkout.secretKey),
  };
}

function intentsOf(orderId: string) {
  return context.standin.paymentIntents().filter((pi) => pi.metadata.order_id === orderId);
}

function intent(id: string) {
  return context.standin.paymentIntents().find((pi) => pi.id === id)!;
}

async function transactionsOf(paymentIntentId: string) {
  return context.db.transaction.findMany({ where: { token: paymentIntentId }, orderBy: { createdAt: 'asc' } });
}

/** The cancel of a superseded PaymentIntent fails at Stripe (more 500s than the SDK retries). */
function failCancels() {
  context.standin.injectFaults({ kind: 'status', status: 500, times: 3, match: { method: 'POST', pathPrefix: '/v1/payment_intents/' } });
}

describe('two tabs, one order', () => {
  it('leaves exactly one live PaymentIntent after two parallel creates, and it is the payment source', async () => {
    const checkout = await createCheckout(context);
    const responses = await Promise.all([createPayment(checkout.orderId, 'tab 1'), createPayment(checkout.orderId, 'tab 2')]);
    expect(responses.map((response) => response.status)).toEqual([201, 201]);
    await context.standin.webhooksIdle();
    const intents = intentsOf(checkout.orderId);
    expect(intents).toHaveLength(2);
    const live = intents.filter((pi) => pi.status !== 'canceled');
    expect(live).toHaveLength(1);
    const order = await context.db.order.findUniqueOrThrow({ where: { id: checkout.orderId } });
    const source = await context.db.stripePayment.findUniqueOrThrow({ where: { id: order.paymentSourceId! } });
    expect(source.stripeId).toBe(live[0]!.id);
    const old = intents.find((pi) => pi.status === 'canceled')!;
    expect(old.cancellation_reason).toBe('duplicate');
    // The old tab's client secret no longer pays anything.
    const stripe = stripeClient(context, checkout.secretKey);
    await expect(stripe.paymentIntents.confirm(old.id, { payment_method: 'pm_card_visa', return_url: 'https://shop.example.com/return' })).rejects.toMatchObject({
      code: 'payment_intent_unexpected_state',
    });
    const superseded = await context.db.stripePayment.findFirstOrThrow({ where: { stripeId: old.id } });
    expect(superseded.supersededAt).not.toBeNull();
    expect(superseded.releasedAt).not.toBeNull();
    // Each cancel carries a key of our ids.
    const cancels = context.standin.requestLog().filter((entry) => entry.path === `/v1/payment_intents/${old.id}/cancel`);
    expect(cancels.map((entry) => entry.idempotencyKey)).toEqual([`stripe_payments/${superseded.id}/release/0`]);
  });

  it('leaves one live PaymentIntent after 20 parallel creates, whichever of them share one', async () => {
    const checkout = await createCheckout(context);
    const responses = await Promise.all(Array.from({ length: 20 }, (_, index) => createPayment(checkout.orderId, `tab ${index % 4}`)));
    const statuses = responses.map((response) => response.status);
    expect(statuses.filter((status) => ![201, 409].includes(status)), JSON.stringify(responses.map((r) => r.body.errors?.[0]))).toEqual([]);
    await context.standin.webhooksIdle();
    const live = intentsOf(checkout.orderId).filter((pi) => pi.status !== 'canceled');
    expect(live).toHaveLength(1);
    const order = await context.db.order.findUniqueOrThrow({ where: { id: checkout.orderId } });
    expect((await context.db.stripePayment.findUniqueOrThrow({ where: { id: order.paymentSourceId! } })).stripeId).toBe(live[0]!.id);
    expect(await context.db.stripePayment.count({ where: { orderId: checkout.orderId, intentState: 'created', supersededAt: { not: null }, releasedAt: null } })).toBe(0);
  }, 60_000);

  it('voids the first tab authorized before the second was created, recorded on the superseded payment', async () => {
    const checkout = await createCheckout(context);
    const first = await tab(checkout, 'tab 1');
    await confirm(first);
    await context.standin.webhooksIdle();
    expect((await getOrder(context, checkout.orderId)).data.attributes.payment_status).toBe('authorized');
    const second = await tab(checkout, 'tab 2');
    await context.standin.webhooksIdle();

    expect(intent(first.paymentIntentId).status).toBe('canceled');
    expect(intent(second.paymentIntentId).status).toBe('requires_payment_method');
    const [voided] = await transactionsOf(first.paymentIntentId);
    expect(voided).toMatchObject({ kind: 'voids', stripePaymentId: first.paymentId, succeeded: true, state: 'recorded', amountCents: 2500 });
    // The order is waiting for the new payment; the old authorization is not its money.
    const order = await getOrder(context, checkout.orderId, '?include=voids');
    expect(order.data.attributes.payment_status).toBe('unpaid');
    expect((await trigger(context, checkout.orderId, { _place: true })).status).toBe(422);
    await confirm(second);
    await context.standin.webhooksIdle();
    const placed = await trigger(context, checkout.orderId, { _place: true });
    expect(placed.status, placed.text).toBe(200);
    expect(placed.body.data.attributes.payment_status).toBe('authorized');
    const captured = await trigger(context, checkout.orderId, { _capture: true });
    expect(captured.status, captured.text).toBe(200);
    expect(captured.body.data.attributes.payment_status).toBe('paid');
  });
});

describe('a release that could not happen at once', () => {
  it('releases a superseded PaymentIntent the shopper authorized anyway, when the webhook says so', async () => {
    const checkout = await createCheckout(context);
    const first = await tab(checkout, 'tab 1');
    failCancels();
    const second = await tab(checkout, 'tab 2');
    context.standin.clearFaults();
    expect(intent(first.paymentIntentId).status).toBe('requires_payment_method');
    const pending = await context.db.stripePayment.findUniqueOrThrow({ where: { id: first.paymentId } });
    expect(pending.supersededAt).not.toBeNull();
    expect(pending.releasedAt).toBeNull();

    // The forgotten tab pays: Stripe authorizes, the webhook tells, the authorization is voided.
    await confirm(first);
    await context.standin.webhooksIdle();
    expect(intent(first.paymentIntentId).status).toBe('canceled');
    expect(await transactionsOf(first.paymentIntentId)).toMatchObject([{ kind: 'voids', stripePaymentId: first.paymentId, succeeded: true, amountCents: 2500 }]);
    expect((await context.db.stripePayment.findUniqueOrThrow({ where: { id: first.paymentId } })).releasedAt).not.toBeNull();
    expect((await getOrder(context, checkout.orderId)).data.attributes.payment_status).toBe('unpaid');
    expect(intent(second.paymentIntentId).status).toBe('requires_payment_method');
  });

  it('refunds a superseded PaymentIntent that was paid anyway, recorded as a refund that is not the order’s', async () => {
    const checkout = await createCheckout(context);
    const first = await tab(checkout, 'tab 1');
    failCancels();
    await tab(checkout, 'tab 2');
    context.standin.clearFaults();
    context.standin.holdWebhooks();
    await confirm(first);
    await first.stripe.paymentIntents.capture(first.paymentIntentId);
    context.standin.releaseWebhooks();
    await context.standin.webhooksIdle();

    const refunds = context.standin.requestLog().filter((entry) => entry.path === '/v1/refunds' && entry.method === 'POST' && entry.body.payment_intent === first.paymentIntentId);
    expect(refunds).toHaveLength(1);
    expect(refunds[0]!.body.amount).toBe('2500');
    const rows = await transactionsOf(first.paymentIntentId);
    expect(rows.filter((row) => row.kind === 'refunds')).toMatchObject([{ stripePaymentId: first.paymentId, succeeded: true, amountCents: 2500 }]);
    expect(rows.filter((row) => row.kind === 'captures')).toEqual([]);
    expect((await context.db.stripePayment.findUniqueOrThrow({ where: { id: first.paymentId } })).releasedAt).not.toBeNull();
    expect((await getOrder(context, checkout.orderId)).data.attributes.payment_status).toBe('unpaid');
  });

  it('is finished by the reconciliation job when no webhook comes (the request died after its commit)', async () => {
    const checkout = await createCheckout(context);
    const first = await tab(checkout, 'tab 1');
    context.standin.holdWebhooks();
    failCancels();
    await tab(checkout, 'tab 2');
    context.standin.clearFaults();
    expect(intent(first.paymentIntentId).status).toBe('requires_payment_method');

    // Untouched for a while: the job claims it.
    await context.db.$executeRaw`UPDATE stripe_payments SET updated_at = now() - interval '1 hour' WHERE id = ${first.paymentId}`;
    const report = await reconcilePayments(services, { olderThanMs: 30 * 60_000 });
    expect(report.paymentIds).toContain(first.paymentId);
    expect(intent(first.paymentIntentId).status).toBe('canceled');
    expect((await context.db.stripePayment.findUniqueOrThrow({ where: { id: first.paymentId } })).releasedAt).not.toBeNull();
    // Done: not claimed again.
    await context.db.$executeRaw`UPDATE stripe_payments SET updated_at = now() - interval '1 hour', reconcile_claimed_at = NULL WHERE id = ${first.paymentId}`;
    expect((await reconcilePayments(services, { olderThanMs: 30 * 60_000 })).paymentIds).not.toContain(first.paymentId);
  });

  it('is released by _refresh, as a webhook would', async () => {
    const checkout = await createCheckout(context);
    const first = await tab(checkout, 'tab 1');
    context.standin.holdWebhooks();
    failCancels();
    await tab(checkout, 'tab 2');
    context.standin.clearFaults();
    await confirm(first);
    const refreshed = await api(context).patch(`/api/stripe_payments/${first.paymentId}`, {
      data: { type: 'stripe_payments', id: first.paymentId, attributes: { _refresh: true } },
    });
    expect(refreshed.status, refreshed.text).toBe(200);
    expect(intent(first.paymentIntentId).status).toBe('canceled');
    expect(refreshed.body.data.attributes.stripe_id).toBe(first.paymentIntentId);
    expect(await transactionsOf(first.paymentIntentId)).toMatchObject([{ kind: 'voids', succeeded: true, amountCents: 2500 }]);
  });

  it('lets an integration release it with DELETE, whatever the order became', async () => {
    const checkout = await createCheckout(context);
    const first = await tab(checkout, 'tab 1');
    context.standin.holdWebhooks();
    failCancels();
    const second = await tab(checkout, 'tab 2');
    context.standin.clearFaults();
    // Webhooks would release it: they are held, as if lost.
    await confirm(first);
    await confirm(second);
    expect((await trigger(context, checkout.orderId, { _place: true })).status).toBe(200);

    const deleted = await api(context).delete(`/api/stripe_payments/${first.paymentId}`);
    expect(deleted.status, deleted.text).toBe(204);
    expect(intent(first.paymentIntentId).status).toBe('canceled');
    expect(intent(second.paymentIntentId).status).toBe('requires_capture');
    expect(await context.db.stripePayment.findUnique({ where: { id: first.paymentId } })).toBeNull();
    const voids = (await transactionsOf(first.paymentIntentId)).filter((row) => row.kind === 'voids');
    expect(voids).toHaveLength(1);
    expect(voids[0]).toMatchObject({ succeeded: true, amountCents: 2500 });
    expect((await getOrder(context, checkout.orderId)).data.attributes.payment_status).toBe('authorized');
  });
});
