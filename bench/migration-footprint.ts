// npx tsx bench/migration-footprint.ts (after npm run build): how much of the server's RSS
// is Prisma's schema engine, which applyMigrations instantiates (WebAssembly) at start and
// whose memory stays in the process afterwards. The compiled src/db/migrations.ts
// (dist/db/migrations.js, as the image runs it) in a plain node process of its own, with
// the server's young generation flag, against a fresh empty database per round, started
// twice: the first process applies every migration (a first start), the second finds
// nothing to apply (every later start). RSS after a full collection, with the module
// imported and after applyMigrations returned.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { createBenchDatabase, projectRoot, type BenchDatabase } from './database.ts';
import { markdownTable } from './report.ts';

const { values: flags } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    'database-url': { type: 'string', default: process.env.BENCH_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres' },
  },
});
const rounds = Number(flags.rounds);
if (!Number.isInteger(rounds) || rounds <= 0) throw new Error(`--rounds must be a positive integer, got "${flags.rounds}"`);

const compiledMigrations = path.join(projectRoot, 'dist', 'db', 'migrations.js');

/** RSS in MiB of one process, after a full collection. */
interface Probe {
  imported: number;
  migrated: number;
  /** How many migrations it applied. */
  applied: number;
}

const probe = `
const rss = () => { gc(); return process.memoryUsage().rss / 2 ** 20; };
const { applyMigrations } = await import(${JSON.stringify(pathToFileURL(compiledMigrations).href)});
const imported = rss();
const { applied } = await applyMigrations(process.env.DATABASE_URL, { migrationsDir: 'prisma/migrations', schemaPath: 'prisma/schema.prisma' });
console.log(JSON.stringify({ imported, migrated: rss(), applied: applied.length }));
`;

function runProbe(databaseUrl: string): Promise<Probe> {
  const child = spawn(process.execPath, ['--expose-gc', '--max-semi-space-size=64', '--input-type=module', '-e', probe], {
    cwd: projectRoot,
    env: { PATH: process.env.PATH ?? '', DATABASE_URL: databaseUrl },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => {
      if (code === 0) resolve(JSON.parse(stdout.trim().split('\n').at(-1)!) as Probe);
      else reject(new Error(`the probe exited with ${code}:\n${stderr}`));
    });
  });
}

const say = (line = '') => process.stdout.write(`${line}\n`);

async function main(): Promise<void> {
  if (!existsSync(compiledMigrations)) throw new Error(`${path.relative(projectRoot, compiledMigrations)} is missing: run npm run build first`);
  say('# Migration engine footprint');
  const cpus = os.cpus();
  say(`machine: ${cpus.length} × ${cpus[0]?.model ?? '?'}; node ${process.version}; load average ${os.loadavg().map((n) => n.toFixed(1)).join(' ')}`);
  const firsts: Probe[] = [];
  const laters: Probe[] = [];
  for (let round = 0; round < rounds; round += 1) {
    let database: BenchDatabase | undefined;
    try {
      database = await createBenchDatabase(flags['database-url']!, { migrate: false });
      const first = await runProbe(database.databaseUrl);
      const later = await runProbe(database.databaseUrl);
      if (first.applied === 0 || later.applied !== 0) throw new Error(`expected the first start to apply the migrations and the second none: ${first.applied}, ${later.applied}`);
      firsts.push(first);
      laters.push(later);
      say(
        `  round ${round + 1}: first start ${first.imported.toFixed(0)} -> ${first.migrated.toFixed(0)} MiB (${first.applied} migrations applied), ` +
          `later start ${later.imported.toFixed(0)} -> ${later.migrated.toFixed(0)} MiB (none to apply)`,
      );
    } finally {
      await database?.drop();
    }
  }
  const mean = (of: Probe[], pick: (figures: Probe) => number) => (of.reduce((sum, figures) => sum + pick(figures), 0) / of.length).toFixed(0);
  say(`\n### RSS after a full collection, MiB (mean of ${rounds} round(s))\n`);
  say(
    markdownTable(
      ['start', 'dist/db/migrations.js imported', 'after applyMigrations', 'kept by the engine'],
      [
        ['first (every migration applied)', mean(firsts, (p) => p.imported), mean(firsts, (p) => p.migrated), mean(firsts, (p) => p.migrated - p.imported)],
        ['later (nothing to apply)', mean(laters, (p) => p.imported), mean(laters, (p) => p.migrated), mean(laters, (p) => p.migrated - p.imported)],
      ],
    ),
  );
}

try {
  await main();
} catch (error) {
  process.exitCode = 1;
  say(`\nmigration footprint failed: ${error instanceof Error ? error.message : String(error)}`);
}
