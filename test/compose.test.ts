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
    services: Record<string, { image?: string; build?: unknown; environment?: Record<string, string>; depends_on?: Record<string, unknown>; ports?: string[]; healthcheck?: unknown; stop_grace_period?: string }>;
  };

  it('runs PostgreSQL, stripe-mock and the API built from the Dockerfile', () => {
    expect(Object.keys(compose.services).sort()).toEqual(['api', 'postgres', 'stripe-mock']);
    expect(compose.services.postgres?.image).toMatch(/^postgres:/);
    expect(compose.services.postgres?.healthcheck).toBeDefined();
    expect(compose.services['stripe-mock']?.image).toMatch(/^stripe\/stripe-mock/);
    expect(compose.services.api?.build).toBe('.');
    expect(Object.keys(compose.services.api?.depends_on ?? {}).sort()).toEqual(['postgres', 'stripe-mock']);
  });

  it('configures the API with variables its configuration accepts, stripe-mock by default', () => {
    const environment = compose.services.api?.environment ?? {};
    expect(environment.DATABASE_URL).toMatch(/^postgresql:\/\/.+@postgres:5432\//);
    expect(environment.STRIPE_API_URL).toBe('${STRIPE_API_URL:-http://stripe-mock:12111}');
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
