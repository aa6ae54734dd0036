import { randomBytes } from 'node:crypto';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createSecretBox } from '../../src/crypto/secret-box.ts';
import { connectDatabase, type PrismaClient } from '../../src/db/client.ts';
import { newId } from '../../src/ids.ts';
import { toJsonApiError } from '../../src/jsonapi/domain-error-mapping.ts';
import { JsonApiError } from '../../src/jsonapi/errors.ts';
import {
  createStripePayment,
  deleteStripePayment,
  updateStripePayment,
  type StripePaymentChange,
  type StripePaymentOptions,
  type StripePaymentWithOrder,
} from '../../src/payments/stripe-payments.ts';
import { refreshIntent } from '../../src/payments/triggers/refresh-intent.ts';
import { updateIntent } from '../../src/payments/triggers/update-intent.ts';
import type { Services } from '../../src/services.ts';
import { StripeClients } from '../../src/stripe/client.ts';
import { startStripeStandin, type StripeStandin } from '@stripe-payments-api/stripe-standin';
import { testDatabaseUrl } from '../support/test-database-url.ts';

// The payment logic called directly, as the resource will: real database, real SDK, the stand-in.

const secretKey = 'sk_test_x';
let standin: StripeStandin;
let db: PrismaClient;
let services: Services;

beforeAll(async () => {
  standin = await startStripeStandin({ port: 0 });
  const database = connectDatabase(testDatabaseUrl(), { poolMax: 4 });
  db = database.prisma;
  services = {
    db,
    transactions: database.transactions,
    stripe: new StripeClients({ apiUrl: new URL(standin.url), timeoutMs: 5000, maxNetworkRetries: 1 }),
    secretBox: createSecretBox(randomBytes(32)),
    logger: pino({ level: 'silent' }),
  };
});

afterEach(() => {
  standin.clearFaults();
});

afterAll(async () => {
  await db?.$disconnect();
  await standin?.close();
});

interface Checkout {
  gatewayId: string;
  paymentMethodId: string;
  orderId: string;
  lineItemId: string;
}

/** A gateway (unless one is given), a payment method and a draft order of 2 × 12.50 in `currency`. */
async function seedCheckout({ gatewayId, currency = 'EUR', lineItems = true }: { gatewayId?: string; currency?: string; lineItems?: boolean } = {}): Promise<Checkout> {
  const gateway =
    gatewayId ??
    (await db.stripeGateway.create({
      data: { id: newId(), name: 'Stripe', loginEncrypted: services.secretBox.seal(secretKey), publishableKey: 'pk_test_x' },
    })).id;
  const paymentMethod = await db.paymentMethod.create({
    data: { id: newId(), paymentSourceType: 'stripe_payments', currencyCode: currency, paymentGatewayId: gateway },
  });
  const total = lineItems ? 2500 : 0;
  const order = await db.order.create({
    data: {
      id: newId(),
      currencyCode: currency,
      customerEmail: 'shopper@example.com',
      subtotalAmountCents: total,
      totalAmountCents: total,
      paymentMethodId: paymentMethod.id,
    },
  });
  const lineItemId = newId();
  if (lineItems) {
    await db.lineItem.create({
      data: { id: lineItemId, orderId: order.id, skuCode: 'SKU', quantity: 2, unitAmountCents: 1250, totalAmountCents: 2500 },
    });
  }
  return { gatewayId: gateway, paymentMethodId: paymentMethod.id, orderId: order.id, lineItemId };
}

async function seedPayment(options: StripePaymentOptions = {}, checkout?: Checkout) {
  const seeded = checkout ?? (await seedCheckout());
  const payment = await createStripePayment(services, { orderId: seeded.orderId, options });
  return { checkout: seeded, payment, stripeId: payment.stripeId! };
}

/** What a cart change does to the order: new quantity, new totals. */
async function setQuantity(checkout: Checkout, quantity: number): Promise<number> {
  const total = quantity * 1250;
  await db.lineItem.update({ where: { id: checkout.lineItemId }, data: { quantity, totalAmountCents: total } });
  await db.order.update({ where: { id: checkout.orderId }, data: { subtotalAmountCents: total, totalAmountCents: total } });
  return total;
}

/** As the serializer computes it. */
function mismatched(payment: StripePaymentWithOrder): boolean {
  return payment.order.totalAmountCents !== payment.amountCents || payment.order.currencyCode !== payment.currencyCode;
}

