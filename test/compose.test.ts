import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { parseDocument } from 'yaml';

/** No Docker engine runs in CI, so the compose file is parsed and checked for what the README promises. */
describe('docker-compose.yml', async () => {
  const text = await readFile(new URL('../docker-compose.yml', import.meta.url), 'utf8');
  const document = parseDocument(text);

  it('is valid YAML', () => {
    expect(document.errors).toEqual([]);
  });

  const compose = document.toJS() as {
    services: Record<
      string,
      {
        image?: string;
        build?: unknown;
        environment?: Record<string, string>;
        depends_on?: Record<string, { condition?: string }>;
        ports?: string[];
        healthcheck?: unknown;
        stop_grace_period?: string;
        profiles?: string[];
        volumes?: string[];
      }
    >;
    volumes?: Record<string, unknown>;
  };

  it('runs PostgreSQL, the Stripe stand-in, stripe-mock as an optional profile and the API built from the Dockerfile', () => {
    expect(Object.keys(compose.services).sort()).toEqual(['api', 'postgres', 'stripe-mock', 'stripe-standin']);
    expect(compose.services.postgres?.image).toMatch(/^postgres:/);
    expect(compose.services.postgres?.healthcheck).toBeDefined();
    expect(compose.services['stripe-mock']?.image).toMatch(/^stripe\/stripe-mock/);
    // Only with `--profile stripe-mock`: it validates requests but keeps no state and sends no webhooks.
    expect(compose.services['stripe-mock']?.profiles).toEqual(['stripe-mock']);
    expect(compose.services.api?.build).toBe('.');
    expect(compose.services.api?.depends_on).toEqual({ postgres: { condition: 'service_healthy' }, 'stripe-standin': { condition: 'service_healthy' } });
  });

  it('builds the stand-in from the Dockerfile stage that holds it, keeping its state in a volume', async () => {
    const standin = compose.services['stripe-standin']!;
    expect(standin.profiles).toBeUndefined();
    expect(standin.build).toEqual({ context: '.', target: 'stripe-standin' });
    expect(standin.healthcheck).toBeDefined();
    const [volume, mountPoint] = (standin.volumes?.[0] ?? '').split(':');
    expect(Object.keys(compose.volumes ?? {})).toContain(volume);
    const dockerfile = await readFile(new URL('../Dockerfile', import.meta.url), 'utf8');
    const stage = /^FROM \S+ AS stripe-standin$([\s\S]*?)^FROM /m.exec(dockerfile)?.[1] ?? '';
    expect(stage).toMatch(/^CMD \[.*"packages\/stripe-standin\/bin\/stripe-standin\.js"/m);
    expect(stage).toContain(`"--data-dir", "${mountPoint}"`);
    expect(stage).toContain('"--host", "0.0.0.0"');
    // The API image is still the last stage, what `build: .` builds.
    expect(dockerfile.trimEnd().split(/^FROM /m).at(-1)).not.toMatch(/ AS /);
  });

  it('configures the API with variables its configuration accepts, the stand-in by default, webhooks to the API service', () => {
    const environment = compose.services.api?.environment ?? {};
    expect(environment.DATABASE_URL).toMatch(/^postgresql:\/\/.+@postgres:5432\//);
    expect(environment.STRIPE_API_URL).toBe('${STRIPE_API_URL:-http://stripe-standin:12111}');
    // Webhook endpoints are registered at this URL, which the stand-in's container reaches.
    expect(environment.PUBLIC_URL).toBe('${PUBLIC_URL:-http://api:3000}');
    expect(environment.NODE_ENV).toBe('production');
    for (const required of ['ENCRYPTION_KEY']) expect(environment[required]).toMatch(/^\$\{[A-Z_]+:\?/);
  });

  it('publishes every port on loopback only and pins every image to a version', () => {
    for (const [name, service] of Object.entries(compose.services)) {
      for (const port of service.ports ?? []) expect(port, name).toMatch(/^127\.0\.0\.1:\d+:\d+$/);
      if (service.image !== undefined) expect(service.image, name).toMatch(/:v?\d+\.\d+[\w.-]*$/);
    }
  });

  it('gives the API longer to stop than its graceful shutdown takes (10 s)', () => {
    expect(compose.services.api?.stop_grace_period).toMatch(/^\d+s$/);
    expect(Number.parseInt(compose.services.api!.stop_grace_period!, 10)).toBeGreaterThan(10);
  });
});
