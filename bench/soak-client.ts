// The soak's HTTP client: a careful storefront or back office. Every write carries an
// Idempotency-Key, and 5xx answers, network errors and "key still in progress" 409s are
// retried with the same key and backoff, as the API's error documents ask. Every attempt
// is counted, by route and by status, for the report.
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';

const jsonApi = 'application/vnd.api+json';

export interface Answer {
  status: number;
  body: any;
  /** Attempts made, 1 when the first answer was final. */
  attempts: number;
}

export interface RetryPolicy {
  /** Give up retrying after this long, the last answer is returned. */
  maxMs: number;
  /** Upper bound of one backoff wait. */
  maxWaitMs: number;
}

export class SoakStats {
  readonly byRoute = new Map<string, number>();
  readonly byStatus = new Map<string, number>();
  /** Route and status of every answer >= 500 the client saw, with a sample body. */
  readonly serverErrors: { route: string; status: number; body: string }[] = [];
  retries = 0;
  /** Operations whose retries ran out without a final answer. */
  readonly gaveUp = new Map<string, number>();
  /** Things the client saw that contradict the API's promises (beyond status codes). */
  readonly anomalies: string[] = [];
  readonly latenciesMs: number[] = [];
  /** Requests retried after a 5xx or a lost answer whose retry was then refused (4xx): an earlier attempt had acted. */
  readonly refusedRetries: string[] = [];
  /** Retries sent straight to another instance than the one that answered (or failed) the attempt before. */
  crossInstanceRetries = 0;
  /** Creates answered 201, with their key: sent again to another instance after the traffic. */
  readonly createdWithKey: { route: string; path: string; body: string; key: string; id: string; servedBy: string | undefined }[] = [];

  count(route: string, status: number | 'network error', elapsedMs: number): void {
    this.byRoute.set(route, (this.byRoute.get(route) ?? 0) + 1);
    const key = String(status);
    this.byStatus.set(key, (this.byStatus.get(key) ?? 0) + 1);
    this.latenciesMs.push(elapsedMs);
  }

  anomaly(message: string): void {
    this.anomalies.push(message);
  }
}

function isRetryable(status: number, body: any): boolean {
  if (status >= 500) return true;
  if (status === 429) return true;
  // Our own Idempotency-Key layer: the first attempt is still running (or its outcome is being cleaned up).
  if (status === 409 && body?.errors?.[0]?.source?.header === 'Idempotency-Key') return true;
  // Stripe is still processing an earlier attempt of this very call (same key at Stripe).
  if (status === 409 && body?.errors?.[0]?.meta?.stripe_type !== undefined) return true;
  return false;
}

/** Several instances behind a load balancer: each instance's own origin by the name the balancer gives it (`X-Served-By`). */
export type Instances = Map<string, string>;

export class SoakClient {
  private token = '';
  private tokenPromise: Promise<void> | undefined;

  constructor(
    private readonly origin: string,
    private readonly credentials: { clientId: string; clientSecret: string },
    readonly stats: SoakStats,
    private readonly policy: RetryPolicy = { maxMs: 45_000, maxWaitMs: 2_000 },
    /** When given, half the retries go straight to another instance than the one that answered before. */
    private readonly instances: Instances = new Map(),
  ) {}

  /** Another instance than `name` (any when unknown). */
  private otherInstance(name: string | undefined): string | undefined {
    const others = [...this.instances].filter(([other]) => other !== name);
    return others.length === 0 ? undefined : others[Math.floor(Math.random() * others.length)]![1];
  }

  /** POST /oauth/token with client_credentials, retried like any call: the public API only. */
  async authenticate(): Promise<void> {
    this.tokenPromise ??= (async () => {
      try {
        const answer = await this.call('POST /oauth/token', 'POST', '/oauth/token', {
          body: JSON.stringify({ grant_type: 'client_credentials', client_id: this.credentials.clientId, client_secret: this.credentials.clientSecret }),
          contentType: 'application/json',
          idempotencyKey: undefined,
        });
        if (answer.status !== 200 || typeof answer.body?.access_token !== 'string') {
          throw new Error(`token request answered ${answer.status}: ${JSON.stringify(answer.body).slice(0, 300)}`);
        }
        this.token = answer.body.access_token;
      } finally {
        this.tokenPromise = undefined;
      }
    })();
    return this.tokenPromise;
  }

  get(route: string, path: string): Promise<Answer> {
    return this.api(route, 'GET', path);
  }

  /** A write: one Idempotency-Key for all its attempts, unless the caller brings its own. */
  write(route: string, method: 'POST' | 'PATCH' | 'DELETE', path: string, document?: unknown, idempotencyKey = `soak-${randomBytes(12).toString('hex')}`): Promise<Answer> {
    return this.api(route, method, path, document, method === 'DELETE' ? undefined : idempotencyKey);
  }

  private async api(route: string, method: string, path: string, document?: unknown, idempotencyKey?: string): Promise<Answer> {
    if (this.token === '') await this.authenticate();
    const answer = await this.call(route, method, path, { body: document === undefined ? undefined : JSON.stringify(document), contentType: jsonApi, idempotencyKey });
    if (answer.status === 401) {
      // An expired or rotated token: a new one, then the same request again.
      await this.authenticate();
      const again = await this.call(route, method, path, { body: document === undefined ? undefined : JSON.stringify(document), contentType: jsonApi, idempotencyKey });
      return { ...again, attempts: again.attempts + answer.attempts };
    }
    return answer;
  }