async function withOrder(id: string): Promise<StripePaymentWithOrder> {
  return db.stripePayment.findUniqueOrThrow({ where: { id }, include: { order: { select: { totalAmountCents: true, currencyCode: true } } } });
}

/** The shopper paying with Stripe.js, done here with the SDK: confirm with a test card. */
async function confirm(stripeId: string) {
  return services.stripe.forKey(secretKey).paymentIntents.confirm(stripeId, {
    payment_method: 'pm_card_visa',
    return_url: 'https://shop.example.com/return',
  });
}

async function capture(stripeId: string) {
  return services.stripe.forKey(secretKey).paymentIntents.capture(stripeId);
}

function intentAt(stripeId: string) {
  const intent = standin.paymentIntents().find((pi) => pi.id === stripeId);
  if (!intent) throw new Error(`no PaymentIntent ${stripeId} at the stand-in`);
  return intent;
}

function requestsFor(stripeId: string) {
  return standin.requestLog().filter((entry) => entry.path.startsWith(`/v1/payment_intents/${stripeId}`));
}

/** The JsonApiError the API answers a call's rejection with. */
async function rejection(call: Promise<unknown>): Promise<JsonApiError> {
  try {
    await call;
  } catch (error) {
    const answer = toJsonApiError(error);
    if (answer instanceof JsonApiError) return answer;
    throw error;
  }
  throw new Error('expected the call to fail');
}

/** What a PATCH of the payment runs, in its order: stored attributes and the order, then `_update`, then `_refresh`. */
async function patch(paymentId: string, { update, refresh, ...columns }: StripePaymentChange & { update?: boolean; refresh?: boolean }) {
  await updateStripePayment(services, { id: paymentId }, columns);
  if (update) await updateIntent(services, paymentId);
  if (refresh) await refreshIntent(services, paymentId);
  return withOrder(paymentId);
}

describe('updateStripePayment: plain attributes', () => {
  it('stores options, return_url, reference and metadata without calling Stripe', async () => {
    const { payment, stripeId } = await seedPayment();
    const before = requestsFor(stripeId).length;

    const updated = await patch(payment.id, {
      options: { customer: 'cus_123', description: 'Order' },
      returnUrl: 'https://shop.example.com/back',
      reference: 'REF',
      referenceOrigin: 'ERP',
      metadata: { foo: 'bar' },
    });

    expect(updated).toMatchObject({
      options: { customer: 'cus_123', description: 'Order' },
      returnUrl: 'https://shop.example.com/back',
      reference: 'REF',
      referenceOrigin: 'ERP',
      metadata: { foo: 'bar' },
      order: { totalAmountCents: 2500, currencyCode: 'EUR' },
    });
    expect(requestsFor(stripeId)).toHaveLength(before);

    const cleared = await patch(payment.id, { metadata: {}, reference: null });
    expect(cleared).toMatchObject({ metadata: {}, reference: null, referenceOrigin: 'ERP' });
  });

  it('answers 404 for an unknown payment or a reservation', async () => {
    expect((await rejection(patch('nonexistent', {}))).status).toBe(404);
    const checkout = await seedCheckout();
    const reserved = await db.stripePayment.create({
      data: { id: newId(), orderId: checkout.orderId, paymentGatewayId: checkout.gatewayId, amountCents: 2500, currencyCode: 'EUR' },
    });
    expect((await rejection(patch(reserved.id, { reference: 'x' }))).status).toBe(404);
    expect((await rejection(deleteStripePayment(services, reserved))).status).toBe(404);
  });
});

