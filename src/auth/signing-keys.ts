import { createPublicKey, generateKeyPair, randomUUID, type JsonWebKey } from 'node:crypto';
import { promisify } from 'node:util';
import { createDecoder, createSigner, createVerifier } from 'fast-jwt';
import type { SecretBox } from '../crypto/secret-box.ts';
import type { PrismaClient } from '../db/client.ts';

/** Commerce Layer signs its access tokens with RS512 and publishes the keys as a JWKS. */
export const signingAlgorithm = 'RS512';
const generateRsaKeyPair = promisify(generateKeyPair);
// Taken by the instance that rotates, so instances starting together make one key, not one each.
const rotationLockId = 7_303_101;

export class UnknownSigningKeyError extends Error {}

interface LoadedKey {
  kid: string;
  createdAt: Date;
  publicJwk: Record<string, unknown>;
  verify: (token: string) => Record<string, unknown>;
  sign?: (payload: Record<string, unknown>) => string;
}

export interface SigningKeyOptions {
  /** A new key signs after this long; the old one stays published until its tokens expire. */
  rotationSeconds: number;
  tokenTtlSeconds: number;
  issuer: string;
  onRotationError?: (error: unknown) => void;
}

/**
 * The keys that sign and verify access tokens, shared by every instance through the
 * database (private keys sealed). Verification is local and remembered per token until
 * it expires; a kid this instance has not seen (another instance rotated) reloads the
 * keys once.
 */
export class SigningKeys {
  private keys = new Map<string, LoadedKey>();
  private current: LoadedKey | undefined;
  private lastReload = 0;
  private rotating: Promise<void> | undefined;
  private loading: Promise<void> | undefined;
  private pendingReload: Promise<void> | undefined;
  // The newest key could not be opened here: the next rotation must not wait for it to age.
  private unusable = false;
  private readonly decodeHeader = createDecoder({ complete: true });
  /**
   * Tokens verified before, by their exact text, until they expire: a storefront sends the
   * same token with every request, and decoding, hashing and looking it up again cost a
   * tenth of a GET by id (docs/benchmarks.md). Bounded: when full it starts over.
   */
  private readonly verified = new Map<string, { claims: Record<string, unknown>; expiresAtMs: number }>();
  private readonly maxVerified = 10_000;

  constructor(
    private readonly db: PrismaClient,
    private readonly secretBox: SecretBox,
    private readonly options: SigningKeyOptions,
  ) {}

  /**
   * Loads the keys on first use, making the first one (or a fresh one when the newest is
   * due). Lazily, so the app builds without its database; a failed load is retried.
   */
  private ensureLoaded(): Promise<void> {
    this.loading ??= (async () => {
      await this.reload();
      if (this.isDue()) await this.rotate();
    })().catch((error: unknown) => {
      this.loading = undefined;
      throw error;
    });
    return this.loading;
  }

  private isDue(): boolean {
    return this.unusable || !this.current || Date.now() - this.current.createdAt.getTime() >= this.options.rotationSeconds * 1000;
  }

  /** Makes a new signing key now (unless another instance just did) and prunes keys no token can use. */
  async rotate(options: { force?: boolean } = {}): Promise<void> {
    await this.db.$transaction(async (tx) => {
      await tx.$executeRaw`SELECT pg_advisory_xact_lock(${rotationLockId})`;
      const newest = await tx.signingKey.findFirst({ orderBy: { createdAt: 'desc' } });
      const fresh = newest && Date.now() - newest.createdAt.getTime() < this.options.rotationSeconds * 1000;
      if (fresh && !options.force && !this.unusable) return;
      const { publicKey, privateKey } = await generateRsaKeyPair('rsa', { modulusLength: 2048 });
      const kid = randomUUID();
      const publicJwk = { ...publicKey.export({ format: 'jwk' }), kid, alg: signingAlgorithm, use: 'sig' };
      await tx.signingKey.create({
        data: {
          id: kid,
          algorithm: signingAlgorithm,
          publicJwk,
          privateKeyEncrypted: this.secretBox.seal(privateKey.export({ format: 'pem', type: 'pkcs8' }).toString()),
        },
      });
      await tx.signingKey.deleteMany({ where: { createdAt: { lt: this.publishedSince() } } });
    });
    this.unusable = false;
    await this.reload();
  }

