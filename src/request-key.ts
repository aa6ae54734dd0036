import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * The Idempotency-Key of the request being handled, as a digest of the key and whose key it
 * is. Set by the idempotency layer for the rest of the request; read by resource hooks and
 * handed to payment steps that must recognise a retry of their own request (a partial
 * refund, unlike a capture, can rightly be asked for twice, so the order's state alone
 * cannot tell a retry from a second refund).
 */
const storage = new AsyncLocalStorage<string>();

export function runWithRequestKey<T>(digest: string, fn: () => T): T {
  return storage.run(digest, fn);
}

export function currentRequestKey(): string | undefined {
  return storage.getStore();
}
