import { createHmac, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface ReceivedEvent {
  path: string;
  topic: string;
  deliveryId: string;
  /** The signature checked as callbacks-security.md says: HMAC-SHA256 of the raw body with the shared secret, base64. */
  signatureValid: boolean;
  body: { data: { id: string; type: string; attributes: Record<string, unknown>; relationships?: Record<string, unknown> }; included?: { id: string; type: string }[] };
}

/**
 * A webhook receiver, as a merchant's back office runs one: a real HTTP server on loopback
 * that checks each signature with the shared secret registered for its path and topic, answers
 * `status()` (or never, for 'hang'), and can be taken down and brought back on its port.
 */
export async function startReceiver() {
  const secrets = new Map<string, string>();
  const received: ReceivedEvent[] = [];
  const requests: string[] = [];
  let status: () => number | 'hang' = () => 200;
  const sockets = new Set<Socket>();
  let server: http.Server | undefined;
  let port = 0;

  const handler: http.RequestListener = (request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const raw = Buffer.concat(chunks);
      requests.push(request.url ?? '');
      // One URL may serve the webhooks of several topics: the topic header tells whose secret signs.
      const secret = secrets.get(`${request.url ?? ''} ${String(request.headers['x-commercelayer-topic'])}`);
      const expected = secret ? createHmac('sha256', secret).update(raw).digest('base64') : '';
      const given = String(request.headers['x-commercelayer-signature'] ?? '');
      const signatureValid = expected.length > 0 && expected.length === given.length && timingSafeEqual(Buffer.from(expected), Buffer.from(given));
      const answer = status();
      if (answer === 'hang') return;
      if (answer >= 200 && answer < 300) {
        received.push({
          path: request.url ?? '',
          topic: String(request.headers['x-commercelayer-topic']),
          deliveryId: String(request.headers['x-delivery-id']),
          signatureValid,
          body: JSON.parse(raw.toString('utf8')),
        });
      }
      response.writeHead(answer).end();
    });
  };

  const up = async () => {
    server = http.createServer(handler);
    server.on('connection', (socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    });
    await new Promise<void>((resolve) => server!.listen(port, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  };
  const down = async () => {
    const closing = server;
    server = undefined;
    if (!closing) return;
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => closing.close(() => resolve()));
  };
  await up();

  return {
    received,
    /** Every request's path, answered or not. */
    requests,
    url: (path: string) => `http://127.0.0.1:${port}${path}`,
    register(path: string, topic: string, secret: string) {
      secrets.set(`${path} ${topic}`, secret);
    },
    answer(next: () => number | 'hang') {
      status = next;
    },
    up,
    down,
  };
}

export type Receiver = Awaited<ReturnType<typeof startReceiver>>;
