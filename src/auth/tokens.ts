import { randomUUID } from 'node:crypto';
import type { PrismaClient } from '../db/client.ts';
import type { Access } from '../jsonapi/access.ts';
import { invalidToken } from '../jsonapi/errors.ts';
import { TokenError } from 'fast-jwt';
import { UnknownSigningKeyError, type SigningKeys } from './signing-keys.ts';

/** The `iss` of our access tokens. */
export const tokenIssuer = 'stripe-payments-api';

/**
 * Claims shaped like Commerce Layer's access tokens, so its SDKs and js-auth read them:
 * the application and its kind, the market in scope, the customer who signed in.
 */
export interface AccessTokenClaims {
  organization: { id: string; slug: string };
  application: { id: string; client_id: string; kind: string; public: boolean };
  market?: { id: string[]; code: string | null; number: number };
  owner?: { id: string; type: 'Customer' };
  scope: string;
  test: boolean;
  rand: number;
  /** This token, for revocation. */
  jti: string;
  /** The customer's session (refresh token family): revoking it ends its access tokens. */
  sid?: string;
}

export interface TokenSubject {
  application: { id: string; clientId: string; kind: string };
  scope: string;
  market?: { id: string; code: string | null; number: number };
  customerId?: string;
  sessionId?: string;
}

export function accessTokenClaims(subject: TokenSubject): AccessTokenClaims {
  const { application, market } = subject;
  return {
    organization: { id: 'local', slug: 'local' },
    application: { id: application.id, client_id: application.clientId, kind: application.kind, public: application.kind === 'sales_channel' },
    ...(market ? { market: { id: [market.id], code: market.code, number: market.number } } : {}),
    ...(subject.customerId ? { owner: { id: subject.customerId, type: 'Customer' as const } } : {}),
    scope: subject.scope,
    test: true,
    rand: Math.random(),
    jti: randomUUID(),
    ...(subject.sessionId ? { sid: subject.sessionId } : {}),
  };
}

/** What the token lets its bearer reach: sales channel tokens are held to their market (and customer). */
export function accessOf(claims: AccessTokenClaims): Access {
  const clientId = claims.application.client_id;
  const tokenId = claims.jti;
  const application = { id: claims.application.id, kind: claims.application.kind, public: claims.application.public };
  const who = { application, ...(claims.owner ? { owner: { id: claims.owner.id, type: claims.owner.type } } : {}) };
  if (claims.application.kind !== 'sales_channel') return { clientId, tokenId, ...who };
  const marketId = claims.market?.id[0];
  // A sales channel token without a market reaches nothing: the token endpoint never issues one.
  return { clientId, tokenId, ...who, storefront: { marketId: marketId ?? '', customerId: claims.owner?.id ?? null } };
}

function isClaims(value: Record<string, unknown>): value is Record<string, unknown> & AccessTokenClaims {
  const application = value.application as { id?: unknown; client_id?: unknown; kind?: unknown } | undefined;
  return (
    typeof value.jti === 'string' &&
    typeof application?.id === 'string' &&
    typeof application.client_id === 'string' &&
    typeof application.kind === 'string'
  );
}

/**
 * Tokens the database said were valid within the last `ttlMs`, so that a client's burst of
 * requests costs one revocation check, not one each. Requests that find a token's check
 * stale while it is being made wait for that check instead of making their own: when the
 * check of a token in constant use expires, every request in flight would otherwise check
 * it at once (64 statements at 64 connections, each second, waiting for the pool together).
 * Revocations and application deletions made by this instance forget them at once (a check
 * already under way then counts for its own waiters only); other instances notice within `ttlMs`.
 */
export class RecentTokenChecks {
  private readonly checkedAt = new Map<string, number>();
  private readonly underWay = new Map<string, Promise<void>>();
  /** Bumped by `forgetAll`: a check begun before it is not remembered. */
  private generation = 0;

  constructor(
    private readonly ttlMs: number,
    private readonly maxEntries = 10_000,
  ) {}

