import { ok } from './context.ts';
import type { Handler } from './context.ts';
import { resourceMissing } from './errors.ts';
import { validateExpand } from './expand.ts';
import { expandOnly, parseParams } from './params.ts';

export const RETRIEVE = expandOnly();

/** Charges are made by confirmations; reading one shows captures and refunds. */
export const retrieveCharge: Handler = (ctx) => {
  const p = parseParams(RETRIEVE, ctx.params);
  validateExpand('charge', p.expand);
  const charge = ctx.store.charges.get(ctx.id, ctx.owner);
  if (!charge) throw resourceMissing('charge', ctx.id, 'id', { otherMode: ctx.store.charges.otherModeOf(ctx.id, ctx.owner) });
  return ok(ctx, charge, p.expand);
};
