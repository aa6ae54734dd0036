import { z } from 'zod';
import type { Customer } from '../generated/prisma/client.ts';
import { hashSecret } from '../crypto/password.ts';
import { newId } from '../ids.ts';
import { defineResource, type WriteInput } from '../jsonapi/resource.ts';
import type { Services } from '../services.ts';
import { commonAttributes, commonColumns } from './common.ts';

async function customerColumns(input: WriteInput) {
  const { attributes: a } = input;
  return {
    ...(a.email !== undefined ? { email: (a.email as string).toLowerCase() } : {}),
    // Only the hash is kept; the password is never stored or shown.
    ...(a.password !== undefined ? { passwordHash: a.password === null ? null : await hashSecret(a.password as string) } : {}),
    ...commonColumns(a),
  };
}

/** Shoppers who sign in through a sales channel with the password grant. */
export const customers = defineResource<Customer, Services>({
  type: 'customers',
  model: 'customer',
  table: 'customers',
  actions: ['list', 'retrieve', 'create', 'update'],
  // Storefronts sign customers up; a signed-in customer reads and changes only their own record.
  storefront: { actions: ['create', 'retrieve', 'update'], rows: { isCustomer: true } },
  attributes: {
    email: { type: 'string', creatable: true, updatable: true, required: true, filterable: true, sortable: true, input: z.email().max(254) },
    password: { type: 'string', creatable: true, updatable: true, fetchable: false, column: null, input: z.string().min(8).max(1000) },
    has_password: { type: 'boolean', column: null, read: (customer) => customer.passwordHash !== null },
    status: { type: 'string', filterable: true, sortable: true },
    ...commonAttributes<Customer>(),
  },
  relationships: {
    orders: { kind: 'to_many', types: ['orders'], inverseKey: 'customerId' },
  },

  async create(services, input) {
    return services.db.customer.create({ data: { id: newId(), email: '', ...(await customerColumns(input)) } });
  },

  async update(services, customer, input) {
    return services.db.customer.update({ where: { id: customer.id }, data: await customerColumns(input) });
  },
});
