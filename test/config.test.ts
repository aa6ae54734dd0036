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
  ])('stops with one line naming the variable: %o', (source, message) => {
    expect(() => parseEnvironment(source)).toThrowError(ConfigError);
    expect(() => parseEnvironment(source)).toThrowError(message);
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
