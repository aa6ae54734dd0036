import { createHash, randomBytes } from 'node:crypto';
import { z } from 'zod';
import { hashSecret, verifySecret } from '../crypto/password.ts';
import type { PrismaClient } from '../db/client.ts';
import { newId } from '../ids.ts';
import { JsonApiError } from '../jsonapi/errors.ts';
import { authenticateClient } from './applications.ts';
import type { SigningKeys } from './signing-keys.ts';
import { accessTokenClaims, type AccessTokenClaims, type TokenSubject } from './tokens.ts';

const clientFields = {
  client_id: z.string().min(1).max(255),
  client_secret: z.string().min(1).max(255).optional(),
  scope: z.string().max(1000).optional(),
};

/** The token request body, JSON or form, one shape per grant; also the OpenAPI document's schema of it. */
export const tokenRequestSchema = z.discriminatedUnion(
  'grant_type',
  [
    z.object({ grant_type: z.literal('client_credentials'), ...clientFields }),
    z.object({ grant_type: z.literal('password'), username: z.string().min(1).max(254), password: z.string().min(1).max(1000), ...clientFields }),
    z.object({ grant_type: z.literal('refresh_token'), refresh_token: z.string().min(1).max(255), ...clientFields }),
  ],
  { message: 'grant_type must be client_credentials, password or refresh_token' },
);

export const revokeRequestSchema = z.object({
  client_id: z.string().min(1).max(255),
  client_secret: z.string().min(1).max(255).optional(),
  token: z.string().min(1).max(4096),
});

/** Commerce Layer's lifetimes: refresh tokens last two weeks. */
const refreshTokenTtlSeconds = 14 * 86_400;

function oauthError(status: number, code: string, detail: string) {
  return new JsonApiError(status, [{ title: code.toLowerCase(), detail, code }]);
}

/**
 * HTTP Basic client authentication (RFC 6749 §2.3.1: `Authorization: Basic` over the
 * form-encoded client_id and client_secret), as Postman's and Swagger UI's OAuth 2
 * helpers send it, merged into the request's fields. A client authenticates one way:
 * a secret in both places, or two different client ids, is a 400.
 */
export function withBasicClientAuthentication(body: unknown, authorization: string | undefined): unknown {
  const match = /^Basic\s+(\S+)\s*$/i.exec(authorization ?? '');
  if (!match) return body;
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) throw oauthError(400, 'INVALID_REQUEST', 'Authorization: Basic must carry base64(client_id:client_secret).');
  const decode = (value: string) => {
    try {
      return decodeURIComponent(value.replace(/\+/g, ' '));
    } catch {
      throw oauthError(400, 'INVALID_REQUEST', 'Authorization: Basic carries a malformed client_id or client_secret.');
    }
  };
  const clientId = decode(decoded.slice(0, colon));
  const clientSecret = decode(decoded.slice(colon + 1));
  const fields = { ...((body ?? {}) as Record<string, unknown>) };
  if (fields.client_secret !== undefined) {
    throw oauthError(400, 'INVALID_REQUEST', 'The client authenticated twice: send client_secret in the Authorization header or in the body, not both.');
  }
  if (fields.client_id !== undefined && fields.client_id !== clientId) {
    throw oauthError(400, 'INVALID_REQUEST', 'client_id in the body differs from the one in the Authorization header.');
  }
  return { ...fields, client_id: clientId, ...(clientSecret === '' ? {} : { client_secret: clientSecret }) };
}

/** A body the token and revoke endpoints cannot read, saying what to send instead. */
export function unreadableBody(detail: string) {
  return oauthError(400, 'INVALID_REQUEST', detail);
}

const sha256 = (value: string) => createHash('sha256').update(value).digest('base64url');

type Market = { id: string; code: string | null; number: number; disabledAt: Date | null };

/**
 * The market a scope names: `market:code:<code>`, `market:id:<id>` or Commerce Layer's
 * `market:<number>`. `market:all` (or none) means every market, for integrations.
 */
