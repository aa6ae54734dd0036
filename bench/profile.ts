// Reads a V8 .cpuprofile (node --cpu-prof) and says where the time went: by package or
// source folder (inclusive: time with any frame of it on the stack) and by function
// (self time). The file itself opens as a flame chart in Chrome DevTools or speedscope.
import { readFileSync } from 'node:fs';
import path from 'node:path';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  /** Microseconds on the monotonic clock process.hrtime reads. */
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileSummary {
  /** Sampled milliseconds, idle excluded. */
  busyMs: number;
  idleMs: number;
  /** Group -> inclusive ms (node core and V8 left out: they are under everything). */
  groups: { name: string; ms: number }[];
  /** Group -> self ms, a sample charged to the nearest package or source frame above it (node core's writev to whoever called it). */
  owners: { name: string; ms: number }[];
  /** Function -> self ms. */
  functions: { name: string; ms: number }[];
  /** Native code (a system call such as writev, a built-in) by the JavaScript function that entered it and the package that asked. */
  natives: { name: string; ms: number }[];
}

/** Which part of the code a frame belongs to: a package, a folder of src/, Node itself, or V8. */
export function groupOf(frame: CallFrame, root: string): string {
  const { url, functionName } = frame;
  if (url === '') {
    if (functionName === '(garbage collector)') return 'V8: garbage collector';
    if (functionName === '(program)') return 'V8: (program)';
    if (functionName === '(idle)') return '(idle)';
    return 'V8/native';
  }
  if (url.startsWith('node:')) return 'node: core';
  const file = url.startsWith('file://') ? decodeURIComponent(new URL(url).pathname) : url;
  const modules = file.lastIndexOf('/node_modules/');
  if (modules >= 0) {
    const parts = file.slice(modules + '/node_modules/'.length).split('/');
    return parts[0]!.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!;
  }
  const relative = path.relative(root, file);
  if (relative.startsWith('src/generated/')) return 'src/generated (Prisma client)';
  if (relative.startsWith('src/')) return relative.split('/').slice(0, 2).join('/').replace(/\.ts$/, '.ts');
  return relative;
}

const infrastructure = (group: string) => group === 'node: core' || group === 'V8/native' || group === 'V8: (program)';

/** Summarises the samples taken between `window.fromMicros` and `window.toMicros` (monotonic clock), or all of them. */
export function summarizeProfile(file: string, root: string, window: { fromMicros: number; toMicros: number } = { fromMicros: 0, toMicros: Infinity }): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const groupCache = new Map<number, string>();
  const group = (id: number) => {
    let name = groupCache.get(id);
    if (name === undefined) {
      name = groupOf(byId.get(id)!.callFrame, root);
      groupCache.set(id, name);
    }
    return name;
  };

  const inclusive = new Map<string, number>();
  const natives = new Map<string, number>();
  const owners = new Map<string, number>();
  const self = new Map<string, number>();
  let busy = 0;
  let idle = 0;
  let at = profile.startTime;
  profile.samples.forEach((id, index) => {
    const delta = profile.timeDeltas[index] ?? 0;
    at += delta;
    if (at < window.fromMicros || at > window.toMicros) return;
    const ms = delta / 1000;
    const node = byId.get(id)!;
    if (node.callFrame.functionName === '(idle)') {
      idle += ms;
      return;
    }
    busy += ms;
    const frame = node.callFrame;
    const where = frame.url ? `${path.relative(root, frame.url.replace(/^file:\/\//, ''))}:${frame.lineNumber + 1}` : '';
    const fn = `${frame.functionName || '(anonymous)'} ${where}`.trim();
    self.set(fn, (self.get(fn) ?? 0) + ms);
    const seen = new Set<string>();
    let owner: string | undefined = group(id) === 'V8: garbage collector' ? 'V8: garbage collector' : undefined;
    for (let current: number | undefined = id; current !== undefined; current = parent.get(current)) {
      const name = group(current);
      if (infrastructure(name) || name === '(root)') continue;
      owner ??= name;
      if (seen.has(name)) continue;
      seen.add(name);
      inclusive.set(name, (inclusive.get(name) ?? 0) + ms);
    }
    owner ??= group(id);
    owners.set(owner, (owners.get(owner) ?? 0) + ms);
    if (frame.url === '' && !frame.functionName.startsWith('(')) {
      // Named natives (writev) speak for themselves; anonymous ones by the JS function that called them.
      let entry: string | undefined = frame.functionName || undefined;
      for (let current = parent.get(id); entry === undefined && current !== undefined; current = parent.get(current)) {
        const caller = byId.get(current)!.callFrame;
        if (caller.url !== '') entry = caller.functionName || '(anonymous)';
      }
      const key = `${entry ?? 'native'} for ${owner}`;
      natives.set(key, (natives.get(key) ?? 0) + ms);
    }
  });
  const sorted = (map: Map<string, number>) =>
    [...map.entries()].map(([name, ms]) => ({ name, ms })).sort((a, b) => b.ms - a.ms);
  return { busyMs: busy, idleMs: idle, groups: sorted(inclusive), owners: sorted(owners), functions: sorted(self), natives: sorted(natives) };
}

/** A printable digest: the top groups and functions as shares of busy time. */
export function formatProfile(title: string, summary: ProfileSummary, top = 12): string {
  const share = (ms: number) => `${((100 * ms) / summary.busyMs).toFixed(1).padStart(5)}%`;
  const lines = [
    `${title}: ${(summary.busyMs / 1000).toFixed(1)} s on CPU, ${(summary.idleMs / 1000).toFixed(1)} s idle`,
    '  self time by owner (node core and native time charged to the package or source file that called it):',
    ...summary.owners.slice(0, top).map((entry) => `    ${share(entry.ms)}  ${entry.name}`),
    '  inclusive, by package / source folder (anywhere on the stack):',
    ...summary.groups.slice(0, top).map((entry) => `    ${share(entry.ms)}  ${entry.name}`),
    '  native code, by the call that entered it and the package it ran for:',
    ...summary.natives.slice(0, 6).map((entry) => `    ${share(entry.ms)}  ${entry.name}`),
    '  self time, by function:',
    ...summary.functions.slice(0, top).map((entry) => `    ${share(entry.ms)}  ${entry.name}`),
  ];
  return lines.join('\n');
}

// As a command: tsx bench/profile.ts <file.cpuprofile> [...]
if (import.meta.url === `file://${process.argv[1]}`) {
  const root = path.resolve(import.meta.dirname, '..');
  for (const file of process.argv.slice(2)) console.log(formatProfile(path.basename(file), summarizeProfile(file, root), 20));
}
