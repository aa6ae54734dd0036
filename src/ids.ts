import { randomInt } from 'node:crypto';

const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/**
 * A Commerce Layer style id: ten random letters (e.g. "xYZkjABcde"), 52^10 ≈ 1.4e17
 * values, drawn from a CSPRNG so ids reveal neither order nor volume.
 */
export function newId(length = 10): string {
  let id = '';
  for (let i = 0; i < length; i += 1) id += alphabet[randomInt(alphabet.length)];
  return id;
}

export const idPattern = /^[A-Za-z0-9_-]{1,64}$/;
