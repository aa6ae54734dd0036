import { describe, expect, it } from 'vitest';
import { ConfigError, parseEnvironment } from '../src/config.ts';

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
