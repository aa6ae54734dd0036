import http from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { authenticate, publishableKeyRefused } from './auth.ts';
import type { Reply } from './context.ts';
import { ParameterError, StripeApiError, apiError, invalidRequest } from './errors.ts';
import { FaultQueue } from './faults.ts';
import type { Fault } from './faults.ts';
import { newRequestId } from './ids.ts';
import { IdempotencyStore } from './idempotency.ts';
import type { Admission, StoredResponse } from './idempotency.ts';
import { recordEvent } from './events.ts';
import type { StripeEvent, WebhookEndpoint } from './events.ts';
import type { PaymentIntent } from './objects.ts';
import { parseForm } from './params.ts';
import { DataFolder } from './persistence.ts';
import type { Params } from './params.ts';
import { matchRoute } from './router.ts';
import { Store } from './state.ts';
import { WebhookDispatcher } from './webhook-dispatch.ts';
import type { WebhookDelivery } from './webhook-dispatch.ts';

export type { Fault, FaultMatch } from './faults.ts';
export type { PaymentIntent } from './objects.ts';
export type { StripeEvent, WebhookEndpoint } from './events.ts';
export type { WebhookDelivery } from './webhook-dispatch.ts';
export { signatureHeader } from './webhook-dispatch.ts';

/**
 * A Stripe-compatible HTTP server for tests and local runs: the real `stripe` SDK talks
 * to it with `{ host, port, protocol: 'http' }`. State lives in memory, one per server,
 * and in `dataDir` when given, so that a restart finds what it held (see persistence.ts).
 */

export interface StripeStandinOptions {
  /** 0 (the default) picks a free port. */
  port?: number;
  /** Defaults to 127.0.0.1. */
  host?: string;
  /** Added before every response, to exercise client timeouts. */
  latencyMs?: number;
  /** Waits before retrying a webhook delivery that failed; defaults to 200 ms, 1 s, 5 s (then it is given up). */
  webhookRetryDelaysMs?: readonly number[];
  /** A folder to keep the state in across restarts; memory only when absent. */
  dataDir?: string;
  /**
   * The account's default API version (versions.ts): events to endpoints made without
   * `api_version` are rendered in it. Defaults to an old one, as an account that never
   * upgraded has, so that an app relying on it sees the difference.
   */
  accountApiVersion?: string;
}

export interface RequestLogEntry {
  method: string;
  /** The URL path without its query string. */
  path: string;
  idempotencyKey?: string;
  stripeAccount?: string;
  /** The key the request authenticated with, '' when none was sent. */
  apiKey: string;
  /** The decoded parameters: the form body for POST, the query string for GET. */
  body: Record<string, unknown>;
}

export interface StripeStandin {
  url: string;
  host: string;
  port: number;
  protocol: 'http';
  close(): Promise<void>;
  /** A copy of every PaymentIntent created, oldest first, whatever the key or account. */
  paymentIntents(): PaymentIntent[];
  /** A copy of every request received, in arrival order, retries included. */
  requestLog(): RequestLogEntry[];
  injectFaults(fault: Fault): void;
  clearFaults(): void;
  /** Every event emitted, oldest first, whatever the key or account. */
  events(): StripeEvent[];
  /** Every webhook endpoint with its signing secret (which the API shows only at creation). */
  webhookEndpoints(): (WebhookEndpoint & { secret: string })[];
  /** Every webhook delivery and how it went, in the order they were queued. */
  webhookDeliveries(): WebhookDelivery[];
  /** Keeps webhook deliveries back until `releaseWebhooks`, to deliver them out of order. */
  holdWebhooks(): void;
  releaseWebhooks(options?: { reverse?: boolean }): void;
  /** Delivers an event again to the endpoints subscribed to it, as Stripe does when a delivery is in doubt. */
  redeliverEvent(eventId: string): void;
  /**
   * Emits an event the stand-in does not produce itself (e.g. `payment_intent.processing`)
   * about `object`, for the test-mode platform account unless `owner` says otherwise, to the
   * endpoints made with `apiKey` (all of the account's when absent).
   */
  sendEvent(type: string, object: object, owner?: { livemode?: boolean; account?: string; apiKey?: string }): StripeEvent;
  /** Resolves when every queued webhook delivery has been made or given up (held ones excepted). */
  webhooksIdle(): Promise<void>;
}

const MAX_BODY_BYTES = 1024 * 1024;

