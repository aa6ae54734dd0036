import { parseArgs } from 'node:util';
import { startStripeStandin } from './server.ts';

/**
 * Runs the stand-in as its own process:
 *   stripe-standin --port 12111 --host 127.0.0.1 [--latency-ms 0] [--data-dir DIR]
 *                  [--account-api-version 2022-08-01]
 * (this package's bin; `npx stripe-standin` from the project's root). With --data-dir
 * (or STANDIN_DATA_DIR) the state survives restarts; without, it lives in memory.
 * Port 12111 is stripe-mock's, so tooling written for stripe-mock finds it.
 */

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '12111' },
    host: { type: 'string', default: '127.0.0.1' },
    'latency-ms': { type: 'string', default: '0' },
    'data-dir': { type: 'string' },
    // Events to endpoints made without api_version are rendered in this one.
    'account-api-version': { type: 'string' },
  },
});

function nonNegativeInteger(name: string, value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) {
    console.error(`--${name} must be a non-negative integer, got "${value}"`);
    process.exit(2);
  }
  return n;
}

const dataDir = values['data-dir'] ?? process.env.STANDIN_DATA_DIR;
const standin = await startStripeStandin({
  port: nonNegativeInteger('port', values.port),
  host: values.host,
  latencyMs: nonNegativeInteger('latency-ms', values['latency-ms']),
  ...(dataDir ? { dataDir } : {}),
  ...(values['account-api-version'] ? { accountApiVersion: values['account-api-version'] } : {}),
});
console.log(`Stripe stand-in listening on ${standin.url}${dataDir ? `, its state in ${dataDir}` : ''}`);

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void standin.close().then(() => process.exit(0));
  });
}
