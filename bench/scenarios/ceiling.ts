// The ceiling of this machine: a bare Fastify "hello", no database, no JSON:API.
import type { Bench } from '../bench.ts';
import { measure, type Measurement } from '../measure.ts';

export async function measureCeiling(bench: Bench): Promise<Measurement> {
  bench.say('\n## Ceiling');
  return measure(bench, 'bare Fastify hello (GET /)', bench.hello, [{ method: 'GET', headers: {}, paths: ['/'], expect: [200] }]);
}