  /** Keys younger than this may have signed a token that has not expired yet. */
  private publishedSince(): Date {
    const { rotationSeconds, tokenTtlSeconds } = this.options;
    return new Date(Date.now() - (rotationSeconds + tokenTtlSeconds + 300) * 1000);
  }

  private async reload(): Promise<void> {
    this.lastReload = Date.now();
    const rows = await this.db.signingKey.findMany({ where: { createdAt: { gte: this.publishedSince() } }, orderBy: { createdAt: 'asc' } });
    const keys = new Map<string, LoadedKey>();
    for (const row of rows) {
      const known = this.keys.get(row.id);
      const publicJwk = row.publicJwk as Record<string, unknown>;
      keys.set(row.id, known ?? { kid: row.id, createdAt: row.createdAt, publicJwk, verify: this.verifierFor(publicJwk) });
    }
    const newest = rows.at(-1);
    const key = newest ? keys.get(newest.id)! : undefined;
    if (newest && key && !key.sign) {
      try {
        key.sign = createSigner({
          key: this.secretBox.open(newest.privateKeyEncrypted),
          algorithm: signingAlgorithm,
          kid: newest.id,
          iss: this.options.issuer,
          expiresIn: this.options.tokenTtlSeconds * 1000,
        });
      } catch (error) {
        // Sealed under another ENCRYPTION_KEY (it was changed): a new key takes over, the old one still verifies.
        this.options.onRotationError?.(error);
        this.unusable = true;
      }
    }
    this.current = key?.sign ? key : this.current;
    this.keys = keys;
  }

  private verifierFor(jwk: Record<string, unknown>) {
    const pem = createPublicKey({ key: jwk as JsonWebKey, format: 'jwk' }).export({ format: 'pem', type: 'spki' }).toString();
    return createVerifier({ key: pem, algorithms: [signingAlgorithm], allowedIss: this.options.issuer });
  }

  /** A signed access token with these claims, expiring after the token TTL. */
  async sign(payload: Record<string, unknown>): Promise<string> {
    await this.ensureLoaded();
    if (!this.current?.sign) throw new Error('no signing key');
    // Rotation runs beside the request; until it is done the current key keeps signing.
    if (this.isDue()) {
      this.rotating ??= this.rotate()
        .catch((error: unknown) => this.options.onRotationError?.(error))
        .finally(() => (this.rotating = undefined));
    }
    return this.current.sign(payload);
  }

  /** The verified claims, or a thrown error (bad signature, expired, unknown key). */
  async verify(token: string): Promise<Record<string, unknown>> {
    const known = this.verified.get(token);
    if (known && Date.now() < known.expiresAtMs) return known.claims;
    await this.ensureLoaded();
    const { header } = this.decodeHeader(token) as { header: { kid?: unknown } };
    const kid = typeof header.kid === 'string' ? header.kid : '';
    let key = this.keys.get(kid);
    if (!key) {
      await this.reloadForUnknownKey();
      key = this.keys.get(kid);
    }
    if (!key) throw new UnknownSigningKeyError(`unknown signing key ${kid.slice(0, 64)}`);
    const claims = key.verify(token);
    if (typeof claims.exp === 'number') {
      if (this.verified.size >= this.maxVerified) this.verified.clear();
      this.verified.set(token, { claims, expiresAtMs: claims.exp * 1000 });
    }
    return claims;
  }

  /**
   * Another instance may have rotated: read the keys again. Concurrent callers share one
   * reload, and there is at most one a second, so made-up kids cannot hammer the database.
   */
  private reloadForUnknownKey(): Promise<void> {
    if (this.pendingReload) return this.pendingReload;
    if (Date.now() - this.lastReload < 1_000) return Promise.resolve();
    this.pendingReload = this.reload().finally(() => (this.pendingReload = undefined));
    return this.pendingReload;
  }

  /** The public keys as a JSON Web Key Set, newest first. */
  async jwks(): Promise<{ keys: Record<string, unknown>[] }> {
    await this.ensureLoaded();
    if (Date.now() - this.lastReload > 60_000) await this.reload();
    return { keys: [...this.keys.values()].reverse().map((key) => key.publicJwk) };
  }
}
