import { createHash, createHmac } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { PrismaClient } from '../db/client.ts';
import type { Access } from '../jsonapi/access.ts';
import { newId } from '../ids.ts';
import { badRequest, conflict, JsonApiError } from '../jsonapi/errors.ts';
import { mediaType } from '../jsonapi/media-type.ts';
import { committedState } from '../keyed-writes.ts';

/**
 * Stripe's Idempotency-Key semantics for our own POST and PATCH: the same key and body
 * replay the first response, the same key with another body is refused, and a second
 * request while the first is still running gets a 409 instead of running twice. Keys are
 * scoped to the client that sent them and expire after `ttlSeconds`.
 *
 * The table holds nothing a reader could use: an answer carrying a value shown only once
 * (an integration's `client_secret`) is stored as a 410 saying it cannot be shown again, and
 * request fingerprints are HMACs under a key derived from ENCRYPTION_KEY, so a body holding
 * a password (a customer sign-up) cannot be guessed offline from its fingerprint.
 *
 * A create records its key in its own transaction (src/keyed-writes.ts): once the record
 * has committed, the key says so on every instance, even when its answer could not be
 * stored (the connection cut around the COMMIT, the server killed). A retry then gets the
 * record's answer built again (201, `Idempotent-Replayed`) instead of a second record.
 */
export interface IdempotencyOptions {
  ttlSeconds: number;
  /** The HMAC key of request fingerprints (see `deriveKey`). */
  fingerprintKey: Buffer;
  /**
   * A key not refreshed for this long was lost with its server (killed mid-request): the
   * next request with it may run. The instance running a request refreshes its key every
   * third of this, so a request that runs longer still holds its key. Default 15.
   */
  abandonedAfterSeconds?: number;
}

const keyPattern = /^[\x21-\x7e]{1,255}$/;
const replayedHeaders = ['location', 'content-type'] as const;

declare module 'fastify' {
  interface FastifyRequest {
    idempotencyRecordId?: string;
    /** Digest of the key and its owner, for payment steps that recognise their own retries. */
    idempotencyKeyDigest?: string;
    /** Set when the answer shows a value once (a secret): it is then never stored for replay. */
    answerShowsSecret?: boolean;
    /** The record an earlier request with this key created and committed, answered again instead of created twice. */
    idempotencyCommittedRecordId?: string;
  }
}

/** The fingerprint of a request's method, URL and body, keyed: see the module comment. */
export function requestFingerprint(key: Buffer, method: string, url: string, body: unknown): string {
  return createHmac('sha256', key).update(`${method} ${url}\n${JSON.stringify(body ?? null)}`).digest('hex');
}

/** What a replay of an answer that showed a secret gets instead: the record exists, the secret is not kept. */
function secretNotReplayable(location: string | undefined): StoredAnswer {
  const detail =
    'The answer to the first request with this Idempotency-Key carried a secret shown only once, so it was not stored and cannot be shown again.' +
    (location ? ` The resource it created is at ${location}.` : '');
  return {
    status: 410,
    body: JSON.stringify({ errors: [{ title: 'Gone', detail, code: 'SECRET_NOT_REPLAYABLE', status: '410', source: { header: 'Idempotency-Key' } }] }),
    headers: { 'content-type': mediaType, ...(location ? { location } : {}) },
  };
}

function isUniqueViolation(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: string }).code === 'P2002';
}

interface StoredAnswer {
  status: number;
  body: string;
  headers: Record<string, string>;
}

/**
 * How a finished request's key is to be left (its answer stored, or the key released after
 * a 5xx) when the database could not be told at once, e.g. its connection was cut. Written
 * again in the background until it lands; meanwhile this instance answers from memory.
 */
type Finish = { kind: 'done'; answer: StoredAnswer } | { kind: 'release' };

/** A committed create that ended without storing its answer: the next request with the key answers from its record. */
const endedState = 'ended';

/** Waits between background attempts to finish a key: quick at first, then every 5 s for ~10 minutes. */
const finishRetryDelaysMs = [100, 250, 500, 1_000, 2_000, ...Array<number>(120).fill(5_000)];

