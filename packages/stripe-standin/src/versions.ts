/**
 * API versions, as far as they change what the stand-in renders. Stripe renders a
 * webhook event in its endpoint's `api_version`, or in the account's default version when
 * the endpoint has none; and an object read through the API in the request's version.
 * Only the differences the app could trip over are modelled:
 *
 * - since 2022-11-15 a Charge has no `refunds` unless `expand[]=refunds` (before, it
 *   carried its refunds list).
 */

/** An account made before 2022-11-15 that never upgraded: events to endpoints without a version carry refunds on charges. */
export const DEFAULT_ACCOUNT_API_VERSION = '2022-08-01';

const CHARGE_REFUNDS_EXPANDABLE_SINCE = '2022-11-15';

/** Whether `version` (e.g. "2026-10-28.endive") is `since` or later; versions compare by their date. */
function atLeast(version: string, since: string): boolean {
  return version.slice(0, 10) >= since;
}

/** Whether a Charge rendered in `version` shows `refunds` without being asked to. */
export function chargeIncludesRefunds(version: string): boolean {
  return !atLeast(version, CHARGE_REFUNDS_EXPANDABLE_SINCE);
}

/**
 * Removes what `version` only shows when expanded from the charges in `out` (the object
 * itself, or one nested under an expanded path), unless `expand` names it. Walks objects
 * only: ids left unexpanded are strings.
 */
export function omitUnexpanded(out: Record<string, unknown>, expand: readonly string[] | undefined, version: string, path = ''): void {
  if (out.object === 'charge' && !chargeIncludesRefunds(version) && !(expand ?? []).includes(`${path}refunds`)) delete out.refunds;
  for (const [key, value] of Object.entries(out)) {
    if (key === 'refunds' || typeof value !== 'object' || value === null || Array.isArray(value)) continue;
    omitUnexpanded(value as Record<string, unknown>, expand, version, `${path}${key}.`);
  }
}

/** An event's object as an endpoint of `version` receives it. */
export function renderEventObject(object: Record<string, unknown>, version: string): Record<string, unknown> {
  const out = structuredClone(object);
  omitUnexpanded(out, undefined, version);
  return out;
}