async function marketInScope(db: PrismaClient, scope: string | undefined): Promise<Market | 'all'> {
  const entries = (scope ?? '').split(/\s+/).filter(Boolean);
  if (entries.length === 0 || (entries.length === 1 && entries[0] === 'market:all')) return 'all';
  const invalid = (detail: string) => oauthError(400, 'INVALID_SCOPE', detail);
  if (entries.length > 1) throw invalid('Name one market in scope, e.g. market:code:europe.');
  const match = /^market:(?:(code|id):(.{1,255})|(\d{1,9}))$/.exec(entries[0]!);
  if (!match) throw invalid(`Unknown scope ${entries[0]!.slice(0, 100)}: use market:code:<code>, market:id:<id> or market:<number>.`);
  const [, by, value, number] = match;
  const market = await db.market.findFirst({
    where: number !== undefined ? { number: Number(number) } : by === 'code' ? { code: value! } : { id: value! },
  });
  if (!market || market.disabledAt) throw invalid('The market in scope does not exist or is disabled.');
  return market;
}

type TokenRequest = z.infer<typeof tokenRequestSchema>;
type Application = NonNullable<Awaited<ReturnType<typeof authenticateClient>>>;

/** What the grants need: the database, the keys that sign, and the token checks a revocation must empty. */
export interface OAuthDependencies {
  db: PrismaClient;
  signingKeys: SigningKeys;
  tokenTtlSeconds: number;
  tokenChecks: { forgetAll(): void };
}

/** The token request, or a 400: UNSUPPORTED_GRANT_TYPE for an unknown grant, INVALID_REQUEST for a malformed field. */
export function parseTokenRequest(body: unknown): TokenRequest {
  const fields = (body ?? {}) as Record<string, unknown>;
  const parsed = tokenRequestSchema.safeParse(fields);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const field = String(issue.path[0] ?? 'body');
  const unsupported = field === 'grant_type' && typeof fields.grant_type === 'string';
  throw oauthError(400, unsupported ? 'UNSUPPORTED_GRANT_TYPE' : 'INVALID_REQUEST', `${field}: ${issue.message}`);
}

/** The revocation request, or a 400 INVALID_REQUEST. */
export function parseRevokeRequest(body: unknown): z.infer<typeof revokeRequestSchema> {
  const parsed = revokeRequestSchema.safeParse(body ?? {});
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  throw oauthError(400, 'INVALID_REQUEST', `${String(issue.path[0] ?? 'body')}: ${issue.message}`);
}

/** The application the request's client credentials sign in as, or a 401 INVALID_CLIENT. */
export async function authenticateOAuthClient(db: PrismaClient, clientId: string, clientSecret: string | undefined): Promise<Application> {
  const application = await authenticateClient(db, clientId, clientSecret);
  if (!application) throw oauthError(401, 'INVALID_CLIENT', 'Client authentication failed: unknown client or wrong secret.');
  return application;
}

async function issue(deps: OAuthDependencies, subject: TokenSubject, refreshToken?: string) {
  const accessToken = await deps.signingKeys.sign({ ...accessTokenClaims(subject) });
  return {
    access_token: accessToken,
    token_type: 'bearer',
    expires_in: deps.tokenTtlSeconds,
    ...(refreshToken ? { refresh_token: refreshToken } : {}),
    scope: subject.scope,
    created_at: Math.floor(Date.now() / 1000),
    ...(subject.customerId ? { owner_id: subject.customerId, owner_type: 'customer' } : {}),
  };
}

/** A new refresh token in the session; only its hash is stored. */
async function newRefreshToken(db: PrismaClient, session: { sessionId: string; applicationId: string; customerId: string; marketId: string; scope: string }) {
  const token = randomBytes(32).toString('base64url');
  await db.refreshToken.create({
    data: { id: newId(), tokenHash: sha256(token), ...session, expiresAt: new Date(Date.now() + refreshTokenTtlSeconds * 1000) },
  });
  return token;
}

/**
 * Commerce Layer's grants for an authenticated application: client_credentials for
 * integrations and sales channels, password and refresh_token for customers of a sales
 * channel. Answers the token response, or throws an OAuth error (400).
 */
