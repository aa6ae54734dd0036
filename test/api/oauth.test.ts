import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.ts';
import { RecentTokenChecks } from '../../src/auth/tokens.ts';
import { startTestContext, type TestContext } from '../support/context.ts';

let context: TestContext;
beforeAll(async () => {
  context = await startTestContext({ tokenTtlSeconds: 60 });
});
afterAll(async () => {
  await context?.close();
});

describe('POST /oauth/token', () => {
  it('issues a bearer token for client credentials, as JSON or as a form', async () => {
    const json = await context.http
      .post('/oauth/token')
      .set('Content-Type', 'application/json')
      .send({ grant_type: 'client_credentials', client_id: context.credentials.clientId, client_secret: context.credentials.clientSecret });
    expect(json.status).toBe(200);
    expect(json.body).toMatchObject({ token_type: 'bearer', expires_in: 60, scope: 'market:all' });
    expect(typeof json.body.created_at).toBe('number');
    expect(json.headers['cache-control']).toBe('no-store');

    const form = await context.http
      .post('/oauth/token')
      .type('form')
      .send({ grant_type: 'client_credentials', client_id: context.credentials.clientId, client_secret: context.credentials.clientSecret });
    expect(form.status).toBe(200);

    const claims = JSON.parse(Buffer.from(json.body.access_token.split('.')[1], 'base64url').toString());
    expect(claims.application).toMatchObject({ kind: 'integration', client_id: context.credentials.clientId });
    expect(claims.exp - claims.iat).toBe(60);
  });

  it('takes the client credentials as HTTP Basic (RFC 6749 §2.3.1), form-encoded inside, as OAuth 2 helpers send them', async () => {
    const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;
    const { clientId, clientSecret } = context.credentials;
    const form = await context.http.post('/oauth/token').set('Authorization', basic(clientId, clientSecret)).type('form').send({ grant_type: 'client_credentials' });
    expect(form.status).toBe(200);
    expect(form.body.token_type).toBe('bearer');
    const json = await context.http.post('/oauth/token').set('Authorization', basic(clientId, clientSecret)).set('Content-Type', 'application/json').send({ grant_type: 'client_credentials' });
    expect(json.status).toBe(200);

    const wrong = await context.http.post('/oauth/token').set('Authorization', basic(clientId, 'wrong')).type('form').send({ grant_type: 'client_credentials' });
    expect(wrong.status).toBe(401);
    expect(wrong.body.errors[0].code).toBe('INVALID_CLIENT');
    const twice = await context.http
      .post('/oauth/token')
      .set('Authorization', basic(clientId, clientSecret))
      .type('form')
      .send({ grant_type: 'client_credentials', client_secret: clientSecret });
    expect(twice.status).toBe(400);
    expect(twice.body.errors[0]).toMatchObject({ code: 'INVALID_REQUEST', detail: expect.stringMatching(/not both/) });
  });

  it('says what to send when a JSON body comes without a JSON Content-Type', async () => {
    const body = JSON.stringify({ grant_type: 'client_credentials', client_id: context.credentials.clientId, client_secret: context.credentials.clientSecret });
    // curl -d '{...}' without -H: JSON labelled as a form.
    const asForm = await context.http.post('/oauth/token').set('Content-Type', 'application/x-www-form-urlencoded').send(body);
    expect(asForm.status).toBe(400);
    expect(asForm.body.errors[0]).toMatchObject({ code: 'INVALID_REQUEST', detail: expect.stringContaining('add the header Content-Type: application/json') });
    // fetch(url, { method: 'POST', body: string }): text/plain.
    const asText = await fetch(`http://127.0.0.1:${(context.app.server.address() as { port: number }).port}/oauth/token`, { method: 'POST', body });
    expect(asText.status).toBe(400);
    expect(((await asText.json()) as { errors: { detail: string }[] }).errors[0]!.detail).toMatch(/^Content-Type text\/plain;charset=UTF-8 is not read here: send Content-Type: application\/json/);
    // No Content-Type at all.
    const unlabelled = await context.app.inject({ method: 'POST', url: '/oauth/token', payload: body, headers: { 'content-type': undefined as never } });
    expect(unlabelled.statusCode).toBe(400);
    expect(unlabelled.json().errors[0].detail).toMatch(/^The body has no Content-Type: send Content-Type: application\/json/);
  });

  it('answers 401 for a wrong secret or unknown client, 400 for an unsupported grant', async () => {
    const wrong = await context.http
      .post('/oauth/token')
      .send({ grant_type: 'client_credentials', client_id: context.credentials.clientId, client_secret: 'wrong' });
    expect(wrong.status).toBe(401);
    expect(wrong.body.errors[0].code).toBe('INVALID_CLIENT');
    const unknown = await context.http.post('/oauth/token').send({ grant_type: 'client_credentials', client_id: 'nobody', client_secret: 'x' });
    expect(unknown.status).toBe(401);
    const grant = await context.http.post('/oauth/token').send({ grant_type: 'authorization_code', client_id: 'x' });
    expect(grant.status).toBe(400);
    expect(grant.body.errors[0].code).toBe('UNSUPPORTED_GRANT_TYPE');
  });

  it('the token opens /api; an expired one is refused with INVALID_TOKEN', async () => {
    const ok = await context.http.get('/api/orders').set('Authorization', `Bearer ${context.token}`);
    expect(ok.status).toBe(200);
    const claims = JSON.parse(Buffer.from(context.token.split('.')[1]!, 'base64url').toString());
    // Issued a token lifetime (and 10 s) ago: expired by the server's own rules and signed by its own key.
    const { exp: _exp, iat: _iat, ...rest } = claims;
    const expired = await context.app.signingKeys.sign({ ...rest, iat: Math.floor(Date.now() / 1000) - context.config.tokenTtlSeconds - 10 });
    const refused = await context.http.get('/api/orders').set('Authorization', `Bearer ${expired}`);
    expect(refused.status).toBe(401);
    expect(refused.body.errors[0].code).toBe('INVALID_TOKEN');
  });

  it('a token in use is refused from the second it expires, though it was verified before', async () => {
    const claims = JSON.parse(Buffer.from(context.token.split('.')[1]!, 'base64url').toString());
    const { exp: _exp, iat: _iat, ...rest } = claims;
    // Expiring three to four seconds from now: time for two reads on a busy machine.
    const expiresAt = Math.floor(Date.now() / 1000) + 4;
    const shortLived = await context.app.signingKeys.sign({ ...rest, iat: expiresAt - context.config.tokenTtlSeconds });
    const read = () => context.http.get('/api/orders').set('Authorization', `Bearer ${shortLived}`);
    expect((await read()).status).toBe(200);
    expect((await read()).status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, expiresAt * 1000 - Date.now() + 50));
    const refused = await read();
    expect(refused.status).toBe(401);
    expect(refused.body.errors[0].code).toBe('INVALID_TOKEN');
  });
});

