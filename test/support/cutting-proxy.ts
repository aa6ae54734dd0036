import { createServer, connect, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy in front of PostgreSQL that cuts a connection at a chosen statement, so a
 * test can leave the server unsure of a COMMIT's outcome: the COMMIT reaches the database
 * and commits, and its answer never comes back. (Terminating a backend while it commits
 * aborts the transaction instead.)
 */
export interface CuttingProxy {
  /** `databaseUrl` with its host and port replaced by the proxy's. */
  urlOf(databaseUrl: string): string;
  /**
   * Once a connection has sent a message matching `after`, its next message matching `cut`
   * is sent to the database and the answer dropped: the connection is closed both ways.
   * Resolves when that has happened.
   */
  cutAnswer(after: RegExp, cut: RegExp): Promise<void>;
  /** The next message of any connection matching `cut` never reaches the database: the connection is closed both ways. */
  cutRequest(cut: RegExp): Promise<void>;
  close(): Promise<void>;
}

export async function startCuttingProxy(databaseUrl: string): Promise<CuttingProxy> {
  const target = new URL(databaseUrl);
  const sockets = new Set<Socket>();
  let armed: { after: RegExp | undefined; cut: RegExp; deliver: boolean; done: () => void } | undefined;

  const server: Server = createServer((client) => {
    const upstream = connect(Number(target.port || 5432), target.hostname);
    sockets.add(client).add(upstream);
    let seenAfter = false;
    let dropAnswer: (() => void) | undefined;
    client.on('data', (chunk) => {
      const text = chunk.toString('latin1');
      if (armed?.after?.test(text)) seenAfter = true;
      if (armed && (seenAfter || armed.after === undefined) && armed.cut.test(text)) {
        const { deliver, done } = armed;
        armed = undefined;
        if (!deliver) {
          client.destroy();
          upstream.destroy();
          return done();
        }
        dropAnswer = done;
      }
      upstream.write(chunk);
    });
    upstream.on('data', (chunk) => {
      if (!dropAnswer) return void client.write(chunk);
      client.destroy();
      upstream.destroy();
      dropAnswer();
    });
    const end = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('close', end).on('error', end);
    upstream.on('close', end).on('error', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };

  return {
    urlOf(url) {
      const proxied = new URL(url);
      proxied.hostname = '127.0.0.1';
      proxied.port = String(port);
      return proxied.toString();
    },
    cutAnswer(after, cut) {
      return new Promise<void>((resolve) => {
        armed = { after, cut, deliver: true, done: resolve };
      });
    },
    cutRequest(cut) {
      return new Promise<void>((resolve) => {
        armed = { after: undefined, cut, deliver: false, done: resolve };
      });
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
