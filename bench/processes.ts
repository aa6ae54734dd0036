// Child processes of a benchmark run: servers, the Stripe stand-in and load generators.
// Every child is tracked so that an interrupted run leaves nothing behind.
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../src/ports.ts';

export { freePort };

export interface Child {
  name: string;
  pid: number;
  process: ChildProcess;
  /** The last lines it wrote, for error messages. */
  output(): string;
  /** How much it has written so far, to read what it wrote after this point with outputSince. */
  mark(): number;
  outputSince(mark: number): string;
  exited: Promise<number | null>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once it has exited. */
  stop(graceMs?: number): Promise<void>;
}

const running = new Set<Child>();

/** Stops every child still running (on failure or interruption), newest first. */
export async function stopAll(): Promise<void> {
  for (const child of [...running].reverse()) await child.stop(3_000).catch(() => {});
}

/** A port nothing listens on right now (the kernel's choice for port 0). */

/**
 * `node --import tsx <script>`: how every TypeScript process of the run is started, ours
 * and the baselines alike; `javascript: true` runs a compiled script with plain node.
 */
export function startNode(
  name: string,
  script: string,
  options: { args?: string[]; env?: Record<string, string>; nodeOptions?: string[]; cwd: string; javascript?: boolean; wrapper?: string[] },
): Child {
  const loader = options.javascript ? [] : ['--import', 'tsx'];
  const command = [...(options.wrapper ?? []), process.execPath, ...(options.nodeOptions ?? []), ...loader, script, ...(options.args ?? [])];
  // A wrapper (taskset, valgrind) runs node itself: the child's pid is node's, its CPU node's.
  const child = spawn(command[0]!, command.slice(1), {
    cwd: options.cwd,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // The last 4 MiB of stdout and stderr together (enough for a minute of --trace-gc), and how
  // many characters came before it.
  let tail = '';
  let written = 0;
  const keep = (chunk: Buffer) => {
    const text = chunk.toString('utf8');
    written += text.length;
    tail = (tail + text).slice(-4_194_304);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const handle: Child = {
    name,
    pid: child.pid!,
    process: child,
    output: () => tail.slice(-8_000),
    mark: () => written,
    outputSince: (mark) => tail.slice(Math.max(0, tail.length - (written - mark))),
    exited,
    async stop(graceMs = 15_000) {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
        await exited;
        clearTimeout(timer);
      }
      running.delete(handle);
    },
  };
  running.add(handle);
  void exited.then(() => running.delete(handle));
  return handle;
}

/** Waits until `url` answers at all (any status below 500), or fails with the child's output. */
export async function waitForHttp(url: string, child: Child, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exitCode: number | null | undefined;
  void child.exited.then((code) => (exitCode = code));
  while (Date.now() < deadline) {
    if (exitCode !== undefined) throw new Error(`${child.name} exited (${exitCode}) before answering:\n${child.output()}`);
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(2_000) });
      await response.arrayBuffer();
      if (response.status < 500) return;
    } catch {
      // Not listening yet.
    }
    await sleep(100);
  }
  throw new Error(`${child.name} did not answer ${url} within ${timeoutMs} ms:\n${child.output()}`);
}

/** Resident set size of a process in MiB, from /proc/<pid>/status (VmRSS), or undefined once it is gone. */
export function rssMiB(pid: number): number | undefined {
  try {
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** A process and every process below it (e.g. esbuild under tsx), parents first. */
export function processTree(pid: number): number[] {
  let children: number[] = [];
  try {
    children = readdirSync(`/proc/${pid}/task`).flatMap((thread) =>
      readFileSync(`/proc/${pid}/task/${thread}/children`, 'utf8').split(' ').filter(Boolean).map(Number),
    );
  } catch {
    // Gone, or no /proc: no children to count.
  }
  return [pid, ...children.flatMap(processTree)];
}

/** Resident set size of a process alone and with every process below it, MiB. */
export function treeRssMiB(pid: number): { own: number; tree: number } | undefined {
  const own = rssMiB(pid);
  if (own === undefined) return undefined;
  return { own, tree: processTree(pid).reduce((sum, member) => sum + (rssMiB(member) ?? 0), 0) };
}

export interface RssSample {
  /** Seconds since sampling started. */
  t: number;
  mib: number;
}

/** Samples a process's RSS every `intervalMs` until stopped. */
export function sampleRss(pid: number, intervalMs: number): { stop(): RssSample[] } {
  const samples: RssSample[] = [];
  const started = performance.now();
  const take = () => {
    const mib = rssMiB(pid);
    if (mib !== undefined) samples.push({ t: (performance.now() - started) / 1000, mib });
  };
  take();
  const timer = setInterval(take, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      take();
      return samples;
    },
  };
}

/** Runs a script to completion and returns its stdout, line by line to `onLine` as well; fails with its stderr. */
export async function runNode(name: string, script: string, args: string[], cwd: string, onLine?: (line: string) => void, wrapper: string[] = []): Promise<string> {
  const command = [...wrapper, process.execPath, '--import', 'tsx', script, ...args];
  const child = spawn(command[0]!, command.slice(1), {
    cwd,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  let partial = '';
  child.stdout.on('data', (chunk: Buffer) => {
    const text = chunk.toString('utf8');
    stdout += text;
    partial += text;
    let newline: number;
    while ((newline = partial.indexOf('\n')) >= 0) {
      onLine?.(partial.slice(0, newline));
      partial = partial.slice(newline + 1);
    }
  });
  child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString('utf8')).slice(-8_000)));
  // Tracked like the servers, so an interrupt stops a load generator mid-run too.
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const handle: Child = {
    name,
    pid: child.pid!,
    process: child,
    output: () => stderr,
    mark: () => 0,
    outputSince: () => stderr,
    exited,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await exited;
      }
      running.delete(handle);
    },
  };
  running.add(handle);
  const code = await exited;
  running.delete(handle);
  if (code !== 0) throw new Error(`${name} failed (${code}):\n${stderr}`);
  return stdout;
}