  isFresh(tokenId: string, now = Date.now()): boolean {
    const at = this.checkedAt.get(tokenId);
    return at !== undefined && now - at < this.ttlMs;
  }

  /** Resolves when `check` passed for `tokenId` within `ttlMs`: by this call, by one under way, or remembered. */
  ensure(tokenId: string, check: () => Promise<void>): Promise<void> {
    // Without a cache every request is checked on its own: one under way may have read the
    // token before a revocation that committed when this request arrived.
    if (this.ttlMs <= 0) return check();
    const now = Date.now();
    if (this.isFresh(tokenId, now)) return Promise.resolve();
    const shared = this.underWay.get(tokenId);
    if (shared) return shared;
    const generation = this.generation;
    const checking = check()
      .then(() => {
        if (generation === this.generation) this.remember(tokenId, now);
      })
      .finally(() => {
        if (this.underWay.get(tokenId) === checking) this.underWay.delete(tokenId);
      });
    this.underWay.set(tokenId, checking);
    return checking;
  }

  remember(tokenId: string, now = Date.now()): void {
    if (this.ttlMs <= 0) return;
    // Bounded: past the limit it starts over, which costs a check per token, nothing more.
    if (this.checkedAt.size >= this.maxEntries) this.checkedAt.clear();
    this.checkedAt.set(tokenId, now);
  }

  forgetAll(): void {
    this.generation += 1;
    this.checkedAt.clear();
    this.underWay.clear();
  }
}

/**
 * Who a bearer token speaks for: its signature and expiry checked, its claims well formed,
 * and neither it, its session nor its application revoked; otherwise a 401 (INVALID_TOKEN).
 */
export async function verifyAccessToken(keys: SigningKeys, db: PrismaClient, recentChecks: RecentTokenChecks, token: string): Promise<Access> {
  let claims: Record<string, unknown>;
  try {
    claims = await keys.verify(token);
  } catch (error) {
    // Only the token's own faults are the caller's; loading the keys can also meet a database outage (a 503).
    if (!(error instanceof TokenError) && !(error instanceof UnknownSigningKeyError)) throw error;
    throw invalidToken('The access token is invalid or has expired.', { header: 'Authorization' });
  }
  if (!isClaims(claims)) throw invalidToken('The access token is invalid or has expired.', { header: 'Authorization' });
  const checked = claims;
  // Remembered when checked, not when used: a token in constant use is still checked once per lifetime.
  await recentChecks.ensure(checked.jti, () => assertNotRevoked(db, checked));
  return accessOf(checked);
}

async function assertNotRevoked(db: PrismaClient, claims: AccessTokenClaims): Promise<void> {
  // One statement: the token or its session revoked, its application deleted since it was
  // issued, or the market it works in disabled (its tokens work again if it is enabled).
  const marketId = claims.market?.id[0] ?? null;
  const [state] = await db.$queryRaw<{ revoked: boolean; application: boolean; market_disabled: boolean }[]>`
    SELECT EXISTS (SELECT 1 FROM token_revocations WHERE id IN (${claims.jti}, ${claims.sid ?? claims.jti})) AS revoked,
           EXISTS (SELECT 1 FROM applications WHERE id = ${claims.application.id}) AS application,
           EXISTS (SELECT 1 FROM markets WHERE id = ${marketId}::text AND disabled_at IS NOT NULL) AS market_disabled`;
  if (!state || state.revoked || !state.application) throw invalidToken('The access token has been revoked.', { header: 'Authorization' });
  if (state.market_disabled) throw invalidToken("The access token's market is disabled.", { header: 'Authorization' });
}

/** Once the tokens they concern have expired, revocations and refresh tokens serve no purpose. */
export async function purgeExpiredTokenRecords(db: PrismaClient, now = new Date()): Promise<number> {
  const [revocations, refreshTokens] = await db.$transaction([
    db.tokenRevocation.deleteMany({ where: { expiresAt: { lte: now } } }),
    db.refreshToken.deleteMany({ where: { expiresAt: { lte: now } } }),
  ]);
  return revocations.count + refreshTokens.count;
}
