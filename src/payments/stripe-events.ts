import Stripe from 'stripe';
import type { Prisma } from '../db/client.ts';
import type { StripePayment } from '../generated/prisma/client.ts';
import type { Services } from '../services.ts';
import { intentStatusRank } from './payment-status.ts';
import { inTransaction, lockPaymentWithOrder } from './locks.ts';
import { paymentAccount } from './stripe-account.ts';
import { applyChargeRefunds, applyPaymentIntent } from './stripe-sync.ts';
import { isReleaseDue, releaseSupersededQuietly } from './supersede.ts';

/**
 * Stripe's events, as they arrive at a gateway's webhook endpoint: verifies an event
 * against its gateway's signing secret, then applies it once. Each event id is stored in the transaction that applies it, so a redelivery (or a
 * concurrent duplicate delivery) is acknowledged without effect. Events may come in any
 * order: one that would move a payment back to an earlier status is checked against
 * Stripe's current PaymentIntent instead of being applied as it is.
 */

export const handledEventTypes = [
  'payment_intent.succeeded',
  'payment_intent.amount_capturable_updated',
  'payment_intent.payment_failed',
  'payment_intent.canceled',
  'payment_intent.processing',
  'charge.refunded',
] as const;

/** What happened to an event: recorded with it, returned to Stripe, logged. */
export type EventOutcome = 'applied' | 'stale' | 'duplicate' | 'ignored' | 'unknown_payment_intent' | 'other_gateway';

/** Signature verification's default tolerance, Stripe's: 5 minutes between signing and receipt. */
export const defaultToleranceSeconds = 300;

/** A delivery refused before anything is read or written: 400/404 to Stripe, which retries it. */
export class WebhookRejected extends Error {
  constructor(
    readonly status: 400 | 404,
    message: string,
  ) {
    super(message);
    this.name = 'WebhookRejected';
  }
}

/** Verifies the Stripe-Signature header over the raw body and parses the event. */
export function verifyStripeEvent(secret: string, rawBody: Buffer, signature: string | undefined, toleranceSeconds: number): Stripe.Event {
  if (!signature) throw new WebhookRejected(400, 'No Stripe-Signature header');
  try {
    return Stripe.webhooks.constructEvent(rawBody, signature, secret, toleranceSeconds);
  } catch (error) {
    if (error instanceof Stripe.errors.StripeSignatureVerificationError) throw new WebhookRejected(400, 'The Stripe-Signature does not verify');
    // Signed, but not an event (not JSON): Stripe never sends that.
    throw new WebhookRejected(400, 'The body is not a Stripe event');
  }
}

/** One webhook delivery to a gateway's endpoint, from raw body to outcome. */
export async function receiveStripeWebhook(
  services: Services,
  gatewayId: string,
  rawBody: Buffer,
  signature: string | undefined,
  toleranceSeconds = defaultToleranceSeconds,
): Promise<{ eventId: string; type: string; outcome: EventOutcome }> {
  const gateway = await services.db.stripeGateway.findUnique({ where: { id: gatewayId }, select: { id: true, webhookSecretEncrypted: true } });
  if (!gateway) throw new WebhookRejected(404, 'No such gateway');
  if (!gateway.webhookSecretEncrypted) throw new WebhookRejected(400, 'The gateway has no webhook signing secret');
  const event = verifyStripeEvent(services.secretBox.open(gateway.webhookSecretEncrypted), rawBody, signature, toleranceSeconds);
  const outcome = await processStripeEvent(services, gateway.id, event);
  return { eventId: event.id, type: event.type, outcome };
}

function paymentIntentIdOf(event: Stripe.Event): string | null {
  const object = event.data.object as { object?: string; id?: string; payment_intent?: string | { id: string } | null };
  if (object.object === 'payment_intent') return object.id ?? null;
  const pi = object.payment_intent;
  return typeof pi === 'string' ? pi : (pi?.id ?? null);
}

async function recordEvent(db: Prisma.TransactionClient, event: Stripe.Event, gatewayId: string, outcome: EventOutcome, objectId: string | null) {
  const { count } = await db.stripeEvent.createMany({
    data: [{ id: event.id, gatewayId, type: event.type, objectId, outcome, stripeCreatedAt: new Date(event.created * 1000) }],
    skipDuplicates: true,
  });
  return count > 0;
}