/** Registers the idempotency layer on a scope whose requests are already authenticated. */
export function useIdempotencyKeys(scope: FastifyInstance, db: PrismaClient, options: IdempotencyOptions): void {
  const abandonedAfterMs = (options.abandonedAfterSeconds ?? 15) * 1000;
  const unfinished = new Map<string, { finish: Finish; timer: NodeJS.Timeout }>();

  // The keys of the requests this instance is running, refreshed so that other instances see
  // them held; a killed instance stops refreshing, and its keys are free within abandonedAfterMs
  // (a client retrying for less than the old fixed minute got 409s until it gave up, leaving
  // a PaymentIntent made for a reservation nobody resumed).
  const held = new Set<string>();
  const heartbeat = setInterval(() => {
    if (held.size === 0) return;
    db.idempotencyKey
      .updateMany({ where: { id: { in: [...held] }, state: { in: ['in_progress', committedState] } }, data: { updatedAt: new Date() } })
      .catch(() => {
        // The database is away: the next beat tries again, and the key's own request sees the fault.
      });
  }, abandonedAfterMs / 3);
  heartbeat.unref();

  async function write(id: string, finish: Finish): Promise<void> {
    if (finish.kind === 'release') {
      // Nothing committed: the key goes. A create committed: the key stays, its record answers the retry.
      await db.idempotencyKey.deleteMany({ where: { id, state: 'in_progress' } });
      await db.idempotencyKey.updateMany({ where: { id, state: committedState }, data: { state: endedState } });
      return;
    }
    const { answer } = finish;
    await db.idempotencyKey.update({
      where: { id },
      data: { state: 'done', responseStatus: answer.status, responseBody: answer.body, responseHeaders: answer.headers },
    });
  }

  /** Records how a request's key ends; never fails the request, whose outcome is already decided. */
  async function finishKey(request: FastifyRequest, id: string, finish: Finish): Promise<void> {
    try {
      await write(id, finish);
      return;
    } catch (error) {
      request.log.warn({ err: { message: (error as Error).message }, idempotencyKeyRecord: id }, 'idempotency key not finished; retrying in the background');
    }
    const retry = (attempt: number) => {
      const delay = finishRetryDelaysMs[attempt];
      if (delay === undefined) {
        unfinished.delete(id);
        return;
      }
      const timer = setTimeout(() => {
        write(id, finish).then(
          () => unfinished.delete(id),
          () => retry(attempt + 1),
        );
      }, delay);
      // Pending retries never keep the process alive.
      timer.unref();
      unfinished.set(id, { finish, timer });
    };
    retry(0);
  }

  scope.addHook('onClose', async () => {
    clearInterval(heartbeat);
    for (const { timer } of unfinished.values()) clearTimeout(timer);
    unfinished.clear();
  });

  async function claim(request: FastifyRequest, reply: FastifyReply, key: string, clientId: string): Promise<FastifyReply | undefined> {
    const requestHash = requestFingerprint(options.fingerprintKey, request.method, request.url, request.body);
    const now = new Date();
    for (let attempt = 0; attempt < 2; attempt += 1) {
      try {
        const record = await db.idempotencyKey.create({
          data: {
            id: newId(),
            clientId,
            key,
            method: request.method,
            path: request.url,
            requestHash,
            state: 'in_progress',
            expiresAt: new Date(now.getTime() + options.ttlSeconds * 1000),
          },
        });
        request.idempotencyRecordId = record.id;
        held.add(record.id);
        return undefined;
      } catch (error) {
        if (!isUniqueViolation(error)) throw error;
      }
      const existing = await db.idempotencyKey.findUnique({ where: { clientId_key: { clientId, key } } });
      if (!existing) continue;
      if (existing.expiresAt <= now) {
        await db.idempotencyKey.deleteMany({ where: { id: existing.id, expiresAt: { lte: now } } });
        continue;
      }
      if (existing.requestHash !== requestHash) {
        throw new JsonApiError(422, [
          {
            title: 'Idempotency key reused',
            detail: 'This Idempotency-Key was already used with another request; keys may only be reused with the same method, URL and body.',
            code: 'IDEMPOTENCY_KEY_REUSED',
            source: { header: 'Idempotency-Key' },
          },
        ]);
      }
      if (existing.state === 'done' && existing.responseStatus !== null && existing.responseBody !== null) {
        const headers = (existing.responseHeaders ?? {}) as Record<string, string>;
        return reply.code(existing.responseStatus).headers({ ...headers, 'idempotent-replayed': 'true' }).send(existing.responseBody);
      }
      // Finished here, but the database has not been told yet: answer as it will be.
      const pending = unfinished.get(existing.id)?.finish;
      if (pending?.kind === 'done') {
        return reply.code(pending.answer.status).headers({ ...pending.answer.headers, 'idempotent-replayed': 'true' }).send(pending.answer.body);
      }
      // In progress (or its create committed, the rest still running): still running elsewhere,
      // its server died mid-request, or (pending release) it failed here. Ended: it failed after its create committed.
      if (existing.state !== endedState && pending === undefined && now.getTime() - existing.updatedAt.getTime() < abandonedAfterMs) {
        throw conflict('A request with this Idempotency-Key is still in progress. Retry when it has finished.', { header: 'Idempotency-Key' });
      }
      const taken = await db.idempotencyKey.updateMany({
        where: { id: existing.id, state: existing.state, updatedAt: existing.updatedAt },
        data: { updatedAt: now, ...(existing.state === endedState ? { state: committedState } : {}) },
      });
      if (taken.count === 1) {
        // This request owns the key again: a release still pending would take it away.
        const stale = unfinished.get(existing.id);
        if (stale) clearTimeout(stale.timer);
        unfinished.delete(existing.id);
        request.idempotencyRecordId = existing.id;
        held.add(existing.id);
        if (existing.recordId !== null && existing.state !== 'in_progress') request.idempotencyCommittedRecordId = existing.recordId;
        return undefined;
      }
      throw conflict('A request with this Idempotency-Key is still in progress. Retry when it has finished.', { header: 'Idempotency-Key' });
    }
    throw conflict('The Idempotency-Key could not be claimed. Retry.', { header: 'Idempotency-Key' });
  }

  const claimKey = async (request: FastifyRequest, reply: FastifyReply) => {
    if (request.method !== 'POST' && request.method !== 'PATCH') return;
    const header = request.headers['idempotency-key'];
    if (header === undefined) return;
    if (typeof header !== 'string' || !keyPattern.test(header)) {
      throw badRequest('Idempotency-Key must be 1 to 255 printable ASCII characters', { header: 'Idempotency-Key' });
    }
    const owner = keyOwner(request.access);
    request.idempotencyKeyDigest = createHash('sha256').update(`${owner}\n${header}`).digest('hex').slice(0, 32);
    return claim(request, reply, header, owner);
  };

  const finishOnSend = async (request: FastifyRequest, reply: FastifyReply, payload: unknown) => {
    const id = request.idempotencyRecordId;
    if (!id) return payload;
    request.idempotencyRecordId = undefined;
    held.delete(id);
    // Our failure, or a 409 that says "retry when the work in progress has finished": an
    // answer the same key must be able to get past, so it is not stored (nor is it by Stripe).
    if (reply.statusCode >= 500 || reply.statusCode === 409) {
      await finishKey(request, id, { kind: 'release' });
      return payload;
    }
    const headers: Record<string, string> = {};
    for (const name of replayedHeaders) {
      const value = reply.getHeader(name);
      if (typeof value === 'string') headers[name] = value;
    }
    // The write has committed: its answer goes out even if storing it has to wait.
    const answer = request.answerShowsSecret && reply.statusCode < 300
      ? secretNotReplayable(headers.location)
      : { status: reply.statusCode, body: typeof payload === 'string' ? payload : '', headers };
    await finishKey(request, id, { kind: 'done', answer });
    return payload;
  };

  // Only routes that take POST or PATCH run these: reads pay nothing for them.
  scope.addHook('onRoute', (route) => {
    const methods = [route.method].flat();
    if (!methods.includes('POST') && !methods.includes('PATCH')) return;
    route.preHandler = [...[route.preHandler ?? []].flat(), claimKey];
    route.onSend = [...[route.onSend ?? []].flat(), finishOnSend];
  });
}

/** Removes expired keys; cheap thanks to the index on expires_at. */
export async function purgeExpiredIdempotencyKeys(db: PrismaClient, now = new Date()): Promise<number> {
  const { count } = await db.idempotencyKey.deleteMany({ where: { expiresAt: { lte: now } } });
  return count;
}

/**
 * Whose keys these are. All shoppers of a storefront share its client id, so their keys
 * are kept apart by customer, or for guests by token: one shopper's key never replays
 * another's response.
 */
function keyOwner(access: Access | null | undefined): string {
  if (!access) return 'anonymous';
  const storefront = access.storefront;
  if (!storefront) return access.clientId;
  return storefront.customerId ? `${access.clientId}|customer:${storefront.customerId}` : `${access.clientId}|token:${access.tokenId}`;
}