export async function grantToken(deps: OAuthDependencies, application: Application, grant: TokenRequest) {
  const { db, tokenTtlSeconds } = deps;
  const salesChannel = application.kind === 'sales_channel';

  if (grant.grant_type === 'refresh_token') {
    const stored = await db.refreshToken.findUnique({ where: { tokenHash: sha256(grant.refresh_token) } });
    const invalidGrant = oauthError(400, 'INVALID_GRANT', 'The refresh token is invalid, expired or revoked.');
    if (!stored || stored.applicationId !== application.id || stored.expiresAt.getTime() <= Date.now()) throw invalidGrant;
    // One use each: the claim is atomic, so two refreshes racing with one token get one new token.
    const claimed = await db.refreshToken.updateMany({ where: { id: stored.id, revokedAt: null }, data: { revokedAt: new Date() } });
    if (claimed.count === 0) {
      // A used token coming back means it leaked: end the whole session (OAuth 2.0 Security BCP).
      await revokeSession(db, stored.sessionId, tokenTtlSeconds);
      deps.tokenChecks.forgetAll();
      throw invalidGrant;
    }
    const market = await db.market.findUnique({ where: { id: stored.marketId } });
    if (!market || market.disabledAt) throw invalidGrant;
    const session = { sessionId: stored.sessionId, applicationId: application.id, customerId: stored.customerId, marketId: market.id, scope: stored.scope };
    const subject = { application, scope: stored.scope, market, customerId: stored.customerId, sessionId: stored.sessionId };
    return issue(deps, subject, await newRefreshToken(db, session));
  }

  if (grant.grant_type === 'password') {
    if (!salesChannel) throw oauthError(400, 'UNAUTHORIZED_CLIENT', 'The password grant is for sales channel applications.');
    const market = await marketInScope(db, grant.scope);
    if (market === 'all') throw oauthError(400, 'INVALID_SCOPE', 'Sales channels must name a market in scope, e.g. market:code:europe.');
    const customer = await db.customer.findUnique({ where: { email: grant.username.toLowerCase() } });
    // The same work whether or not the customer exists, so timing does not tell.
    const valid = await verifySecret(grant.password, customer?.passwordHash ?? (await dummyPasswordHash()));
    if (!customer?.passwordHash || !valid) throw oauthError(400, 'INVALID_GRANT', 'Invalid customer email or password.');
    const scope = grant.scope!.trim();
    const session = { sessionId: newId(16), applicationId: application.id, customerId: customer.id, marketId: market.id, scope };
    const subject = { application, scope, market, customerId: customer.id, sessionId: session.sessionId };
    return issue(deps, subject, await newRefreshToken(db, session));
  }

  const market = await marketInScope(db, grant.scope);
  if (salesChannel && market === 'all') {
    throw oauthError(400, 'INVALID_SCOPE', 'Sales channels must name a market in scope, e.g. market:code:europe.');
  }
  if (!salesChannel && market !== 'all') {
    throw oauthError(400, 'INVALID_SCOPE', 'Integration tokens reach every market: ask for market:all or no scope.');
  }
  return issue(deps, { application, scope: market === 'all' ? 'market:all' : grant.scope!.trim(), ...(market === 'all' ? {} : { market }) });
}

/**
 * Revokes an access token (by its jti, until it would have expired) or a refresh token
 * (its whole session) of this application. RFC 7009: an unknown token, or another
 * client's, is answered like a revoked one, so this never says which it was.
 */
export async function revokeToken(deps: OAuthDependencies, application: Application, token: string): Promise<void> {
  const { db, tokenTtlSeconds } = deps;
  if (token.split('.').length === 3) {
    const claims = (await deps.signingKeys.verify(token).catch(() => null)) as (AccessTokenClaims & { exp?: number }) | null;
    if (claims?.application?.client_id === application.clientId && typeof claims.jti === 'string') {
      const expiresAt = new Date((claims.exp ?? Date.now() / 1000 + tokenTtlSeconds) * 1000);
      await db.tokenRevocation.upsert({ where: { id: claims.jti }, create: { id: claims.jti, expiresAt }, update: {} });
      deps.tokenChecks.forgetAll();
    }
    return;
  }
  const stored = await db.refreshToken.findUnique({ where: { tokenHash: sha256(token) } });
  if (stored && stored.applicationId === application.id) {
    await revokeSession(db, stored.sessionId, tokenTtlSeconds);
    deps.tokenChecks.forgetAll();
  }
}

/** Ends a customer's session: its refresh tokens, and the access tokens issued from them. */
async function revokeSession(db: PrismaClient, sessionId: string, tokenTtlSeconds: number): Promise<void> {
  await db.$transaction([
    db.refreshToken.updateMany({ where: { sessionId, revokedAt: null }, data: { revokedAt: new Date() } }),
    db.tokenRevocation.upsert({
      where: { id: sessionId },
      create: { id: sessionId, expiresAt: new Date(Date.now() + tokenTtlSeconds * 1000) },
      update: {},
    }),
  ]);
}

let dummyHash: Promise<string> | undefined;
function dummyPasswordHash(): Promise<string> {
  dummyHash ??= hashSecret('not a password anyone has');
  return dummyHash;
}
