// The load generator: autocannon in a process of its own, so that its CPU is never
// counted as the server's. Reads a LoadSpec (JSON file named by argv[2]), warms up,
// measures, and prints one LoadResult as JSON on stdout.
import { readFileSync, writeFileSync } from 'node:fs';
import autocannon from 'autocannon';

/** One kind of request; `paths`/`bodies` rotate, one step per request across all connections. */
export interface RequestSpec {
  method: 'GET' | 'POST' | 'PATCH';
  headers: Record<string, string>;
  paths: string[];
  /** Same length as paths when given: body k goes with path k. */
  bodies?: string[];
  /** Statuses that count as success; anything else is an error. */
  expect: number[];
}

export interface LoadSpec {
  origin: string;
  connections: number;
  durationSeconds: number;
  warmupSeconds: number;
  timeoutSeconds: number;
  /** More than one: each connection sends them in turn (a mixed load). */
  requests: RequestSpec[];
  /** Where to write every measured latency (ms, Float64, native endianness), to merge runs exactly. */
  latencyFile?: string;
}

export interface LoadResult {
  requests: number;
  seconds: number;
  rps: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  errors: number;
  /** Status code (or "error"/"timeout") -> count, unexpected ones only. */
  unexpected: Record<string, number>;
  /** CPU this load generator used while measuring, seconds. */
  cpuSeconds: number;
}

// Where each request kind's rotation stands: the measured window goes on from where the
// warm-up stopped, so that a POST of the window is not a second create on an order the
// warm-up already paid (which would replace that payment and cancel its PaymentIntent).
let counters: number[] | undefined;

async function run(spec: LoadSpec, seconds: number, record: boolean): Promise<LoadResult & { latencies: number[] }> {
  const latencies: number[] = [];
  const unexpected: Record<string, number> = {};
  let completed = 0;
  let errors = 0;
  counters ??= spec.requests.map(() => 0);
  const rotation = counters;
  const instance = autocannon({
    url: spec.origin,
    connections: spec.connections,
    duration: seconds,
    timeout: spec.timeoutSeconds,
    // Latency is measured here, per response, with sub-millisecond resolution.
    requests: spec.requests.map((request, index) => ({
      method: request.method,
      headers: request.headers,
      path: request.paths[0]!,
      setupRequest(req: Record<string, unknown>) {
        const k = rotation[index]!++ % request.paths.length;
        req.path = request.paths[k];
        if (request.bodies) req.body = request.bodies[k];
        return req;
      },
    })),
  });
  const expected = spec.requests.map((request) => new Set(request.expect));
  const allExpected = new Set(spec.requests.flatMap((request) => request.expect));
  instance.on('response', (_client: unknown, statusCode: number, _bytes: number, responseTime: number) => {
    if (!record) return;
    completed += 1;
    latencies.push(responseTime);
    // With a mix, a status is an error only if no request of the mix expects it.
    const ok = expected.length === 1 ? expected[0]!.has(statusCode) : allExpected.has(statusCode);
    if (!ok) {
      errors += 1;
      unexpected[statusCode] = (unexpected[statusCode] ?? 0) + 1;
    }
  });
  instance.on('reqError', (error: Error & { code?: string }) => {
    if (!record) return;
    errors += 1;
    const key = /timeout/i.test(error.message) ? 'timeout' : (error.code ?? 'error');
    unexpected[key] = (unexpected[key] ?? 0) + 1;
  });
  const started = performance.now();
  const cpu = process.cpuUsage();
  await instance;
  const elapsed = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  latencies.sort((a, b) => a - b);
  const at = (q: number) => (latencies.length === 0 ? 0 : latencies[Math.min(latencies.length - 1, Math.ceil(q * latencies.length) - 1)]!);
  return {
    requests: completed,
    seconds: elapsed,
    rps: completed / elapsed,
    p50: at(0.5),
    p90: at(0.9),
    p99: at(0.99),
    max: latencies.at(-1) ?? 0,
    errors,
    unexpected,
    cpuSeconds: (used.user + used.system) / 1e6,
    latencies,
  };
}

const spec = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as LoadSpec;
// Warm-up: JIT, connection pools and caches, on both sides; not recorded.
if (spec.warmupSeconds > 0) {
  await run(spec, spec.warmupSeconds, false);
  // The server may still be working through requests the warm-up left in flight (a
  // queue for the database pool or for scrypt's threads): one more request of each kind
  // waits behind them, so the measured window starts from an idle server.
  for (const request of spec.requests) {
    await fetch(`${spec.origin}${request.paths[0]}`, {
      method: request.method,
      headers: request.headers,
      ...(request.bodies ? { body: request.bodies[0] } : {}),
      signal: AbortSignal.timeout(spec.timeoutSeconds * 1000),
    })
      .then((response) => response.arrayBuffer())
      // A backlog longer than the timeout: measure anyway, the figures will show it.
      .catch(() => undefined);
  }
}
// Tells the parent to start its CPU accounting now.
process.stdout.write(`${JSON.stringify({ measuring: true })}\n`);
const { latencies, ...result } = await run(spec, spec.durationSeconds, true);
if (spec.latencyFile) writeFileSync(spec.latencyFile, new Float64Array(latencies));
process.stdout.write(`${JSON.stringify(result)}\n`);
