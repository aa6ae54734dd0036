import { ok } from './context.ts';
import type { Handler, RequestContext } from './context.ts';
import { ParameterError, invalidRequest, resourceMissing } from './errors.ts';
import { emitEvent } from './events.ts';
import { validateExpand } from './expand.ts';
import { formatAmount } from './money.ts';
import { buildRefund } from './objects.ts';
import type { Charge } from './objects.ts';
import { expandOnly, integer, mergeMetadata, metadata, oneOf, parseParams, string, stringList } from './params.ts';

export const CREATE = {
  payment_intent: string(),
  charge: string(),
  amount: integer({ min: 1 }),
  reason: oneOf(['duplicate', 'fraudulent', 'requested_by_customer']),
  metadata: metadata(),
  expand: stringList(),
};

export const RETRIEVE = expandOnly();

/** The captured charge a refund applies to, named by `charge` or by `payment_intent`. */
function chargeToRefund(ctx: RequestContext, chargeId: string | null | undefined, paymentIntentId: string | null | undefined): Charge {
  const { store, owner } = ctx;
  let charge: Charge | undefined;
  if (paymentIntentId) {
    const pi = store.paymentIntents.get(paymentIntentId, owner);
    if (!pi) {
      throw resourceMissing('payment_intent', paymentIntentId, 'payment_intent', {
        status: 400,
        otherMode: store.paymentIntents.otherModeOf(paymentIntentId, owner),
      });
    }
    charge = pi.status === 'succeeded' && pi.latest_charge ? store.charges.get(pi.latest_charge, owner) : undefined;
    if (!charge) {
      throw invalidRequest(`This PaymentIntent (${pi.id}) does not have a successful charge to refund.`, { param: 'payment_intent' });
    }
  }
  if (chargeId) {
    const named = store.charges.get(chargeId, owner);
    if (!named) {
      throw resourceMissing('charge', chargeId, 'charge', { status: 400, otherMode: store.charges.otherModeOf(chargeId, owner) });
    }
    if (charge && charge.id !== named.id) {
      throw invalidRequest(`The charge ${named.id} does not belong to the PaymentIntent ${paymentIntentId}.`, { param: 'charge' });
    }
    charge = named;
  }
  if (!charge) throw new Error('chargeToRefund needs a charge or a payment_intent');
  if (charge.status !== 'succeeded' || !charge.captured) {
    throw invalidRequest(`Charge ${charge.id} has not been captured and cannot be refunded.`, { param: chargeId ? 'charge' : 'payment_intent' });
  }
  return charge;
}

export const createRefund: Handler = (ctx) => {
  const p = parseParams(CREATE, ctx.params);
  validateExpand('refund', p.expand);
  if (!p.charge && !p.payment_intent) {
    throw new ParameterError({
      code: 'parameter_missing',
      param: 'payment_intent',
      message: 'One of the following params should be provided for this request: payment_intent or charge.',
    });
  }
  const charge = chargeToRefund(ctx, p.charge, p.payment_intent);
  const remaining = charge.amount_captured - charge.amount_refunded;
  if (remaining <= 0) {
    throw invalidRequest(`Charge ${charge.id} has already been refunded.`, { code: 'charge_already_refunded' });
  }
  const amount = p.amount ?? remaining;
  if (amount > remaining) {
    throw invalidRequest(
      `Refund amount (${formatAmount(amount, charge.currency)}) is greater than unrefunded amount on charge (${formatAmount(remaining, charge.currency)})`,
      { param: 'amount', code: 'amount_too_large' },
    );
  }
  const refund = ctx.store.refunds.insert(
    buildRefund({ charge, amount, reason: p.reason ?? null, metadata: mergeMetadata({}, p.metadata ?? undefined) }),
    ctx.owner,
  );
  charge.amount_refunded += amount;
  charge.refunded = charge.amount_refunded >= charge.amount_captured;
  charge.refunds.data.unshift(structuredClone(refund));
  emitEvent(ctx, 'refund.created', refund);
  emitEvent(ctx, 'charge.refunded', charge);
  return ok(ctx, refund, p.expand);
};

export const retrieveRefund: Handler = (ctx) => {
  const p = parseParams(RETRIEVE, ctx.params);
  validateExpand('refund', p.expand);
  const refund = ctx.store.refunds.get(ctx.id, ctx.owner);
  if (!refund) throw resourceMissing('refund', ctx.id, 'id', { otherMode: ctx.store.refunds.otherModeOf(ctx.id, ctx.owner) });
  return ok(ctx, refund, p.expand);
};