describe('updateStripePayment: _update', () => {
  it('sends the changed order total to the PaymentIntent, with a distinct idempotency key per update', async () => {
    const { checkout, payment, stripeId } = await seedPayment({ description: 'first' });
    await setQuantity(checkout, 3);
    expect(mismatched(await withOrder(payment.id))).toBe(true);

    const updated = await patch(payment.id, { update: true });
    expect(mismatched(updated)).toBe(false);
    expect(updated).toMatchObject({ amountCents: 3750, currencyCode: 'EUR', stripeWriteVersion: 1 });
    expect(intentAt(stripeId)).toMatchObject({ amount: 3750, currency: 'eur', description: 'first' });
    expect(intentAt(stripeId).metadata).toMatchObject({ order_id: checkout.orderId, stripe_payment_id: payment.id });

    await setQuantity(checkout, 1);
    const again = await patch(payment.id, { options: { description: 'second' }, update: true });
    expect(mismatched(again)).toBe(false);
    expect(intentAt(stripeId)).toMatchObject({ amount: 1250, description: 'second' });

    const updates = requestsFor(stripeId).filter((entry) => entry.method === 'POST' && entry.path === `/v1/payment_intents/${stripeId}`);
    expect(updates.map((entry) => entry.idempotencyKey)).toEqual([
      `stripe_payments/${payment.id}/update/1`,
      `stripe_payments/${payment.id}/update/2`,
    ]);
    // The update carries only what Stripe accepts on an update, and the secret key of the gateway.
    expect(updates[0]?.apiKey).toBe(secretKey);
    expect(Object.keys(updates[1]?.body ?? {}).sort()).toEqual(['amount', 'currency', 'description', 'metadata', 'receipt_email']);
  });

  it('reuses the key when the SDK retries one update after a Stripe 500', async () => {
    const { checkout, payment, stripeId } = await seedPayment();
    await setQuantity(checkout, 4);
    standin.injectFaults({ kind: 'status', status: 500, times: 1, match: { method: 'POST', pathPrefix: `/v1/payment_intents/${stripeId}` } });

    const updated = await patch(payment.id, { update: true });
    expect(updated.amountCents).toBe(5000);
    const keys = requestsFor(stripeId).filter((entry) => entry.method === 'POST').map((entry) => entry.idempotencyKey);
    expect(keys).toEqual([`stripe_payments/${payment.id}/update/1`, `stripe_payments/${payment.id}/update/1`]);
  });

  it('is refused with 422 once the PaymentIntent is paid, explaining its status', async () => {
    const { checkout, payment, stripeId } = await seedPayment();
    await confirm(stripeId);
    await capture(stripeId);
    await setQuantity(checkout, 3);

    const error = await rejection(patch(payment.id, { update: true }));
    expect(error.status).toBe(422);
    expect(error.errors[0]?.source?.pointer).toBe('/data/attributes/_update');
    expect(error.errors[0]?.detail).toContain('PaymentIntent is succeeded');
    expect(intentAt(stripeId).amount).toBe(2500);
    // Stripe told us the status; the next attempt is refused without asking again.
    const stored = await withOrder(payment.id);
    expect(stored).toMatchObject({ status: 'succeeded', amountCents: 2500 });
    expect(mismatched(stored)).toBe(true);
    const calls = requestsFor(stripeId).length;
    expect((await rejection(patch(payment.id, { update: true }))).status).toBe(422);
    expect(requestsFor(stripeId)).toHaveLength(calls);
  });

  it('refuses an order that is no longer payable, pointing at _update', async () => {
    const { checkout, payment, stripeId } = await seedPayment();
    await setQuantity(checkout, 0);
    const error = await rejection(patch(payment.id, { update: true }));
    expect(error.status).toBe(422);
    expect(error.errors[0]?.source?.pointer).toBe('/data/attributes/_update');
    expect(intentAt(stripeId).amount).toBe(2500);
  });

  it('translates Stripe being down and keeps the stored amount', async () => {
    const { checkout, payment, stripeId } = await seedPayment();
    await setQuantity(checkout, 3);
    standin.injectFaults({ kind: 'status', status: 500, times: 5 });
    const error = await rejection(patch(payment.id, { update: true }));
    expect(error.status).toBe(502);
    standin.clearFaults();
    expect((await withOrder(payment.id)).amountCents).toBe(2500);
    expect(intentAt(stripeId).amount).toBe(2500);
    // The next attempt is a new update with its own key.
    const updated = await patch(payment.id, { update: true });
    expect(updated).toMatchObject({ amountCents: 3750, stripeWriteVersion: 2 });
  });
});

