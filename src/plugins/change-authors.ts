import type { FastifyInstance, FastifyRequest } from 'fastify';
import { attributedTo, type Author } from '../versions.ts';

/**
 * Every change a request makes is attributed to who sent it (a version's `who`): its token's
 * application and owner on /api, Stripe on its webhooks. Set before the handler runs, after
 * the body is read, and read when a change is recorded, once the token is verified.
 */
export function useChangeAuthors(app: FastifyInstance): void {
  app.addHook('preHandler', (request, _reply, done) => {
    attributedTo(() => authorOf(request), done);
  });
}

function authorOf(request: FastifyRequest): Author {
  const access = (request as FastifyRequest & { access?: FastifyRequest['access'] | null }).access;
  if (access?.application) return { application: access.application, ...(access.owner ? { owner: access.owner } : {}) };
  return { source: request.url.startsWith('/webhooks/') ? 'stripe_webhook' : 'server' };
}
