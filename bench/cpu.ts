// CPU accounting from /proc: who used the machine's cores during a measurement.
import { readdirSync, readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

const ticksPerSecond = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** utime + stime (+ the same for reaped children when `withChildren`) of one process, seconds. */
function processSeconds(pid: number, withChildren: boolean): { comm: string; seconds: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // comm is parenthesised and may hold spaces: fields are counted after its closing paren.
    const close = stat.lastIndexOf(')');
    const comm = stat.slice(stat.indexOf('(') + 1, close);
    const fields = stat.slice(close + 2).split(' ');
    // Fields 14-17 of proc(5) are utime, stime, cutime, cstime; here they start at index 11.
    const [utime, stime, cutime, cstime] = fields.slice(11, 15).map(Number) as [number, number, number, number];
    return { comm, seconds: (utime + stime + (withChildren ? cutime + cstime : 0)) / ticksPerSecond };
  } catch {
    return undefined;
  }
}

export function cpuSecondsOf(pid: number): number {
  return processSeconds(pid, false)?.seconds ?? 0;
}

/**
 * Every PostgreSQL process on the machine, with the postmaster's reaped children so that
 * backends which exit during a measurement still count.
 */
export function postgresCpuSeconds(): number {
  let total = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = processSeconds(Number(entry), true);
    if (stat && stat.comm === 'postgres') total += stat.seconds;
  }
  return total;
}

/** Busy and total core-seconds of the whole machine since boot (/proc/stat). */
export function machineSeconds(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
  const [user, nice, system, idle, iowait, irq, softirq, steal] = line.trim().split(/\s+/).slice(1, 9).map(Number) as number[];
  const busy = user! + nice! + system! + irq! + softirq! + steal!;
  return { busy: busy / ticksPerSecond, total: (busy + idle! + iowait!) / ticksPerSecond };
}
