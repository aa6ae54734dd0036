import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface ServerProcess {
  exitCode: Promise<number | null>;
  stdout(): string;
  stderr(): string;
  stop(): void;
}

/** src/server.ts under tsx, as `npm start` runs it, with only the environment given (and PATH, HOME). */
export function spawnServer(env: Record<string, string>, options: { cwd?: string } = {}): ServerProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(projectRoot, 'src', 'server.ts')], {
    cwd: options.cwd ?? projectRoot,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ENV_FILE: '', HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'warn', RECONCILE_INTERVAL_SECONDS: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const exitCode = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { exitCode, stdout: () => stdout, stderr: () => stderr, stop: () => child.kill('SIGTERM') };
}

/** The origin a started server prints in its "Server listening at" line. */
export function listeningOrigin(stdout: string): string | undefined {
  return /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(stdout)?.[1];
}
