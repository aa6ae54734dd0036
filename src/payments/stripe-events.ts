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
 * concurrent duplicate delivery) is acknowledged without effect.
 *
 * An event is a reason to look, never the news itself: its payload may be late, rendered
 * in another API version than the pinned one, or forged by whoever holds the signing
 * secret. Before money state changes, the PaymentIntent (and its refunds) are read from
 * Stripe, and what Stripe says now is applied, its amounts checked against the order
 * (stripe-sync.ts). Only the event's id, type, mode and the id of the object it is about
 * are taken from the payload. Events may come in any order: what is read is compared with
 * what another writer recorded meanwhile, and never moves a payment back.
 */

export const handledEventTypes = [
  'payment_intent.succeeded',
  'payment_intent.amount_capturable_updated',
  'payment_intent.payment_failed',
  'payment_intent.canceled',
  'payment_intent.processing',
  'charge.refunded',
  'refund.created',
  'refund.updated',
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
  // Rendered in another version than the SDK's (an endpoint made elsewhere): its payload is not what our types say, and it is never applied anyway.
  const otherVersion = event.api_version !== Stripe.API_VERSION ? { stripeEventApiVersion: event.api_version } : {};
  const log = (outcome: EventOutcome, extra: Record<string, unknown> = {}) => {
    logger.info({ stripeEventId: event.id, stripeEventType: event.type, gatewayId, outcome, ...otherVersion, ...extra }, 'stripe webhook');
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

  if (event.type.startsWith('payment_intent.')) {
    const outcome = await applyIntentEvent(services, gatewayId, event, payment);
    // News about a superseded PaymentIntent (authorized or paid in a forgotten tab): release it now.
    if (isReleaseDue(payment)) await releaseSupersededQuietly(services, [payment.id]);
    return log(outcome, { stripePaymentId: payment.id });
  }
  return log(await applyRefundEvent(services, gatewayId, event, payment), { stripePaymentId: payment.id });
}

/** A refund's news (charge.refunded, refund.*): the PaymentIntent's refunds as Stripe lists them, and its charge's totals. */
async function applyRefundEvent(services: Services, gatewayId: string, event: Stripe.Event, payment: StripePayment & { stripeId: string | null }): Promise<EventOutcome> {
  const { db } = services;
  const stripeId = payment.stripeId!;
  const { client, requestOptions } = await paymentAccount(services, payment);
  // If Stripe cannot be reached the delivery fails and Stripe retries it later.
  const intent = await client.paymentIntents.retrieve(stripeId, { expand: ['latest_charge'] }, requestOptions);
  const refunds = await listRefunds(client, stripeId, requestOptions);
  return inTransaction(db, async (tx) => {
    if (!(await recordEvent(tx, event, gatewayId, 'applied', stripeId))) return 'duplicate' as const;
    const locked = await lockPaymentWithOrder(tx, payment.id);
    const charge = typeof intent.latest_charge === 'object' ? intent.latest_charge : null;
    if (locked && charge) await applyChargeRefunds(tx, locked, charge, refunds);
    return 'applied' as const;
  });
}

async function applyIntentEvent(services: Services, gatewayId: string, event: Stripe.Event, payment: StripePayment): Promise<EventOutcome> {
  const { db } = services;
  const { client, requestOptions } = await paymentAccount(services, payment);
  const intentId = (event.data.object as { id: string }).id;
  // If Stripe cannot be reached the delivery fails and Stripe retries it later.
  const intent = await client.paymentIntents.retrieve(intentId, { expand: ['payment_method', 'latest_charge'] }, requestOptions);

  return inTransaction(db, async (tx) => {
    if (!(await recordEvent(tx, event, gatewayId, 'applied', intentId))) return 'duplicate';
    const locked = await lockPaymentWithOrder(tx, payment.id);
    if (!locked) {
      await tx.stripeEvent.update({ where: { id: event.id }, data: { outcome: 'unknown_payment_intent' } });
      return 'unknown_payment_intent';
    }
    // Compare and set: another writer may have recorded newer news since we read Stripe.
    const stale = locked.payment.status !== payment.status && intentStatusRank(intent.status) < intentStatusRank(locked.payment.status);
    if (!stale) await applyPaymentIntent(tx, locked, intent);
    // Stripe says nothing new (a late or forged event): acknowledged, recorded as stale.
    const outcome: EventOutcome = stale || intent.status === locked.payment.status ? 'stale' : 'applied';
    if (outcome !== 'applied') await tx.stripeEvent.update({ where: { id: event.id }, data: { outcome } });
    return outcome;
  });
}

/** Every refund of a PaymentIntent, all pages: since API version 2022-11-15 a charge no longer carries them. */
export async function listRefunds(client: Stripe, paymentIntentId: string, requestOptions: Stripe.RequestOptions): Promise<Stripe.Refund[]> {
  return client.refunds.list({ payment_intent: paymentIntentId, limit: 100 }, requestOptions).autoPagingToArray({ limit: 10_000 });
}
