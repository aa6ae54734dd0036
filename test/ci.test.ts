import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { projectRoot } from './support/server-process.ts';

// The CI a user copies (.github/workflows/ci.yml), the one this machine runs (.ci/run) and
// what the README tells: the same steps, on the same Node.js lines as .nvmrc and the image.

const read = (file: string) => readFile(path.join(projectRoot, file), 'utf8');

interface Workflow {
  jobs: {
    test: {
      strategy: { matrix: { node: number[] } };
      services: Record<string, { image: string; ports: string[] }>;
      env: Record<string, string>;
      steps: { uses?: string; run?: string; with?: Record<string, unknown> }[];
    };
  };
}

async function workflow(): Promise<Workflow['jobs']['test']> {
  return (parse(await read('.github/workflows/ci.yml')) as Workflow).jobs.test;
}

/** The npm commands of a shell script or a README code block, in order. */
function npmCommands(text: string): string[] {
  return text
    .split('\n')
    .map((line) => line.replace(/#.*$/, '').trim())
    .filter((line) => /^npm /.test(line));
}

/** The first ```sh block after `heading` in the README. */
function readmeBlock(readme: string, heading: string): string {
  const start = readme.indexOf(heading);
  expect(start, `README has "${heading}"`).toBeGreaterThanOrEqual(0);
  const block = /```sh\n([\s\S]*?)```/.exec(readme.slice(start));
  expect(block, `a sh block after "${heading}"`).not.toBeNull();
  return block![1]!;
}

describe('CI', () => {
  it('runs npm ci, typecheck, lint and the tests, in the workflow, in .ci/run and in the README', async () => {
    const job = await workflow();
    const steps = job.steps.flatMap((step) => (step.run ? [step.run.trim()] : []));
    expect(steps).toEqual(['npm ci --no-audit --no-fund', 'npm run typecheck', 'npm run lint', 'npm test']);
    expect(npmCommands(await read('.ci/run'))).toEqual(steps);
    expect(npmCommands(readmeBlock(await read('README.md'), '### Checks and CI'))).toEqual(steps);
    const scripts = (JSON.parse(await read('package.json')) as { scripts: Record<string, string> }).scripts;
    expect(scripts.typecheck).toBeDefined();
    expect(scripts.lint).toBeDefined();
  });

  it('tests on the supported LTS lines, the newest being .nvmrc, the image and the extra run of .ci/run', async () => {
    const job = await workflow();
    const lines = job.strategy.matrix.node;
    expect(lines).toEqual([22, 24]);
    const newest = Math.max(...lines);
    expect((await read('.nvmrc')).trim()).toBe(String(newest));
    const images = [...(await read('Dockerfile')).matchAll(/^FROM node:(\d+)\./gm)].map((match) => Number(match[1]));
    expect(images.length).toBeGreaterThan(0);
    expect(new Set(images)).toEqual(new Set([newest]));
    expect(await read('.ci/run')).toContain(`npx -y node@${newest} node_modules/vitest/vitest.mjs run`);
    expect(job.steps.find((step) => step.uses?.startsWith('actions/setup-node'))?.with?.['node-version']).toBe('${{ matrix.node }}');
    expect(await read('README.md')).toContain(`Node.js ${lines.join(' or ')}`);
  });

  it('gives the tests PostgreSQL and Redis service containers, named by the variables the tests read', async () => {
    const job = await workflow();
    expect(job.services.postgres?.image).toMatch(/^postgres:\d+\.\d+/);
    expect(job.services.redis?.image).toMatch(/^redis:\d+\.\d+/);
    const postgresPort = job.services.postgres!.ports[0]!.split(':')[0];
    expect(new URL(job.env.DATABASE_URL!).port).toBe(postgresPort);
    const redisPort = job.services.redis!.ports[0]!.split(':')[0];
    expect(new URL(job.env.TEST_REDIS_URL!).port).toBe(redisPort);
    expect(await read('test/support/redis.ts')).toContain('process.env.TEST_REDIS_URL');
  });
});
