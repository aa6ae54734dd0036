import { ok } from './context.ts';
import type { Handler, RequestContext } from './context.ts';
import { resourceMissing } from './errors.ts';
import { validateExpand } from './expand.ts';
import { buildPaymentMethod } from './objects.ts';
import type { PaymentMethod } from './objects.ts';
import { expandOnly, parseParams } from './params.ts';
import { TEST_PAYMENT_METHODS } from './test-cards.ts';

/**
 * Finds a PaymentMethod by id. A test token such as `pm_card_visa` yields a new
 * `pm_...` object each time it is used, as on Stripe, so intents never carry the token.
 * Tokens exist in test mode only.
 */
export function resolvePaymentMethod(
  ctx: RequestContext,
  id: string,
  options: { param: string; status: 400 | 404 } = { param: 'payment_method', status: 400 },
): PaymentMethod {
  const { store, owner } = ctx;
  const existing = store.paymentMethods.get(id, owner);
  if (existing) return existing;
  const card = owner.livemode ? undefined : TEST_PAYMENT_METHODS[id];
  if (!card) {
    throw resourceMissing('PaymentMethod', id, options.param, {
      status: options.status,
      otherMode: store.paymentMethods.otherModeOf(id, owner),
    });
  }
  const pm = store.paymentMethods.insert(buildPaymentMethod(card, owner.livemode), owner);
  store.cardOutcomes.set(pm.id, card.outcome);
  return pm;
}

export const RETRIEVE = expandOnly();

export const retrievePaymentMethod: Handler = (ctx) => {
  const p = parseParams(RETRIEVE, ctx.params);
  validateExpand('payment_method', p.expand);
  return ok(ctx, resolvePaymentMethod(ctx, ctx.id, { param: 'payment_method', status: 404 }), p.expand);
};
