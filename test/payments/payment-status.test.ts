import { describe, expect, it } from 'vitest';
import { intentStatusRank, statusAfterRefunds, statusesBefore } from '../../src/payments/payment-status.ts';

describe('payment_status only moves forward', () => {
  it('names the statuses each one can be reached from', () => {
    expect(statusesBefore('authorized')).toEqual(['unpaid']);
    expect(statusesBefore('paid')).toEqual(['unpaid', 'authorized']);
    expect(statusesBefore('partially_refunded')).toEqual(['unpaid', 'authorized', 'paid']);
    expect(statusesBefore('refunded')).toEqual(['unpaid', 'authorized', 'paid', 'partially_refunded']);
    // Voiding releases an authorization; once paid, only refunds apply, and voided is final.
    expect(statusesBefore('voided')).toEqual(['unpaid', 'authorized']);
    expect(statusesBefore('unpaid')).toEqual([]);
  });

  it('derives the refund status from the sums', () => {
    expect(statusAfterRefunds(2500, 0)).toBe('paid');
    expect(statusAfterRefunds(2500, 1000)).toBe('partially_refunded');
    expect(statusAfterRefunds(2500, 2500)).toBe('refunded');
  });

  it('orders PaymentIntent statuses, the ones before payment alike', () => {
    expect(intentStatusRank('requires_action')).toBe(intentStatusRank('requires_payment_method'));
    expect(intentStatusRank('processing')).toBeGreaterThan(intentStatusRank('requires_action'));
    expect(intentStatusRank('requires_capture')).toBeGreaterThan(intentStatusRank('processing'));
    expect(intentStatusRank('succeeded')).toBeGreaterThan(intentStatusRank('requires_capture'));
    expect(intentStatusRank('canceled')).toBe(intentStatusRank('succeeded'));
    expect(intentStatusRank(null)).toBeLessThan(intentStatusRank('requires_payment_method'));
  });
});
