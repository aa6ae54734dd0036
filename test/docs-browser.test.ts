import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser } from 'playwright-core';
import { createCheckout, startTestContext, type TestContext } from './support/context.ts';

// Swagger UI at /docs as a user clicks through it, in Debian's chromium: Authorize with
// the client credentials (Swagger UI fetches its own token from /oauth/token), then
// "Try it out" on POST /api/stripe_payments with the example the document gives.

const executablePath = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((path) => existsSync(path));
if (!executablePath) console.warn('chromium is not installed (apt-get install -y chromium): the Swagger UI browser test is skipped');

describe.skipIf(!executablePath)('Swagger UI', { timeout: 90_000 }, () => {
  let context: TestContext;
  let browser: Browser;
  beforeAll(async () => {
    context = await startTestContext();
    browser = await chromium.launch({
      executablePath: executablePath!,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await context?.close();
  });

  it('authorizes with client credentials and creates a stripe payment with "Try it out": 201', async () => {
    const { orderId } = await createCheckout(context);
    const origin = `http://127.0.0.1:${(context.app.server.address() as { port: number }).port}`;
    const page = await browser.newPage();
    await page.goto(`${origin}/docs`);

    await page.locator('.auth-wrapper .authorize').click();
    const modal = page.locator('.modal-ux');
    await modal.locator('input#client_id_clientCredentials').fill(context.credentials.clientId);
    await modal.locator('input#client_secret_clientCredentials').fill(context.credentials.clientSecret);
    const tokenResponse = page.waitForResponse((response) => response.url().endsWith('/oauth/token'));
    await modal.locator('button[aria-label="Apply given OAuth2 credentials"]').click();
    expect((await tokenResponse).status()).toBe(200);
    await expect.poll(() => modal.getByText('Authorized', { exact: true }).count()).toBe(1);
    await modal.locator('button.close-modal').click();

    // With 150 operations and tags or more, Swagger UI renders only the ones in view (a
    // virtualized list), so the operation is opened by its deep link, as a reader shares
    // it; the authorization persists across the reload (persistAuthorization). The deep
    // link opens the operation.
    await page.goto(`${origin}/docs#/stripe_payments/stripe_payments_create`);
    await page.reload();
    const operation = page.locator('#operations-stripe_payments-stripe_payments_create');
    await operation.locator('button.try-out__btn').click();
    const body = operation.locator('textarea.body-param__text');
    // The example is the request of Commerce Layer's page; its order id becomes ours.
    const example = JSON.parse(await body.inputValue()) as { data: { relationships: { order: { data: { id: string } } } } };
    expect(example.data.relationships.order.data.id).toBe('QWERtyUpBa');
    example.data.relationships.order.data.id = orderId;
    await body.fill(JSON.stringify(example, null, 2));

    const created = page.waitForResponse((response) => response.url().endsWith('/api/stripe_payments') && response.request().method() === 'POST');
    await operation.locator('button.execute').click();
    const response = await created;
    expect(response.status(), await response.text()).toBe(201);
    await expect.poll(() => operation.locator('.live-responses-table tbody .response-col_status').first().textContent()).toContain('201');
    const document = (await response.json()) as { data: { type: string; attributes: { client_secret: string } } };
    expect(document.data.type).toBe('stripe_payments');
    expect(document.data.attributes.client_secret).toMatch(/^pi_/);
  });
});
