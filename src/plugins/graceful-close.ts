import type { FastifyInstance } from 'fastify';

/**
 * Fastify closes the connections that are idle when close() starts; one still busy then
 * (a webhook delivery, a slow client) would otherwise stay open for the keep-alive timeout
 * after its response and hold the shutdown. Responses sent while closing end their connection.
 */
export function useGracefulClose(app: FastifyInstance): void {
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (closing) reply.header('connection', 'close');
    done(null, payload);
  });
}
