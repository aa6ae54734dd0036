import { parameterInvalid } from './errors.ts';
import type { Owner, Store } from './state.ts';

/**
 * Stripe's `expand[]`: replaces an id field by the object it names, along dotted paths
 * (`latest_charge.payment_intent`). Fields map to the object type they expand to, or to
 * null for objects the stand-in does not hold (their id is left as is).
 */
const EXPANDABLE: Record<string, Record<string, string | null>> = {
  payment_intent: {
    payment_method: 'payment_method',
    latest_charge: 'charge',
    customer: null,
    on_behalf_of: null,
    review: null,
    application: null,
  },
  charge: { payment_intent: 'payment_intent', refunds: null, balance_transaction: null, customer: null, review: null, application: null, on_behalf_of: null },
  refund: { charge: 'charge', payment_intent: 'payment_intent', balance_transaction: null },
  payment_method: { customer: null },
};

const MAX_DEPTH = 4;

/** Checks the paths up front, so that a bad `expand` fails before the request acts. */
export function validateExpand(rootType: string, paths: readonly string[] | undefined): void {
  for (const path of paths ?? []) {
    const segments = path.split('.');
    if (segments.length > MAX_DEPTH) {
      throw parameterInvalid('expand', `You cannot expand more than ${MAX_DEPTH} levels of a property. Property: ${path}`);
    }
    let type: string | null = rootType;
    for (const segment of segments) {
      const fields: Record<string, string | null> | undefined = type === null ? undefined : EXPANDABLE[type];
      if (!fields || !Object.hasOwn(fields, segment)) {
        throw parameterInvalid('expand', `This property cannot be expanded (${path}).`);
      }
      type = fields[segment] ?? null;
    }
  }
}

/** A deep copy of `object` with the (validated) paths expanded. */
export function expandObject(object: object, paths: readonly string[] | undefined, store: Store, owner: Owner): Record<string, unknown> {
  const out = structuredClone(object) as Record<string, unknown>;
  for (const path of paths ?? []) expandPath(out, path.split('.'), store, owner);
  return out;
}

function expandPath(target: Record<string, unknown>, segments: string[], store: Store, owner: Owner): void {
  const [head, ...rest] = segments;
  if (head === undefined) return;
  const value = target[head];
  if (typeof value === 'string') {
    const resolved = resolve(value, store, owner);
    if (resolved) target[head] = structuredClone(resolved);
  }
  const next = target[head];
  if (rest.length > 0 && typeof next === 'object' && next !== null) {
    expandPath(next as Record<string, unknown>, rest, store, owner);
  }
}

function resolve(id: string, store: Store, owner: Owner): object | undefined {
  if (id.startsWith('pi_')) return store.paymentIntents.get(id, owner);
  if (id.startsWith('ch_')) return store.charges.get(id, owner);
  if (id.startsWith('re_')) return store.refunds.get(id, owner);
  if (id.startsWith('pm_')) return store.paymentMethods.get(id, owner);
  return undefined;
}