describe('revocation seen by other instances', () => {
  it('is immediate with TOKEN_CHECK_CACHE_MS=0, and waits for the cache otherwise', async () => {
    const quiet = { logStream: new Writable({ write: (_chunk, _encoding, done) => done() }) };
    const strict = await buildApp({ ...context.config, tokenCheckCacheMs: 0 }, quiet);
    const cached = await buildApp({ ...context.config, tokenCheckCacheMs: 60_000 }, quiet);
    try {
      const issued = await context.http
        .post('/oauth/token')
        .send({ grant_type: 'client_credentials', client_id: context.credentials.clientId, client_secret: context.credentials.clientSecret });
      const read = (app: typeof strict) =>
        app.inject({ method: 'GET', url: '/api/orders', headers: { accept: 'application/vnd.api+json', authorization: `Bearer ${issued.body.access_token}` } });
      expect((await read(strict)).statusCode).toBe(200);
      expect((await read(cached)).statusCode).toBe(200);

      // Revoked through the first instance: the others learn it from the database.
      const revoked = await context.http.post('/oauth/revoke').send({ client_id: context.credentials.clientId, client_secret: context.credentials.clientSecret, token: issued.body.access_token });
      expect(revoked.status).toBe(200);
      expect((await read(context.app)).statusCode).toBe(401);
      expect((await read(strict)).statusCode).toBe(401);
      // Trusted for the cache's lifetime, as documented: 60 s here.
      expect((await read(cached)).statusCode).toBe(200);
    } finally {
      await strict.close();
      await cached.close();
    }
  });

  it('reaches an instance whose cache the token keeps busy, once the cache lifetime has passed', async () => {
    const busy = await buildApp({ ...context.config, tokenCheckCacheMs: 500 }, { logStream: new Writable({ write: (_chunk, _encoding, done) => done() }) });
    try {
      const issued = await context.http
        .post('/oauth/token')
        .send({ grant_type: 'client_credentials', client_id: context.credentials.clientId, client_secret: context.credentials.clientSecret });
      const read = () =>
        busy.inject({ method: 'GET', url: '/api/markets', headers: { accept: 'application/vnd.api+json', authorization: `Bearer ${issued.body.access_token}` } });
      expect((await read()).statusCode).toBe(200);
      await context.http.post('/oauth/revoke').send({ client_id: context.credentials.clientId, client_secret: context.credentials.clientSecret, token: issued.body.access_token });
      // Requests every 100 ms, well inside the 500 ms lifetime: the token is still checked again.
      await expect.poll(async () => (await read()).statusCode, { interval: 100, timeout: 5_000 }).toBe(401);
    } finally {
      await busy.close();
    }
  });
});

