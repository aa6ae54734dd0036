/**
 * Money is an integer count of the currency's minor unit (cents for EUR, yen for JPY,
 * fils for KWD), as ISO 4217 defines it. Stripe mostly agrees, with documented
 * exceptions handled in toStripeAmount.
 */

const knownCurrencies = new Set(Intl.supportedValuesOf('currency'));

export function isCurrencyCode(code: string): boolean {
  return /^[A-Z]{3}$/.test(code) && knownCurrencies.has(code);
}

const exponentCache = new Map<string, number>();

/** ISO 4217 number of decimals: 2 for EUR, 0 for JPY, 3 for KWD. */
export function currencyExponent(currencyCode: string): number {
  let exponent = exponentCache.get(currencyCode);
  if (exponent === undefined) {
    exponent = new Intl.NumberFormat('en', { style: 'currency', currency: currencyCode }).resolvedOptions()
      .maximumFractionDigits ?? 2;
    exponentCache.set(currencyCode, exponent);
  }
  return exponent;
}

/** 1234 EUR cents -> 12.34; 1234 JPY -> 1234. */
export function toFloat(amountCents: number, currencyCode: string | null | undefined): number {
  if (!currencyCode) return amountCents / 100;
  return amountCents / 10 ** currencyExponent(currencyCode);
}

const formatters = new Map<string, Intl.NumberFormat>();

/** "€12,34"-style display as Commerce Layer's formatted_* fields; no currency: plain number. */
export function formatAmount(amountCents: number, currencyCode: string | null | undefined): string {
  if (!currencyCode) return toFloat(amountCents, currencyCode).toFixed(2);
  let formatter = formatters.get(currencyCode);
  if (!formatter) {
    formatter = new Intl.NumberFormat('en', { style: 'currency', currency: currencyCode });
    formatters.set(currencyCode, formatter);
  }
  return formatter.format(toFloat(amountCents, currencyCode));
}

/**
 * Stripe amounts are in Stripe's smallest unit. Stripe lists these as zero-decimal:
 * the same as ISO for all of them. ISK is the exception that matters: ISO says 0
 * decimals, Stripe wants it as a two-decimal currency (an amount in aurar, a multiple of 100).
 */
const stripeTwoDecimalOverrides = new Set(['ISK']);

export function toStripeAmount(amountCents: number, currencyCode: string): number {
  if (!Number.isSafeInteger(amountCents)) throw new RangeError('amount must be an integer');
  const isoExponent = currencyExponent(currencyCode);
  const stripeExponent = stripeTwoDecimalOverrides.has(currencyCode) ? 2 : isoExponent;
  return amountCents * 10 ** (stripeExponent - isoExponent);
}

export function fromStripeAmount(stripeAmount: number, currencyCode: string): number {
  const isoExponent = currencyExponent(currencyCode);
  const stripeExponent = stripeTwoDecimalOverrides.has(currencyCode) ? 2 : isoExponent;
  return Math.round(stripeAmount / 10 ** (stripeExponent - isoExponent));
}
