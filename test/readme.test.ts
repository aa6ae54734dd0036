import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestContext, type TestContext } from './support/context.ts';
import { projectRoot } from './support/server-process.ts';

// The README's curl walkthrough, pasted into POSIX sh (dash where /bin/sh is dash) with a
// server's credentials: every step works and the ids flow from one to the next.

const hasCurl = await promisify(execFile)('curl', ['--version']).then(() => true, () => false);
if (!hasCurl) console.warn('curl is not installed: the README walkthrough is not run');

let context: TestContext;
beforeAll(async () => {
  context = await startTestContext();
});
afterAll(async () => {
  await context?.close();
});

describe.skipIf(!hasCurl)('the README curl walkthrough', { timeout: 60_000 }, () => {
  it('runs in sh and ends with a payment of the order', async () => {
    const readme = await readFile(path.join(projectRoot, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('## Your first payment with curl'));
    const script = /```sh\n([\s\S]*?)```/.exec(section)![1]!;
    const origin = `http://127.0.0.1:${(context.app.server.address() as { port: number }).port}`;
    const pasted = script
      .replace('BASE=http://127.0.0.1:3000', `BASE=${origin}`)
      .replace('CLIENT_ID=YOUR_CLIENT_ID', `CLIENT_ID='${context.credentials.clientId}'`)
      .replace('CLIENT_SECRET=YOUR_CLIENT_SECRET', `CLIENT_SECRET='${context.credentials.clientSecret}'`);
    expect(pasted).not.toContain('YOUR_');
    const { stdout, stderr } = await promisify(execFile)('sh', ['-c', pasted], { env: { PATH: process.env.PATH ?? '' } });
    expect(stderr).toBe('');
    const [clientSecret, order] = stdout.trim().split('\n');
    expect(clientSecret).toMatch(/^pi_\w+_secret_\w+$/);
    const document = JSON.parse(order!) as { data: { attributes: Record<string, unknown> }; included: { type: string }[] };
    expect(document.data.attributes).toMatchObject({ status: 'draft', total_amount_cents: 3000 });
    expect(document.included.map((resource) => resource.type)).toEqual(['stripe_payments']);
  });
});
