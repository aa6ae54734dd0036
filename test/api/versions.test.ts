import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { api, createCheckout, createdId, startTestContext, type TestContext } from '../support/context.ts';
import { confirm, payableOrder, paymentStatusAfterWebhooks, trigger } from '../support/payments.ts';

// Commerce Layer's versions: every create, update and destroy of the payment side's records
// leaves one, in the same transaction, saying what changed, who changed it and when, and
// never a secret.

let context: TestContext;
let applicationId: string;
beforeAll(async () => {
  context = await startTestContext();
  applicationId = (await context.db.application.findFirstOrThrow({ where: { clientId: context.credentials.clientId } })).id;
});
afterAll(async () => {
  await context?.close();
});

type Version = { id: string; type: string; attributes: { resource_type: string; resource_id: string; event: string; changes: Record<string, [unknown, unknown]>; who: Record<string, any>; created_at: string } };

async function versionsOf(id: string): Promise<Version[]> {
  const response = await api(context).get(`/api/versions?filter[q][resource_id_eq]=${id}&sort=created_at&page[size]=25`);
  expect(response.status, response.text).toBe(200);
  return response.body.data;
}

it("records a gateway's secret key change as changed, with no value, and never stores the key", async () => {
  const firstKey = `sk_test_${randomBytes(12).toString('hex')}`;
  const gatewayId = await createdId(context, '/api/stripe_gateways', { data: { type: 'stripe_gateways', attributes: { name: 'Stripe', login: firstKey } } });
  // The key is set once; the webhook signing secret, as sealed, changes.
  const secondKey = `whsec_${randomBytes(12).toString('hex')}`;
  const patched = await api(context).patch(`/api/stripe_gateways/${gatewayId}`, {
    data: { type: 'stripe_gateways', id: gatewayId, attributes: { webhook_endpoint_secret: secondKey, name: 'Stripe EU' } },
  });
  expect(patched.status, patched.text).toBe(200);

  const versions = await versionsOf(gatewayId);
  expect(versions.map((version) => version.attributes.event)).toEqual(['create', 'update']);
  const [created, updated] = versions;
  expect(created!.attributes).toMatchObject({ resource_type: 'stripe_gateways', resource_id: gatewayId });
  expect(created!.attributes.changes.login).toEqual([null, '[FILTERED]']);
  expect(updated!.attributes.changes).toMatchObject({ webhook_endpoint_secret: ['[FILTERED]', '[FILTERED]'], name: ['Stripe', 'Stripe EU'] });
  expect(updated!.attributes.changes).not.toHaveProperty('login');
  expect(updated!.attributes.who).toEqual({ application: { id: applicationId, kind: 'integration', public: false } });
  // Nowhere in the versions table, whatever the column.
  const dump = JSON.stringify(await context.db.version.findMany());
  for (const key of [firstKey, secondKey]) expect(dump).not.toContain(key);
  expect(dump).not.toMatch(/whsec_|sk_test_|Encrypted/);
  // The generic gateway view has the same trail.
  const viaView = await api(context).get(`/api/payment_gateways/${gatewayId}?include=versions`);
  expect(viaView.status, viaView.text).toBe(200);
  expect(viaView.body.included.map((version: Version) => version.id).sort()).toEqual(versions.map((version) => version.id).sort());
});

it("versions an order's journey, its payment and transactions, with who: the application, or Stripe for its webhooks", async () => {
  const order = await payableOrder(context);
  await confirm(order);
  expect(await paymentStatusAfterWebhooks(context, order.orderId)).toBe('authorized');
  expect((await trigger(context, order.orderId, { _place: true })).status).toBe(200);
  expect((await trigger(context, order.orderId, { _capture: true })).status).toBe(200);

  const withVersions = await api(context).get(`/api/orders/${order.orderId}?include=versions`);
  expect(withVersions.status, withVersions.text).toBe(200);
  const orderVersions = (withVersions.body.included as Version[]).filter((item) => item.type === 'versions');
  expect(withVersions.body.data.relationships.versions.data).toHaveLength(orderVersions.length);
  const changed = orderVersions.map((version) => version.attributes.changes);
  expect(changed).toContainEqual(expect.objectContaining({ status: ['draft', 'placed'] }));
  expect(changed).toContainEqual(expect.objectContaining({ payment_status: ['authorized', 'paid'] }));
  expect(orderVersions.map((version) => version.attributes.event)).toContain('create');

  const paymentVersions = await versionsOf(order.paymentId);
  expect(paymentVersions[0]!.attributes.event).toBe('create');
  // The client secret is shown on the payment itself, never copied into its trail.
  expect(paymentVersions[0]!.attributes.changes.client_secret).toEqual([null, '[FILTERED]']);
  expect(JSON.stringify(paymentVersions)).not.toContain('_secret_');
  // The webhook that told us the card was authorized changed the payment: Stripe is its author.
  const fromWebhook = paymentVersions.find((version) => version.attributes.changes.status?.[1] === 'requires_capture');
  expect(fromWebhook?.attributes.who).toEqual({ source: 'stripe_webhook' });

  const captures = await api(context).get(`/api/orders/${order.orderId}/captures?include=versions`);
  const captureVersions = (captures.body.included as Version[]).map((version) => version.attributes);
  expect(captureVersions.map((version) => version.event).sort()).toEqual(['create', 'update']);
  expect(captureVersions.find((version) => version.event === 'create')!.changes).toMatchObject({ amount_cents: [null, 2500], state: [null, 'reserved'] });
  expect(captureVersions.find((version) => version.event === 'update')!.changes).toMatchObject({ state: ['reserved', 'recorded'], succeeded: [false, true] });
  expect(captureVersions.every((version) => version.who.application?.id === applicationId)).toBe(true);

  const authorizationId = (await api(context).get(`/api/orders/${order.orderId}/authorizations`)).body.data[0].id as string;
  const listed = await api(context).get(`/api/versions?filter[q][resource_type_eq]=authorizations&filter[q][resource_id_in]=${authorizationId}`);
  expect(listed.status).toBe(200);
  expect(listed.body.data[0].attributes.event).toBe('create');
});

it('records a destroy, and no version for a write that was refused', async () => {
  const checkout = await createCheckout(context);
  const paymentId = await createdId(context, '/api/stripe_payments', {
    data: { type: 'stripe_payments', relationships: { order: { data: { type: 'orders', id: checkout.orderId } } } },
  });
  const before = await versionsOf(checkout.orderId);
  const refused = await api(context).patch(`/api/orders/${checkout.orderId}`, { data: { type: 'orders', id: checkout.orderId, attributes: { customer_email: 'not an email' } } });
  expect(refused.status).toBe(422);
  expect(await versionsOf(checkout.orderId)).toHaveLength(before.length);
  expect((await api(context).delete(`/api/stripe_payments/${paymentId}`)).status).toBe(204);
  const trail = await versionsOf(paymentId);
  expect(trail.at(-1)!.attributes).toMatchObject({ event: 'destroy', resource_type: 'stripe_payments' });
  // Versions are records of the past: not writable.
  expect((await api(context).post('/api/versions', { data: { type: 'versions', attributes: {} } })).status).toBe(405);
  expect((await api(context).get(`/api/versions/${trail[0]!.id}`)).body.data.type).toBe('versions');
});
