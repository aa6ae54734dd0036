import { createServer } from 'node:net';

/**
 * A TCP port free on loopback right now, found by letting the system pick one. Another
 * process may take it before the caller listens: fine for a child server or a test
 * helper that fails loudly when it cannot bind, not a reservation.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.unref();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}
