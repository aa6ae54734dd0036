// The servers a benchmark run measures: the API, and the plain ones beside it (baseline, hello).
import type { Secrets, Settings } from './bench.ts';
import { projectRoot } from './database.ts';
import { freePort, startNode, waitForHttp, type Child } from './processes.ts';

export interface Target {
  name: string;
  child: Child;
  origin: string;
}

/** --pin: where the servers run and where the load generator runs, one core each. */
export const serverCpu = ['taskset', '-c', '1'];
export const loadGeneratorCpu = ['taskset', '-c', '0'];

export const poolEnv = (settings: Settings) => ({ DATABASE_POOL_MAX: String(settings.pool) });

export async function startApi(
  settings: Settings,
  secrets: Secrets,
  databaseUrl: string,
  stripeUrl: string,
  port: number,
  diagnostics: { profileTo?: string; traceGc?: boolean; wrapper?: string[]; startTimeoutMs?: number } = {},
): Promise<Target> {
  const child = startNode('API server', 'src/server.ts', {
    cwd: projectRoot,
    ...(diagnostics.wrapper ? { wrapper: diagnostics.wrapper } : settings.pin ? { wrapper: serverCpu } : {}),
    nodeOptions: [
      ...settings.serverNodeOptions,
      ...(diagnostics.profileTo ? ['--cpu-prof', '--cpu-prof-dir', diagnostics.profileTo] : []),
      ...(diagnostics.traceGc ? ['--trace-gc'] : []),
    ],
    env: {
      NODE_ENV: 'production',
      HOST: '127.0.0.1',
      PORT: String(port),
      DATABASE_URL: databaseUrl,
      ...poolEnv(settings),
      STRIPE_API_URL: stripeUrl,
      TOKEN_SIGNING_SECRET: secrets.tokenSigningSecret,
      ENCRYPTION_KEY: secrets.encryptionKey.toString('base64'),
      API_CLIENT_ID: secrets.clientId,
      API_CLIENT_SECRET: secrets.clientSecret,
      LOG_LEVEL: 'warn',
      // The limiter stays in the request path (its cost is measured) with a budget no run reaches.
      RATE_LIMIT_MAX: '1000000',
      RATE_LIMIT_WINDOW_SECONDS: '1',
    },
  });
  const origin = `http://127.0.0.1:${port}`;
  await waitForHttp(`${origin}/`, child, diagnostics.startTimeoutMs);
  return { name: 'API', child, origin };
}

export async function startPlain(
  settings: Settings,
  name: string,
  script: string,
  env: Record<string, string>,
  profileTo?: string,
  launch: { wrapper?: string[]; startTimeoutMs?: number } = {},
): Promise<Target> {
  const port = await freePort();
  const nodeOptions = [...settings.serverNodeOptions, ...(profileTo ? ['--cpu-prof', '--cpu-prof-dir', profileTo] : [])];
  const child = startNode(name, script, {
    cwd: projectRoot,
    nodeOptions,
    env: { NODE_ENV: 'production', PORT: String(port), ...env },
    ...(launch.wrapper ? { wrapper: launch.wrapper } : settings.pin ? { wrapper: serverCpu } : {}),
  });
  const origin = `http://127.0.0.1:${port}`;
  await waitForHttp(`${origin}/`, child, launch.startTimeoutMs);
  return { name, child, origin };
}