describe('updateStripePayment: _refresh', () => {
  it('records status, payment method, payment instrument and charge from Stripe', async () => {
    const { payment, stripeId } = await seedPayment();
    await confirm(stripeId);

    const authorized = await patch(payment.id, { refresh: true });
    expect(authorized.status).toBe('requires_capture');
    expect(authorized.paymentInstrument).toEqual({
      issuer_type: 'card',
      card_type: 'visa',
      last4: '4242',
      exp_month: expect.any(Number),
      exp_year: expect.any(Number),
    });
    expect(authorized.paymentMethod).toEqual({
      id: expect.stringMatching(/^pm_/),
      type: 'card',
      card: { brand: 'visa', last4: '4242', exp_month: expect.any(Number), exp_year: expect.any(Number) },
    });
    expect(authorized.paymentMethod).toMatchObject({ id: intentAt(stripeId).payment_method });

    await capture(stripeId);
    const captured = await patch(payment.id, { refresh: true });
    expect(captured.status).toBe('succeeded');
    expect(captured.chargeId).toMatch(/^ch_/);
    expect(captured.chargeId).toBe(intentAt(stripeId).latest_charge);
    expect(mismatched(captured)).toBe(false);

    const retrieve = requestsFor(stripeId).filter((entry) => entry.method === 'GET').at(-1);
    expect(retrieve?.body).toMatchObject({ expand: ['payment_method', 'latest_charge'] });
  });

  it('with _update in the same request, updates first and then reads the result back', async () => {
    const { checkout, payment, stripeId } = await seedPayment();
    await setQuantity(checkout, 2 * 3);
    const updated = await patch(payment.id, { update: true, refresh: true });
    expect(updated).toMatchObject({ amountCents: 7500, status: 'requires_payment_method', paymentInstrument: null });
    expect(mismatched(updated)).toBe(false);
    const methods = requestsFor(stripeId).map((entry) => entry.method);
    expect(methods).toEqual(['POST', 'GET']);
  });
});

describe('updateStripePayment: order relationship', () => {
  it('moves an unpaid payment to another order of the same gateway and swaps the payment sources', async () => {
    const { checkout, payment } = await seedPayment();
    const other = await seedCheckout({ gatewayId: checkout.gatewayId });
    await setQuantity(other, 5);

    const moved = await patch(payment.id, { orderId: other.orderId, reference: 'moved' });
    expect(moved).toMatchObject({ orderId: other.orderId, reference: 'moved', order: { totalAmountCents: 6250 } });
    // The PaymentIntent still has the old amount until an _update.
    expect(mismatched(moved)).toBe(true);
    expect(await db.order.findUniqueOrThrow({ where: { id: checkout.orderId } })).toMatchObject({ paymentSourceType: null, paymentSourceId: null });
    expect(await db.order.findUniqueOrThrow({ where: { id: other.orderId } })).toMatchObject({
      paymentSourceType: 'stripe_payments',
      paymentSourceId: payment.id,
    });

    const updated = await patch(payment.id, { update: true });
    expect(mismatched(updated)).toBe(false);
    expect(intentAt(payment.stripeId!).metadata).toMatchObject({ order_id: other.orderId });
  });

  it('refuses an order of another gateway, an unpayable order and an unknown order, changing nothing', async () => {
    const { checkout, payment } = await seedPayment();
    const otherGateway = await seedCheckout();
    const empty = await seedCheckout({ gatewayId: checkout.gatewayId, lineItems: false });
    const otherCurrency = await seedCheckout({ gatewayId: checkout.gatewayId, currency: 'USD' });
    const placed = await seedCheckout({ gatewayId: checkout.gatewayId });
    await db.order.update({ where: { id: placed.orderId }, data: { status: 'placed' } });

    for (const [orderId, message] of [
      [otherGateway.orderId, 'another Stripe gateway'],
      [empty.orderId, 'no line items'],
      [placed.orderId, 'order is placed'],
      ['nonexistent', 'not found'],
    ] as const) {
      const error = await rejection(patch(payment.id, { orderId, reference: 'not stored' }));
      expect(error.status).toBe(422);
      expect(error.errors[0]?.source?.pointer).toBe('/data/relationships/order');
      expect(error.errors[0]?.detail).toContain(message);
    }
    // Same gateway, another currency: allowed by the gateway, so it moves (and amounts mismatch).
    const moved = await patch(payment.id, { orderId: otherCurrency.orderId });
    expect(mismatched(moved)).toBe(true);
    await patch(payment.id, { orderId: checkout.orderId });

    expect(await db.stripePayment.findUniqueOrThrow({ where: { id: payment.id } })).toMatchObject({ orderId: checkout.orderId, reference: null });
    expect(await db.order.findUniqueOrThrow({ where: { id: checkout.orderId } })).toMatchObject({ paymentSourceId: payment.id });
  });

  it('refuses to move a payment whose PaymentIntent is authorised, even before a webhook says so', async () => {
    const { checkout, payment, stripeId } = await seedPayment();
    const other = await seedCheckout({ gatewayId: checkout.gatewayId });
    await confirm(stripeId);

    const error = await rejection(patch(payment.id, { orderId: other.orderId }));
    expect(error.status).toBe(422);
    expect(error.errors[0]?.source?.pointer).toBe('/data/relationships/order');
    expect(error.errors[0]?.detail).toContain('PaymentIntent is requires_capture');
    expect((await db.stripePayment.findUniqueOrThrow({ where: { id: payment.id } })).orderId).toBe(checkout.orderId);
    expect(await db.order.findUniqueOrThrow({ where: { id: other.orderId } })).toMatchObject({ paymentSourceId: null });
  });

  it('treats naming the current order as no change', async () => {
    const { checkout, payment, stripeId } = await seedPayment();
    await confirm(stripeId);
    const updated = await patch(payment.id, { orderId: checkout.orderId, reference: 'same' });
    expect(updated).toMatchObject({ orderId: checkout.orderId, reference: 'same' });
  });
});

