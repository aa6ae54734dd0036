// What a V8 heap snapshot (.heapsnapshot) holds, by self size: per kind of node (strings,
// compiled code, closures, objects...) and the largest constructors. Used by the memory
// comparison's --heap-snapshot; `npx tsx bench/heap-summary.ts FILE` prints the same.
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

export interface HeapSummary {
  total: number;
  byType: [string, number][];
  byName: [string, number][];
}

export function summarizeHeap(file: string, top = 12): HeapSummary {
  const { snapshot, nodes, strings } = JSON.parse(readFileSync(file, 'utf8')) as Snapshot;
  const fields = snapshot.meta.node_fields;
  const types = snapshot.meta.node_types[0];
  const width = fields.length;
  const typeAt = fields.indexOf('type');
  const nameAt = fields.indexOf('name');
  const sizeAt = fields.indexOf('self_size');
  const byType = new Map<string, number>();
  const byName = new Map<string, number>();
  let total = 0;
  for (let index = 0; index < nodes.length; index += width) {
    const type = types[nodes[index + typeAt]!]!;
    const size = nodes[index + sizeAt]!;
    total += size;
    byType.set(type, (byType.get(type) ?? 0) + size);
    // Objects and arrays by constructor; strings and code are counted by kind only.
    if (type === 'object' || type === 'closure' || type === 'array' || type === 'hidden' || type === 'native') {
      const name = `${type} ${strings[nodes[index + nameAt]!]!.slice(0, 60)}`;
      byName.set(name, (byName.get(name) ?? 0) + size);
    }
  }
  const sorted = (map: Map<string, number>) => [...map].sort((a, b) => b[1] - a[1]);
  return { total, byType: sorted(byType), byName: sorted(byName).slice(0, top) };
}

export function formatHeap(summary: HeapSummary): string {
  const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(1);
  return [
    `heap snapshot: ${mib(summary.total)} MiB of live objects`,
    `  by kind: ${summary.byType.filter(([, size]) => size >= 2 ** 19).map(([type, size]) => `${type} ${mib(size)}`).join(', ')}`,
    `  largest: ${summary.byName.map(([name, size]) => `${name} ${mib(size)}`).join('; ')}`,
  ].join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  process.stdout.write(`${formatHeap(summarizeHeap(process.argv[2]!))}\n`);
}
