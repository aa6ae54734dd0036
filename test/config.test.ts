import { describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import { ConfigError, environmentSchema, parseEnvironment } from '../src/config.ts';

describe('parseEnvironment', () => {
  it('gives working defaults for an empty environment', () => {
    const env = parseEnvironment({});
    expect(env).toMatchObject({ PORT: 3000, HOST: '127.0.0.1', LOG_LEVEL: 'info' });
    expect(env.DATABASE_URL).toBeUndefined();
    expect(env.STRIPE_API_URL).toBeUndefined();
  });

  it.each([
    [{ PORT: 'eighty' }, /^Invalid configuration: PORT /],
    [{ DATABASE_URL: 'mysql://x' }, /^Invalid configuration: DATABASE_URL /],
    [{ ENCRYPTION_KEY: 'short' }, /^Invalid configuration: ENCRYPTION_KEY must be 32 bytes/],
    [{ API_CLIENT_ID: 'client-id-1' }, /^Invalid configuration: API_CLIENT_SECRET /],
    [{ NODE_ENV: 'production' }, /^Invalid configuration: DATABASE_URL is required when NODE_ENV=production/],
    [{ PUBLIC_URL: 'ftp://shop.example.com' }, /^Invalid configuration: PUBLIC_URL /],
    [{ PUBLIC_URL: 'https://shop.example.com/?via=proxy' }, /^Invalid configuration: PUBLIC_URL must be an http\(s\) URL without query/],
    [{ PUBLIC_URL: 'https://user:pass@shop.example.com' }, /^Invalid configuration: PUBLIC_URL must be an http\(s\) URL without query/],
    [{ DATABASE_POOLER: 'pgbouncer' }, /^Invalid configuration: DATABASE_POOLER .*"pgbouncer"/],
    [{ DATABASE_DIRECT_URL: 'mysql://x' }, /^Invalid configuration: DATABASE_DIRECT_URL /],
  ])('stops with one line naming the variable: %o', (source, message) => {
    expect(() => parseEnvironment(source)).toThrowError(ConfigError);
    expect(() => parseEnvironment(source)).toThrowError(message);
  });

  it('takes a PUBLIC_URL with a path, for a proxy that mounts the API under one', () => {
    expect(parseEnvironment({ PUBLIC_URL: 'https://shop.example.com/payments/' }).PUBLIC_URL).toBe('https://shop.example.com/payments/');
  });

  it('takes a transaction pooler in front of the database, with a direct URL for migrations', () => {
    expect(parseEnvironment({}).DATABASE_POOLER).toBe('none');
    const env = parseEnvironment({ DATABASE_URL: 'postgresql://app@pgbouncer:6432/payments', DATABASE_POOLER: 'transaction', DATABASE_DIRECT_URL: 'postgresql://app@db:5432/payments' });
    expect(env).toMatchObject({ DATABASE_POOLER: 'transaction', DATABASE_DIRECT_URL: 'postgresql://app@db:5432/payments' });
  });

  it('names every missing production variable at once, with the invalid ones, in one line', () => {
    expect(() => parseEnvironment({ NODE_ENV: 'production', PORT: 'eighty' })).toThrowError(
      new ConfigError(
        'Invalid configuration: PORT Invalid input: expected number, received NaN (got "eighty"); DATABASE_URL is required when NODE_ENV=production; ENCRYPTION_KEY is required when NODE_ENV=production; STRIPE_API_URL is required when NODE_ENV=production',
      ),
    );
  });

  it('never echoes a secret value in its message', () => {
    try {
      parseEnvironment({ ENCRYPTION_KEY: 'tooshort-secret' });
      expect.unreachable();
    } catch (error) {
      expect((error as Error).message).toMatch(/ENCRYPTION_KEY/);
      expect((error as Error).message).not.toContain('tooshort-secret');
    }
  });
});

describe('.env.example', () => {
  it('documents every variable the server reads, and no other', async () => {
    const example = await readFile(new URL('../.env.example', import.meta.url), 'utf8');
    const documented = [...example.matchAll(/^#? ?([A-Z][A-Z0-9_]*)=/gm)].map((match) => match[1]);
    expect(new Set(documented).size).toBe(documented.length);
    expect([...documented].sort()).toEqual(Object.keys(environmentSchema.shape).sort());
    // Every line parses as Node's loadEnvFile reads it: nothing is set until uncommented.
    expect(example.split('\n').filter((line) => line !== '' && !line.startsWith('#'))).toEqual([]);
  });
});
