import { parameterInvalid } from './errors.ts';

/** Currencies whose amounts are whole units (https://docs.stripe.com/currencies#zero-decimal). */
const ZERO_DECIMAL = new Set(['bif', 'clp', 'djf', 'gnf', 'jpy', 'kmf', 'krw', 'mga', 'pyg', 'rwf', 'ugx', 'vnd', 'vuv', 'xaf', 'xof', 'xpf']);

/** Stripe's minimum charge amounts for the currencies the app is likely to use; others are not checked. */
const MINIMUM_AMOUNT: Readonly<Record<string, number>> = {
  usd: 50, eur: 50, gbp: 30, cad: 50, aud: 50, nzd: 50, chf: 50, sgd: 50, jpy: 50,
  dkk: 250, nok: 300, sek: 300, pln: 200, czk: 1500, huf: 17500, mxn: 1000, hkd: 400,
};

/** Stripe caps amounts at eight digits. */
const MAXIMUM_AMOUNT = 99_999_999;

export function formatAmount(amount: number, currency: string): string {
  const value = ZERO_DECIMAL.has(currency) ? String(amount) : (amount / 100).toFixed(2);
  return `${value} ${currency}`;
}

export function checkAmount(amount: number, currency: string, param = 'amount'): void {
  const minimum = MINIMUM_AMOUNT[currency];
  if (minimum !== undefined && amount < minimum) {
    throw parameterInvalid(param, `Amount must be at least ${formatAmount(minimum, currency)}`, 'amount_too_small');
  }
  if (amount > MAXIMUM_AMOUNT) {
    throw parameterInvalid(param, `Amount must be no more than ${formatAmount(MAXIMUM_AMOUNT, currency)}`, 'amount_too_large');
  }
}