/** Applies a verified event once; safe to call again with the same event. */
export async function processStripeEvent(services: Services, gatewayId: string, event: Stripe.Event): Promise<EventOutcome> {
  const { db, logger } = services;
  const log = (outcome: EventOutcome, extra: Record<string, unknown> = {}) => {
    logger.info({ stripeEventId: event.id, stripeEventType: event.type, gatewayId, outcome, ...extra }, 'stripe webhook');
    return outcome;
  };
  if (await db.stripeEvent.findUnique({ where: { id: event.id }, select: { id: true } })) return log('duplicate');

  const paymentIntentId = paymentIntentIdOf(event);
  if (!(handledEventTypes as readonly string[]).includes(event.type)) {
    await recordEvent(db, event, gatewayId, 'ignored', paymentIntentId);
    return log('ignored');
  }
  const payment = paymentIntentId ? await db.stripePayment.findFirst({ where: { stripeId: paymentIntentId, intentState: 'created' } }) : null;
  if (!payment) {
    // Another system's PaymentIntent on the same account, or a payment deleted since: nothing to do, nothing to retry.
    await recordEvent(db, event, gatewayId, 'unknown_payment_intent', paymentIntentId);
    logger.warn({ stripeEventId: event.id, stripeEventType: event.type, gatewayId, paymentIntentId }, 'stripe webhook for an unknown PaymentIntent acknowledged');
    return 'unknown_payment_intent';
  }
  if (payment.paymentGatewayId !== gatewayId || event.livemode !== (payment.mode === 'live')) {
    // Not recorded: the endpoint of the payment's own gateway receives the same event and applies it.
    return log('other_gateway', { stripePaymentId: payment.id });
  }

  if (event.type === 'charge.refunded') {
    const charge = event.data.object as Stripe.Charge;
    const outcome = await inTransaction(db, async (tx) => {
      if (!(await recordEvent(tx, event, gatewayId, 'applied', paymentIntentId))) return 'duplicate' as const;
      const locked = await lockPaymentWithOrder(tx, payment.id);
      if (locked) await applyChargeRefunds(tx, locked, charge);
      return 'applied' as const;
    });
    return log(outcome, { stripePaymentId: payment.id });
  }
  const outcome = await applyIntentEvent(services, gatewayId, event, payment);
  // News about a superseded PaymentIntent (authorized or paid in a forgotten tab): release it now.
  if (isReleaseDue(payment)) await releaseSupersededQuietly(services, [payment.id]);
  return log(outcome, { stripePaymentId: payment.id });
}

async function applyIntentEvent(services: Services, gatewayId: string, event: Stripe.Event, payment: StripePayment): Promise<EventOutcome> {
  const { db, logger } = services;
  const eventIntent = event.data.object as Stripe.PaymentIntent;
  let intent = eventIntent;
  let reread = false;
  let paymentMethod: Stripe.PaymentMethod | null = null;
  const { client, requestOptions } = await paymentAccount(services, payment);

  if (intentStatusRank(eventIntent.status) < intentStatusRank(payment.status)) {
    // Behind what we know: a late event, or a real step back (an asynchronous payment that
    // failed after processing). Stripe's current PaymentIntent tells which. If Stripe cannot
    // be reached the delivery fails and Stripe retries it later.
    intent = await client.paymentIntents.retrieve(eventIntent.id, { expand: ['payment_method', 'latest_charge'] }, requestOptions);
    reread = true;
  } else if (typeof eventIntent.payment_method === 'string') {
    const stored = payment.paymentMethod as { id?: unknown } | null;
    if (stored?.id !== eventIntent.payment_method || payment.paymentInstrument === null) {
      // Events carry the method's id only; its card details make the payment instrument.
      paymentMethod = await client.paymentMethods.retrieve(eventIntent.payment_method, {}, requestOptions).catch((error: unknown) => {
        logger.warn({ stripePaymentId: payment.id, err: { message: (error as Error).message } }, 'payment method details unavailable; recording its id only');
        return null;
      });
    }
  }

  return inTransaction(db, async (tx) => {
    if (!(await recordEvent(tx, event, gatewayId, 'applied', eventIntent.id))) return 'duplicate';
    const locked = await lockPaymentWithOrder(tx, payment.id);
    if (!locked) {
      await tx.stripeEvent.update({ where: { id: event.id }, data: { outcome: 'unknown_payment_intent' } });
      return 'unknown_payment_intent';
    }
    // Compare and set: another writer may have recorded newer news since we looked.
    const stale = reread ? locked.payment.status !== payment.status : intentStatusRank(intent.status) < intentStatusRank(locked.payment.status);
    if (!stale) await applyPaymentIntent(tx, locked, intent, paymentMethod);
    const outcome: EventOutcome = stale || (reread && intent.status === payment.status) ? 'stale' : 'applied';
    if (outcome !== 'applied') await tx.stripeEvent.update({ where: { id: event.id }, data: { outcome } });
    return outcome;
  });
}