describe('deleteStripePayment', () => {
  it('cancels an unconfirmed PaymentIntent, deletes the payment and clears the order payment source', async () => {
    const { checkout, payment, stripeId } = await seedPayment();

    await deleteStripePayment(services, payment);

    expect(intentAt(stripeId).status).toBe('canceled');
    const cancel = requestsFor(stripeId).find((entry) => entry.path.endsWith('/cancel'));
    expect(cancel?.idempotencyKey).toBe(`stripe_payments/${payment.id}/cancel`);
    expect(await db.stripePayment.findUnique({ where: { id: payment.id } })).toBeNull();
    expect(await db.order.findUniqueOrThrow({ where: { id: checkout.orderId } })).toMatchObject({
      paymentSourceType: null,
      paymentSourceId: null,
    });
  });

  it('releases an authorisation that was not captured', async () => {
    const { payment, stripeId } = await seedPayment();
    await confirm(stripeId);
    await deleteStripePayment(services, payment);
    expect(intentAt(stripeId).status).toBe('canceled');
    expect(await db.stripePayment.findUnique({ where: { id: payment.id } })).toBeNull();
  });

  it('accepts a PaymentIntent already canceled at Stripe', async () => {
    const { payment, stripeId } = await seedPayment();
    await services.stripe.forKey(secretKey).paymentIntents.cancel(stripeId);
    await deleteStripePayment(services, payment);
    expect(await db.stripePayment.findUnique({ where: { id: payment.id } })).toBeNull();
    expect(requestsFor(stripeId).filter((entry) => entry.path.endsWith('/cancel'))).toHaveLength(1);
  });

  it('refuses with 422 once money has moved, changing nothing', async () => {
    const { checkout, payment, stripeId } = await seedPayment();
    await confirm(stripeId);
    await capture(stripeId);

    const error = await rejection(deleteStripePayment(services, payment));
    expect(error.status).toBe(422);
    expect(error.errors[0]?.detail).toContain('money has moved');
    expect(error.errors[0]?.detail).toContain('succeeded');
    expect(intentAt(stripeId).status).toBe('succeeded');
    expect(await db.stripePayment.findUnique({ where: { id: payment.id } })).not.toBeNull();
    expect(await db.order.findUniqueOrThrow({ where: { id: checkout.orderId } })).toMatchObject({ paymentSourceId: payment.id });
  });

  it('refuses when the order is no longer draft or pending, without calling Stripe', async () => {
    const { checkout, payment, stripeId } = await seedPayment();
    await db.order.update({ where: { id: checkout.orderId }, data: { status: 'placed' } });
    const calls = requestsFor(stripeId).length;
    const error = await rejection(deleteStripePayment(services, payment));
    expect(error.status).toBe(422);
    expect(error.errors[0]?.detail).toContain('placed');
    expect(requestsFor(stripeId)).toHaveLength(calls);
    expect(await db.stripePayment.findUnique({ where: { id: payment.id } })).not.toBeNull();
  });

  it('keeps the payment when Stripe is down', async () => {
    const { checkout, payment, stripeId } = await seedPayment();
    standin.injectFaults({ kind: 'status', status: 500, times: 5 });

    const error = await rejection(deleteStripePayment(services, payment));
    expect(error.status).toBe(502);
    expect(error.errors[0]?.code).toBe('STRIPE_ERROR');
    standin.clearFaults();
    expect(intentAt(stripeId).status).toBe('requires_payment_method');
    expect(await db.stripePayment.findUnique({ where: { id: payment.id } })).not.toBeNull();
    expect(await db.order.findUniqueOrThrow({ where: { id: checkout.orderId } })).toMatchObject({ paymentSourceId: payment.id });
  });
});