export async function startStripeStandin(options: StripeStandinOptions = {}): Promise<StripeStandin> {
  const host = options.host ?? '127.0.0.1';
  const latencyMs = options.latencyMs ?? 0;
  const store = new Store();
  if (options.accountApiVersion !== undefined) store.accountApiVersion = options.accountApiVersion;
  const idempotency = new IdempotencyStore();
  const folder = options.dataDir === undefined ? undefined : new DataFolder(options.dataDir);
  folder?.load(store, idempotency);
  const faults = new FaultQueue();
  const log: RequestLogEntry[] = [];
  // Aborts pending delays on close, so that close() does not wait for them.
  const closing = new AbortController();
  const webhooks = new WebhookDispatcher(store, {
    retryDelaysMs: options.webhookRetryDelaysMs ?? [200, 1000, 5000],
    timeoutMs: 10_000,
    signal: closing.signal,
  });

  /** Hands the events of the request just handled to the dispatcher, tagged with the request. */
  function dispatchEvents(requestId: string, idempotencyKey: string | undefined): void {
    for (const { event, owner, apiKey } of store.outbox.splice(0)) {
      event.request = { id: requestId, idempotency_key: idempotencyKey ?? null };
      webhooks.enqueue(event, owner, apiKey);
    }
  }

  async function pause(ms: number): Promise<boolean> {
    if (ms <= 0) return !closing.signal.aborted;
    try {
      await sleep(ms, undefined, { signal: closing.signal });
      return true;
    } catch {
      return false;
    }
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = (req.method ?? 'GET').toUpperCase();
    const { path, query } = splitTarget(req.url ?? '/');
    const body = await readBody(req);
    const idempotencyKey = header(req, 'idempotency-key');
    const stripeAccount = header(req, 'stripe-account');
    const stripeVersion = header(req, 'stripe-version');
    const parsed = requestParams(method, query, header(req, 'content-type'), body);
    const auth = authenticate(header(req, 'authorization'), typeof parsed.params.key === 'string' ? parsed.params.key : undefined);

    log.push({
      method,
      path,
      ...(idempotencyKey !== undefined ? { idempotencyKey } : {}),
      ...(stripeAccount !== undefined ? { stripeAccount } : {}),
      apiKey: auth.apiKey,
      body: structuredClone(parsed.params),
    });

    const responseHeaders: Record<string, string> = {
      'Request-Id': newRequestId(),
      ...(stripeVersion !== undefined ? { 'Stripe-Version': stripeVersion } : {}),
      ...(stripeAccount !== undefined ? { 'Stripe-Account': stripeAccount } : {}),
      ...(idempotencyKey !== undefined && method === 'POST' ? { 'Idempotency-Key': idempotencyKey } : {}),
    };

    const fault = faults.take(method, path);
    if (fault?.kind === 'status') {
      if (await pause(latencyMs)) sendJson(res, fault.status, statusFaultBody(fault.status), responseHeaders);
      else res.destroy();
      return;
    }

    let admission: Admission | undefined;
    let outcome: { response: StoredResponse; save: boolean };
    if (!auth.ok) {
      outcome = { response: errorResponse(auth.error), save: false };
    } else if (parsed.error) {
      outcome = { response: errorResponse(parsed.error), save: false };
    } else {
      const route = matchRoute(method, path);
      if (!route) {
        outcome = { response: errorResponse(unrecognizedUrl(method, path)), save: false };
      } else if (auth.publishable && !route.publishable) {
        outcome = { response: errorResponse(publishableKeyRefused()), save: false };
      } else {
        // A browser's call: its key and the object's client secret travel as parameters.
        const { key: _key, client_secret: clientSecret, ...browserParams } = parsed.params;
        const params = auth.publishable ? browserParams : parsed.params;
        if (method === 'POST' && idempotencyKey) {
          admission = idempotency.admit({ apiKey: auth.apiKey, account: stripeAccount }, idempotencyKey, `${method} ${path}`, parsed.params);
        }
        if (admission?.kind === 'rejected') {
          outcome = { response: errorResponse(admission.error), save: false };
        } else if (admission?.kind === 'replay') {
          responseHeaders['Idempotent-Replayed'] = 'true';
          outcome = { response: admission.response, save: false };
        } else {
          outcome = run(() =>
            route.handler({
              params,
              ...(auth.publishable ? { clientSecret: typeof clientSecret === 'string' ? clientSecret : '' } : {}),
              id: route.id,
              owner: { livemode: auth.livemode, account: stripeAccount },
              stripeVersion,
              apiKey: auth.apiKey,
              store,
            }),
          );
        }
      }
    }

    // The key stays in progress while the answer is delayed, as a slow Stripe request would.
    const delay = latencyMs + (fault?.kind === 'delay' ? fault.ms : 0);
    const stillOpen = await pause(delay);
    if (admission?.kind === 'new') admission.finish(outcome.save ? outcome.response : undefined);
    // Stripe sends events once the request has acted, whether or not its answer reaches the client.
    dispatchEvents(responseHeaders['Request-Id']!, idempotencyKey);
    // Saved before the answer leaves: a client that got it finds it after a restart.
    if (folder && method !== 'GET') folder.save(store, idempotency);
    if (!stillOpen || fault?.kind === 'drop_after_processing') {
      res.destroy();
      return;
    }
    sendJson(res, outcome.response.status, outcome.response.body, responseHeaders);
  }

  const server = http.createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      // A client that went away mid-request is not a server fault.
      if (req.destroyed && !req.complete) return;
      console.error('[stripe-standin] unexpected error:', error);
      sendJson(res, 500, apiError().body(), { 'Request-Id': newRequestId() });
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;

  let closed: Promise<void> | undefined;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    host,
    port,
    protocol: 'http',
    close() {
      closed ??= new Promise<void>((resolve, reject) => {
        closing.abort();
        server.close((error) => (error ? reject(error) : resolve()));
        // The SDK keeps connections alive; close() would otherwise wait for them to idle out.
        server.closeAllConnections();
      });
      return closed;
    },
    paymentIntents() {
      return store.paymentIntents
        .all()
        .map(({ object, owner }) => ({ ...structuredClone(object), ...(owner.account !== undefined ? { stripe_account: owner.account } : {}) }));
    },
    requestLog() {
      return structuredClone(log);
    },
    injectFaults(fault) {
      faults.add(fault);
    },
    clearFaults() {
      faults.clear();
    },
    events() {
      return store.events.all().map(({ object }) => structuredClone(object));
    },
    webhookEndpoints() {
      return store.webhookEndpoints.all().map(({ object }) => ({ ...structuredClone(object), secret: store.webhookSecrets.get(object.id) ?? '' }));
    },
    webhookDeliveries() {
      return webhooks.deliveries();
    },
    holdWebhooks() {
      webhooks.hold();
    },
    releaseWebhooks(releaseOptions) {
      webhooks.release(releaseOptions);
    },
    redeliverEvent(eventId) {
      webhooks.redeliver(eventId);
    },
    sendEvent(type, object, owner = {}) {
      const event = recordEvent(store, { livemode: owner.livemode ?? false, account: owner.account }, type, object, owner.apiKey);
      dispatchEvents(newRequestId(), undefined);
      folder?.save(store, idempotency);
      return structuredClone(event);
    },
    webhooksIdle() {
      return webhooks.idle();
    },
  };
}

