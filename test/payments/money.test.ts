import { describe, expect, it } from 'vitest';
import { formatAmount, fromStripeAmount, isCurrencyCode, toFloat, toStripeAmount } from '../../src/payments/money.ts';

describe('money', () => {
  it.each([
    ['EUR', 1234, 12.34, 1234],
    ['USD', 5, 0.05, 5],
    ['JPY', 1500, 1500, 1500],
    ['KRW', 1000, 1000, 1000],
    ['KWD', 1234, 1.234, 1234],
    // ISO says ISK has no decimals, Stripe wants it as two-decimal.
    ['ISK', 1500, 1500, 150000],
  ])('%s %i minor units: float %d, Stripe amount %i', (currency, cents, float, stripe) => {
    expect(toFloat(cents, currency)).toBe(float);
    expect(toStripeAmount(cents, currency)).toBe(stripe);
    expect(fromStripeAmount(stripe, currency)).toBe(cents);
  });

  it('formats like Commerce Layer formatted_* fields', () => {
    expect(formatAmount(1234, 'EUR')).toBe('€12.34');
    expect(formatAmount(1500, 'JPY')).toBe('¥1,500');
  });

  it('knows ISO currency codes', () => {
    expect(isCurrencyCode('EUR')).toBe(true);
    expect(isCurrencyCode('eur')).toBe(false);
    expect(isCurrencyCode('XYZ')).toBe(false);
  });

  it('refuses fractional amounts', () => {
    expect(() => toStripeAmount(10.5, 'EUR')).toThrow(RangeError);
  });
});
