import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import pLimit from 'p-limit';

// scrypt with N=2^15 takes ~50-100 ms and 32 MiB: slow enough against offline guessing,
// cheap enough for a token endpoint that issues long-lived tokens.
const params: ScryptOptions = { N: 2 ** 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 };
const keyLength = 32;

/**
 * At most this many derivations run at once; the others wait their turn. scrypt runs on
 * libuv's thread pool (4 threads), which file, DNS and other crypto work share: 40 wrong
 * secrets sent at once would otherwise hold every thread (and 32 MiB each) for seconds, and
 * every request needing the pool would wait behind them. A token request then waits for a
 * turn; the rest of the server keeps answering.
 */
export const maxConcurrentHashes = 2;
const hashes = pLimit(maxConcurrentHashes);
let peakRunning = 0;

/** How many derivations run and wait now, and the most that ran at once since `resetHashPeak` (for tests and metrics). */
export function hashLoad(): { running: number; waiting: number; peak: number } {
  return { running: hashes.activeCount, waiting: hashes.pendingCount, peak: peakRunning };
}

export function resetHashPeak(): void {
  peakRunning = hashes.activeCount;
}

function derive(secret: string, salt: Buffer, options: ScryptOptions): Promise<Buffer> {
  return hashes(
    () =>
      new Promise<Buffer>((resolve, reject) => {
        peakRunning = Math.max(peakRunning, hashes.activeCount);
        scrypt(secret, salt, keyLength, options, (error, key) => (error ? reject(error) : resolve(key)));
      }),
  );
}

/** "scrypt$N$r$p$salt$hash" so parameters can be raised later without breaking old hashes. */
export async function hashSecret(secret: string): Promise<string> {
  const salt = randomBytes(16);
  const hash = await derive(secret, salt, params);
  return ['scrypt', params.N, params.r, params.p, salt.toString('base64url'), hash.toString('base64url')].join('$');
}

export async function verifySecret(secret: string, stored: string): Promise<boolean> {
  const [scheme, n, r, p, salt, hash] = stored.split('$');
  if (scheme !== 'scrypt' || !n || !r || !p || !salt || !hash) return false;
  const expected = Buffer.from(hash, 'base64url');
  const actual = await derive(secret, Buffer.from(salt, 'base64url'), {
    N: Number(n),
    r: Number(r),
    p: Number(p),
    maxmem: params.maxmem,
  });
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

export function newSecret(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}
