import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort } from '../../src/ports.ts';

/** Whether a `redis-server` binary is installed: the Redis tests start their own, needing no running Redis. */
export const redisServerInstalled = spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;
export const noRedisMessage = 'redis-server is not installed (and TEST_REDIS_URL is unset): the tests of the shared (Redis) rate limit are skipped';

/** A running Redis to use instead (CI's service container); tests that stop Redis still need redis-server. */
export const testRedisUrl = process.env.TEST_REDIS_URL || undefined;

export interface RedisServer {
  url: string;
  /** SIGKILL: gone at once, as a crashed or unreachable Redis. */
  kill(): Promise<void>;
}


function answers(port: number): Promise<boolean> {
  return new Promise((done) => {
    const socket = createConnection({ port, host: '127.0.0.1' });
    socket.once('connect', () => {
      socket.end();
      done(true);
    });
    socket.once('error', () => done(false));
  });
}

/** A throw-away redis-server on a free loopback port, persisting nothing. */
export async function startRedisServer(): Promise<RedisServer> {
  const port = await freePort();
  const dir = await mkdtemp(path.join(tmpdir(), 'payments-redis-'));
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' });
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  let gone = false;
  void exited.then(() => (gone = true));
  while (!gone && !(await answers(port))) await new Promise((done) => setTimeout(done, 50));
  if (gone) throw new Error(`redis-server did not start on port ${port}`);
  return {
    url: `redis://127.0.0.1:${port}`,
    async kill() {
      if (!gone) child.kill('SIGKILL');
      await exited;
      await rm(dir, { recursive: true, force: true });
    },
  };
}