/** Runs a handler, turning what it throws into Stripe's error responses. */
function run(handler: () => Reply): { response: StoredResponse; save: boolean } {
  try {
    return { response: handler(), save: true };
  } catch (error) {
    if (error instanceof StripeApiError) {
      // Stripe stores an idempotent result only once the endpoint started acting, and never a 500.
      return { response: errorResponse(error), save: !(error instanceof ParameterError) && error.status < 500 };
    }
    console.error('[stripe-standin] unexpected error:', error);
    return { response: errorResponse(apiError()), save: false };
  }
}

function errorResponse(error: StripeApiError): StoredResponse {
  return { status: error.status, body: error.body() };
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  const first = Array.isArray(value) ? value[0] : value;
  return first === undefined || first === '' ? undefined : first;
}

async function readBody(req: IncomingMessage): Promise<{ text: string; tooLarge: boolean }> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    // Keep draining past the limit so the client still gets an answer.
    if (size <= MAX_BODY_BYTES) chunks.push(buffer);
  }
  return { text: Buffer.concat(chunks).toString('utf8'), tooLarge: size > MAX_BODY_BYTES };
}

/** Parameters as Stripe reads them: the query string, plus the form body for POST. */
/** Splits the request target without URL parsing, which rejects some targets a client can send (e.g. `//`). */
function splitTarget(target: string): { path: string; query: string } {
  const mark = target.indexOf('?');
  return mark === -1 ? { path: target, query: '' } : { path: target.slice(0, mark), query: target.slice(mark + 1) };
}

function requestParams(
  method: string,
  queryString: string,
  contentType: string | undefined,
  body: { text: string; tooLarge: boolean },
): { params: Params; error?: StripeApiError } {
  const query = queryString === '' ? {} : parseForm(queryString);
  if (method !== 'POST' || body.text === '') return { params: query };
  if (body.tooLarge) return { params: query, error: invalidRequest('Request body too large.', { status: 413 }) };
  const mediaType = (contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  if (mediaType !== '' && mediaType !== 'application/x-www-form-urlencoded') {
    return {
      params: query,
      error: invalidRequest(
        'Invalid request (check that your POST content type is application/x-www-form-urlencoded). ' +
          'If you have any questions, we can help at https://support.stripe.com/.',
      ),
    };
  }
  return { params: { ...query, ...parseForm(body.text) } };
}

function unrecognizedUrl(method: string, path: string): StripeApiError {
  return invalidRequest(
    `Unrecognized request URL (${method}: ${path}). Please see https://stripe.com/docs or we can help at https://support.stripe.com/.`,
    { status: 404 },
  );
}

function statusFaultBody(status: 500 | 429 | 503): unknown {
  if (status === 429) {
    return {
      error: {
        type: 'invalid_request_error',
        code: 'rate_limit',
        message: 'Request rate limit exceeded. Learn more about rate limits here https://stripe.com/docs/rate-limits.',
        doc_url: 'https://stripe.com/docs/error-codes/rate-limit',
      },
    };
  }
  return apiError(status === 503 ? 'Stripe is temporarily unavailable. Please try again later.' : undefined).body();
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string>): void {
  if (res.headersSent || res.destroyed) return;
  const text = `${JSON.stringify(body, null, 2)}\n`;
  res.writeHead(status, {
    ...headers,
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-cache, no-store',
  });
  res.end(text);
}
