import { applications } from './applications.ts';
import { customers } from './customers.ts';
import { paymentGateways, stripeGateways } from './gateways.ts';
import { lineItems } from './line-items.ts';
import { markets } from './markets.ts';
import { orders } from './orders.ts';
import { paymentMethods } from './payment-methods.ts';
import { stripePayments } from './stripe-payments.ts';
import { authorizations, captures, refunds, transactions, voids } from './transactions.ts';
import { versions } from './versions.ts';
import { eventCallbacks, webhooks } from './webhooks.ts';

/** Every resource the API serves; the JSON:API engine builds routes from this list. */
export const resources = [
  orders,
  lineItems,
  stripeGateways,
  paymentGateways,
  paymentMethods,
  stripePayments,
  authorizations,
  captures,
  refunds,
  voids,
  transactions,
  versions,
  markets,
  customers,
  applications,
  webhooks,
  eventCallbacks,
] as const;
