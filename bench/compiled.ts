// The servers as production runs them: the API compiled by tsc as `npm run build` does
// (plain node on dist/server.js, as `npm run start:prod` and the image), and the baseline
// stripped of its types by esbuild, so that neither carries tsx's loader thread. Built into
// the run's own folder, laid out as the image is (dist/ beside package.json, prisma/ and
// node_modules), so that a checkout's dist/ is neither needed nor touched.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { transform } from 'esbuild';
import { projectRoot } from './database.ts';

export interface Compiled {
  /** The folder to run them in. */
  dir: string;
  api: string;
  baseline: string;
}

export async function buildCompiled(workDir: string): Promise<Compiled> {
  const dir = path.join(workDir, 'compiled');
  mkdirSync(path.join(dir, 'bench'), { recursive: true });
  for (const entry of ['package.json', 'prisma', 'node_modules']) symlinkSync(path.join(projectRoot, entry), path.join(dir, entry));
  const tsc = path.join(projectRoot, 'node_modules', 'typescript', 'bin', 'tsc');
  execFileSync(process.execPath, [tsc, '-p', 'tsconfig.build.json', '--noCheck', '--outDir', path.join(dir, 'dist')], { cwd: projectRoot, stdio: 'inherit' });
  const source = readFileSync(path.join(projectRoot, 'bench', 'baseline-server.ts'), 'utf8');
  const { code } = await transform(source, { loader: 'ts', format: 'esm', target: 'node20' });
  const baseline = path.join(dir, 'bench', 'baseline-server.js');
  writeFileSync(baseline, code);
  return { dir, api: path.join(dir, 'dist', 'server.js'), baseline };
}