describe('revocation checks of a token in constant use', () => {
  /** A check that waits until `finish` is called, counting its calls. */
  function heldCheck() {
    const calls: { finish: (error?: Error) => void }[] = [];
    const check = () =>
      new Promise<void>((resolve, reject) => {
        calls.push({ finish: (error) => (error ? reject(error) : resolve()) });
      });
    return { calls, check };
  }

  it('is made once for the requests that find it stale together, and remembered for all of them', async () => {
    const checks = new RecentTokenChecks(60_000);
    const { calls, check } = heldCheck();
    const waiting = Array.from({ length: 20 }, () => checks.ensure('jti-1', check));
    expect(calls).toHaveLength(1);
    calls[0]!.finish();
    await Promise.all(waiting);
    expect(checks.isFresh('jti-1')).toBe(true);
    await checks.ensure('jti-1', check);
    expect(calls).toHaveLength(1);
  });

  it('refuses every waiter of a check that failed, and checks again at the next request', async () => {
    const checks = new RecentTokenChecks(60_000);
    const { calls, check } = heldCheck();
    const waiting = Array.from({ length: 5 }, () => checks.ensure('jti-2', check));
    calls[0]!.finish(new Error('revoked'));
    const outcomes = await Promise.allSettled(waiting);
    expect(outcomes.map((outcome) => outcome.status)).toEqual(Array(5).fill('rejected'));
    expect(checks.isFresh('jti-2')).toBe(false);
    const next = checks.ensure('jti-2', check);
    expect(calls).toHaveLength(2);
    calls[1]!.finish();
    await next;
  });

  it('does not remember a check begun before a revocation made here, and checks again after it', async () => {
    const checks = new RecentTokenChecks(60_000);
    const { calls, check } = heldCheck();
    const before = checks.ensure('jti-3', check);
    checks.forgetAll();
    const after = checks.ensure('jti-3', check);
    expect(calls).toHaveLength(2);
    calls[0]!.finish();
    await before;
    expect(checks.isFresh('jti-3')).toBe(false);
    calls[1]!.finish();
    await after;
    expect(checks.isFresh('jti-3')).toBe(true);
  });

  it('checks every request on its own without a cache (TOKEN_CHECK_CACHE_MS=0)', async () => {
    const checks = new RecentTokenChecks(0);
    const { calls, check } = heldCheck();
    const waiting = Array.from({ length: 3 }, () => checks.ensure('jti-4', check));
    expect(calls).toHaveLength(3);
    for (const call of calls) call.finish();
    await Promise.all(waiting);
  });

  it('answers 401 to every request of a revoked token sent together, which share one check', async () => {
    const cached = await buildApp({ ...context.config, tokenCheckCacheMs: 60_000 }, { logStream: new Writable({ write: (_chunk, _encoding, done) => done() }) });
    try {
      const { clientId, clientSecret } = context.credentials;
      const token = (await context.http.post('/oauth/token').send({ grant_type: 'client_credentials', client_id: clientId, client_secret: clientSecret })).body.access_token;
      await context.http.post('/oauth/revoke').send({ client_id: clientId, client_secret: clientSecret, token });
      const headers = { accept: 'application/vnd.api+json', authorization: `Bearer ${token}` };
      const answers = await Promise.all(Array.from({ length: 10 }, () => cached.inject({ method: 'GET', url: '/api/markets', headers })));
      expect(answers.map((answer) => answer.statusCode)).toEqual(Array(10).fill(401));
      expect(answers.map((answer) => answer.json().errors[0].code)).toEqual(Array(10).fill('INVALID_TOKEN'));
    } finally {
      await cached.close();
    }
  });
});
