// Preloaded (node --import) into the servers the memory comparison measures: on SIGUSR2
// each prints one line of what its RSS is made of, process.memoryUsage() and V8's heap
// spaces, in the same words for the API and for the baseline; with
// BENCH_HEAP_SNAPSHOT_DIR set, it writes a heap snapshot there first. Plain JavaScript, so
// that it loads into a compiled server as into one run by tsx.
import path from 'node:path';
import v8 from 'node:v8';

process.on('SIGUSR2', () => {
  const dir = process.env.BENCH_HEAP_SNAPSHOT_DIR;
  const snapshot = dir ? v8.writeHeapSnapshot(path.join(dir, `${process.pid}.heapsnapshot`)) : undefined;
  const spaces = Object.fromEntries(v8.getHeapSpaceStatistics().map((space) => [space.space_name, { size: space.space_size, used: space.space_used_size }]));
  process.stderr.write(`memory-report ${JSON.stringify({ ...process.memoryUsage(), spaces, ...(snapshot ? { snapshot } : {}) })}\n`);
});
