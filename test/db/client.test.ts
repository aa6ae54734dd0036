// The generated client, through the pg adapter, against the migrated test database.
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { createPrismaClient } from '../../src/db/client.ts';
import { testDatabaseUrl } from '../support/test-database-url.ts';

describe('createPrismaClient', () => {
  const prisma = createPrismaClient(testDatabaseUrl(), { poolMax: 2 });

  afterAll(async () => {
    await prisma.$disconnect();
  });

  it('writes and reads related rows in the migrated schema', async () => {
    const id = (prefix: string): string => `${prefix}_${randomBytes(6).toString('hex')}`;
    const orderId = id('order');
    await prisma.order.create({
      data: {
        id: orderId,
        currencyCode: 'EUR',
        lineItems: {
          create: [
            { id: id('li'), quantity: 2, unitAmountCents: 500, totalAmountCents: 1000 },
            { id: id('li'), quantity: 1, unitAmountCents: 250, totalAmountCents: 250 },
          ],
        },
      },
    });

    const order = await prisma.order.findUniqueOrThrow({ where: { id: orderId }, include: { lineItems: true } });
    expect(order.status).toBe('draft');
    expect(order.metadata).toEqual({});
    expect(order.number).toBeGreaterThan(0);
    expect(order.lineItems.map((item) => item.totalAmountCents).sort((a, b) => a - b)).toEqual([250, 1000]);
    expect(await prisma.lineItem.count({ where: { orderId } })).toBe(2);

    await prisma.order.delete({ where: { id: orderId } });
    expect(await prisma.lineItem.count({ where: { orderId } })).toBe(0);
  });
});
