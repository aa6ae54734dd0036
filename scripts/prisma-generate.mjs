// Runs `prisma generate` without network access (npm `postinstall`).
//
// Prisma 7's CLI downloads its schema-engine binary before any command, which fails
// offline. `generate` never runs that binary, so pointing PRISMA_SCHEMA_ENGINE_BINARY at
// any existing file lets it proceed. Only this script sets it: migrations go through
// the WASM schema engine instead (src/db/migrations.ts).
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const thisFile = fileURLToPath(import.meta.url);
const root = resolve(dirname(thisFile), '..');
const require = createRequire(thisFile);

let prismaBin;
try {
  const manifestPath = require.resolve('prisma/package.json');
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8'));
  const bin = typeof manifest.bin === 'string' ? manifest.bin : manifest.bin.prisma;
  prismaBin = join(dirname(manifestPath), bin);
} catch {
  // An install without dev dependencies has no CLI; the client must then come from a
  // build step that had them, so don't fail the install itself.
  console.warn('prisma-generate: the prisma CLI is not installed (dev dependency); skipping client generation');
  process.exit(0);
}

const env = {
  ...process.env,
  // A file that is deliberately not an engine: if Prisma ever tried to run it, it
  // would fail loudly instead of silently doing something else.
  PRISMA_SCHEMA_ENGINE_BINARY: process.env.PRISMA_SCHEMA_ENGINE_BINARY ?? thisFile,
  // No update check or telemetry: both would only wait on the network here.
  CHECKPOINT_DISABLE: '1',
  PRISMA_HIDE_UPDATE_MESSAGE: '1',
};

const result = spawnSync(process.execPath, [prismaBin, 'generate', '--schema', join(root, 'prisma', 'schema.prisma')], {
  cwd: root,
  env,
  stdio: 'inherit',
});
if (result.error) throw result.error;
if (result.status !== 0) process.exit(result.status ?? 1);
if (!existsSync(join(root, 'src', 'generated', 'prisma', 'client.ts'))) {
  console.error('prisma-generate: src/generated/prisma/client.ts was not produced');
  process.exit(1);
}
