import { hkdfSync } from 'node:crypto';

/**
 * A key of its own for each use of ENCRYPTION_KEY (HKDF-SHA256, the purpose as info): a
 * digest keyed for one purpose reveals nothing usable for another, and none is the sealing key.
 */
export function deriveKey(masterKey: Buffer, purpose: string): Buffer {
  return Buffer.from(hkdfSync('sha256', masterKey, Buffer.alloc(0), purpose, 32));
}
