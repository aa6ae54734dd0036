import cors from '@fastify/cors';
import type { FastifyInstance } from 'fastify';
import type { AppConfig } from '../config.ts';

/**
 * CORS for storefronts: browsers send JSON:API bodies and a bearer token, so every call is
 * preflighted; the preflight answer is cached for ten minutes.
 */
export async function useCors(app: FastifyInstance, config: Pick<AppConfig, 'corsOrigins'>): Promise<void> {
  await app.register(cors, {
    origin: config.corsOrigins === '*' ? '*' : config.corsOrigins,
    methods: ['GET', 'POST', 'PATCH', 'DELETE', 'OPTIONS'],
    allowedHeaders: ['Accept', 'Authorization', 'Content-Type', 'Idempotency-Key', 'X-Request-Id'],
    // One string: the plugin joins a list anew for every response.
    exposedHeaders: 'Location, X-Request-Id, Retry-After, X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset',
    maxAge: 600,
  });
}