  /**
   * Sends every create recorded in `stats.createdWithKey` (at most `limit`) again, with its
   * key and body, straight to another instance than the one that answered it: each must
   * replay the same record. Returns the ones that did not.
   */
  async replayOnOtherInstances(limit: number): Promise<{ checked: number; differing: string[] }> {
    const differing: string[] = [];
    const samples = this.stats.createdWithKey.slice(0, limit);
    for (const sample of samples) {
      const origin = this.otherInstance(sample.servedBy) ?? this.origin;
      const response = await fetch(`${origin}${sample.path}`, {
        method: 'POST',
        headers: { accept: jsonApi, 'content-type': jsonApi, authorization: `Bearer ${this.token}`, 'idempotency-key': sample.key },
        body: sample.body,
        signal: AbortSignal.timeout(30_000),
      }).catch((error: Error) => error);
      if (response instanceof Error) {
        differing.push(`${sample.route}: ${response.message}`);
        continue;
      }
      const body = (await response.json().catch(() => undefined)) as { data?: { id?: string } } | undefined;
      if (response.status !== 201 || response.headers.get('idempotent-replayed') !== 'true' || body?.data?.id !== sample.id) {
        differing.push(`${sample.route} (key ${sample.key}, first answered by ${sample.servedBy ?? '?'}): ${response.status}, replayed ${response.headers.get('idempotent-replayed')}, id ${body?.data?.id} instead of ${sample.id}`);
      }
    }
    return { checked: samples.length, differing };
  }

  private async call(route: string, method: string, path: string, request: { body: string | undefined; contentType: string; idempotencyKey: string | undefined }): Promise<Answer> {
    const started = Date.now();
    let failedBefore = false;
    let servedBy: string | undefined;
    for (let attempt = 1; ; attempt += 1) {
      const headers: Record<string, string> = { accept: path.startsWith('/oauth') ? 'application/json' : jsonApi };
      if (this.token !== '' && !path.startsWith('/oauth')) headers.authorization = `Bearer ${this.token}`;
      if (request.body !== undefined) headers['content-type'] = request.contentType;
      if (request.idempotencyKey !== undefined) headers['idempotency-key'] = request.idempotencyKey;
      const sent = performance.now();
      let status: number | 'network error';
      let body: any;
      let retryAfterMs: number | undefined;
      // A retry, half the time, straight to another instance: its Idempotency-Key must hold there too.
      const direct = attempt > 1 && this.instances.size > 1 && Math.random() < 0.5 ? this.otherInstance(servedBy) : undefined;
      if (direct) this.stats.crossInstanceRetries += 1;
      try {
        // A bound far above the server's own (Stripe timeout times its retries): a hang is a finding, not a wait.
        const response = await fetch(`${direct ?? this.origin}${path}`, { method, headers, body: request.body, signal: AbortSignal.timeout(60_000) });
        status = response.status;
        servedBy = response.headers.get('x-served-by') ?? [...this.instances].find(([, origin]) => origin === direct)?.[0];
        const text = await response.text();
        try {
          body = text === '' ? undefined : JSON.parse(text);
        } catch {
          body = text;
          this.stats.anomaly(`${route}: ${status} with a body that is not JSON: ${text.slice(0, 200)}`);
        }
        // A "retry shortly" answer stored under the key would be replayed to every retry: the retry could never succeed.
        if (status === 409 && response.headers.get('idempotent-replayed') === 'true') {
          this.stats.anomaly(`${route}: a 409 replayed under its Idempotency-Key: ${text.slice(0, 200)}`);
        }
        const retryAfter = Number(response.headers.get('retry-after'));
        if (Number.isFinite(retryAfter) && retryAfter > 0) retryAfterMs = retryAfter * 1000;
      } catch (error) {
        status = 'network error';
        body = { error: (error as Error).message };
        // Unknown which instance dropped it; the next attempt goes anywhere.
        servedBy = undefined;
      }
      this.stats.count(route, status, performance.now() - sent);
      if (typeof status === 'number' && status >= 500) {
        if (this.stats.serverErrors.length < 2_000) this.stats.serverErrors.push({ route, status, body: JSON.stringify(body).slice(0, 300) });
        if (status >= 500 && !Array.isArray(body?.errors) && !path.startsWith('/oauth')) this.stats.anomaly(`${route}: ${status} without a JSON:API errors array`);
      }
      const retry = status === 'network error' || isRetryable(status, body);
      if (!retry) {
        // A retry must end as the first attempt would have: a refusal means that attempt acted unseen. A DELETE finding nothing is its own success.
        if (failedBefore && typeof status === 'number' && status >= 400 && status !== 409 && !(method === 'DELETE' && status === 404)) {
          this.stats.refusedRetries.push(`${route} → ${status}: ${JSON.stringify(body?.errors?.[0]?.detail ?? body).slice(0, 160)}`);
        }
        if (status === 201 && method === 'POST' && request.idempotencyKey !== undefined && request.body !== undefined && typeof body?.data?.id === 'string' && this.stats.createdWithKey.length < 5_000) {
          this.stats.createdWithKey.push({ route, path, body: request.body, key: request.idempotencyKey, id: body.data.id, servedBy });
        }
        return { status: status as number, body, attempts: attempt };
      }
      if (status === 'network error' || status >= 500) failedBefore = true;
      const elapsed = Date.now() - started;
      if (elapsed >= this.policy.maxMs) {
        this.stats.gaveUp.set(route, (this.stats.gaveUp.get(route) ?? 0) + 1);
        return { status: status === 'network error' ? 0 : status, body, attempts: attempt };
      }
      this.stats.retries += 1;
      // Exponential backoff with jitter, at most maxWaitMs, and no sooner than Retry-After says (capped likewise).
      const backoff = Math.min(this.policy.maxWaitMs, 100 * 2 ** Math.min(attempt, 6)) * (0.5 + Math.random() / 2);
      await sleep(Math.min(this.policy.maxWaitMs, Math.max(backoff, retryAfterMs ?? 0)));
    }
  }
}
