import { z } from 'zod';
import type { Customer } from '../generated/prisma/client.ts';
import { hashSecret } from '../crypto/password.ts';
import { defineResource } from '../jsonapi/resource.ts';
import type { Services } from '../services.ts';
import { commonAttributes, written } from './common.ts';

/** Shoppers who sign in through a sales channel with the password grant. No domain rules: the engine writes them. */
export const customers = defineResource<Customer, Services>()({
  type: 'customers',
  model: 'customer',
  table: 'customers',
  actions: ['list', 'retrieve', 'create', 'update', 'delete'],
  deleteRestrictedBy: [{ model: 'order', field: 'customerId', name: 'orders' }],
  // Storefronts sign customers up; a signed-in customer reads and changes only their own record.
  storefront: { actions: ['create', 'retrieve', 'update'], rows: { isCustomer: true } },
  attributes: {
    // Stored lower-cased: the password grant finds a customer by the address in any case.
    email: {
      type: 'string',
      creatable: true,
      updatable: true,
      required: true,
      filterable: true,
      sortable: true,
      input: z.email().max(254).transform((email) => email.toLowerCase()),
    },
    // Only the hash is kept; the password is never stored or shown.
    password: written({ type: 'string', creatable: true, updatable: true, fetchable: false, column: null }, z.string().min(8).max(1000), async (password) => ({
      passwordHash: password === null ? null : await hashSecret(password),
    })),
    has_password: { type: 'boolean', column: null, read: (customer) => customer.passwordHash !== null },
    status: { type: 'string', filterable: true, sortable: true },
    ...commonAttributes(),
  },
  relationships: {
    orders: { kind: 'to_many', types: ['orders'], inverseKey: 'customerId' },
  },
});
