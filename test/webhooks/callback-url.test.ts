import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addressProblem, callbackUrlProblem } from '../../src/webhooks/callback-url.ts';
import { deliver, guardedLookup, signatureOf } from '../../src/webhooks/send.ts';

const development = { allowLoopback: true };
const production = { allowLoopback: false };

describe('the callback URL rule', () => {
  it('takes https anywhere public, and http only to loopback outside production', () => {
    expect(callbackUrlProblem('https://hooks.example.com/cl', production)).toBeNull();
    expect(callbackUrlProblem('https://93.184.216.34:8443/cl', production)).toBeNull();
    expect(callbackUrlProblem('http://127.0.0.1:4000/hook', development)).toBeNull();
    expect(callbackUrlProblem('http://localhost:4000/hook', development)).toBeNull();
    expect(callbackUrlProblem('http://[::1]:4000/hook', development)).toBeNull();
    expect(callbackUrlProblem('http://127.0.0.1:4000/hook', production)).toBe('must use https');
    expect(callbackUrlProblem('https://127.0.0.1:3000/api/applications', production)).toBe('must not be a loopback address');
    expect(callbackUrlProblem('https://localhost/', production)).toBe('must not be a loopback address');
    expect(callbackUrlProblem('http://hooks.example.com/cl', development)).toMatch(/must use https/);
  });

  it('refuses other schemes, credentials, private, link-local, metadata and reserved addresses in any spelling', () => {
    for (const url of [
      'ftp://hooks.example.com/',
      'file:///etc/passwd',
      'https://user:secret@hooks.example.com/',
      'https://169.254.169.254/latest/meta-data/',
      'https://[::ffff:169.254.169.254]/',
      'https://[::ffff:a9fe:a9fe]/',
      'https://[fd00::1]/',
      'https://[fe80::1]/',
      'https://10.0.0.1/',
      'https://172.16.5.4/',
      'https://192.168.1.1/',
      'https://100.64.0.1/',
      'https://0.0.0.0/',
      'https://metadata.google.internal/computeMetadata/v1/',
      'https://metadata.google.internal./',
      'nonsense',
    ]) {
      expect(callbackUrlProblem(url, development), url).not.toBeNull();
    }
    expect(addressProblem('169.254.169.254', development)).not.toBeNull();
    expect(addressProblem('::ffff:10.0.0.1', development)).not.toBeNull();
    expect(addressProblem('93.184.216.34', production)).toBeNull();
  });
});

describe('a delivery', () => {
  let server: http.Server;
  let port = 0;
  const bodies: { headers: http.IncomingHttpHeaders; body: string }[] = [];
  beforeAll(async () => {
    server = http.createServer((request, response) => {
      let body = '';
      request.on('data', (chunk) => (body += chunk));
      request.on('end', () => {
        bodies.push({ headers: request.headers, body });
        if (request.url === '/redirect') return response.writeHead(302, { Location: 'http://169.254.169.254/' }).end();
        response.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const event = (url: string) => ({ url, body: '{"data":{"id":"x"}}', topic: 'orders.place', deliveryId: 'evt1', sharedSecret: 'shh' });

  it('is signed as callbacks-security.md says, with its topic and delivery id', async () => {
    const result = await deliver(event(`http://127.0.0.1:${port}/ok`), development, 5_000);
    expect(result).toEqual({ ok: true, code: '204', message: 'No Content' });
    const { headers, body } = bodies.at(-1)!;
    expect(headers['x-commercelayer-signature']).toBe(signatureOf(body, 'shh'));
    expect(headers['x-commercelayer-signature']).toMatch(/^[A-Za-z0-9+/]+=*$/);
    expect(headers['x-commercelayer-topic']).toBe('orders.place');
    expect(headers['x-delivery-id']).toBe('evt1');
  });

  it('does not follow a redirect: it is a failure', async () => {
    const count = bodies.length;
    const result = await deliver(event(`http://127.0.0.1:${port}/redirect`), development, 5_000);
    expect(result).toMatchObject({ ok: false, code: '302' });
    expect(bodies.length).toBe(count + 1);
  });

  it('refuses a name that resolves to a refused address, before connecting', async () => {
    const lookup = (policy: typeof production) =>
      new Promise<{ error: Error | null; address: unknown }>((resolve) => guardedLookup(policy)('localhost', { family: 4 }, (error, address) => resolve({ error, address })));
    // The connection's own lookup: a name is checked on the address it resolves to, as it connects.
    const refused = await lookup(production);
    expect(refused.error?.message).toMatch(/localhost resolves to 127\.0\.0\.1: callback_url must not be a loopback address/);
    expect((await lookup(development)).address).toBe('127.0.0.1');
  });
});
