// npm run db:psql: psql on the server's database: DATABASE_URL when set (from the
// environment or .env), otherwise the embedded PostgreSQL of DATA_DIR, which must be
// running (npm start). The password goes to psql in PGPASSWORD, never on a command line.
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
try {
  process.loadEnvFile(process.env.ENV_FILE || path.join(root, '.env'));
} catch {
  // no .env
}

function fail(line: string): never {
  process.stderr.write(`${line}\n`);
  process.exit(1);
}

let url: URL;
if (process.env.DATABASE_URL) {
  url = new URL(process.env.DATABASE_URL);
} else {
  const clusterDir = path.resolve(root, process.env.DATA_DIR || '.data', 'postgres');
  const state = await readFile(path.join(clusterDir, 'embedded-postgres.json'), 'utf8').catch(() =>
    fail(`No embedded PostgreSQL in ${clusterDir}: run npm start once, or set DATABASE_URL`),
  );
  const pid = await readFile(path.join(clusterDir, 'postmaster.pid'), 'utf8').catch(() =>
    fail(`The embedded PostgreSQL of ${clusterDir} is not running: start the server (npm start) in another terminal first`),
  );
  url = new URL(`postgresql://postgres@127.0.0.1:${Number(pid.split('\n')[3])}/payments`);
  url.password = encodeURIComponent((JSON.parse(state) as { password: string }).password);
}

const password = decodeURIComponent(url.password);
url.password = '';
const psql = spawn('psql', [url.toString(), ...process.argv.slice(2)], { stdio: 'inherit', env: { ...process.env, ...(password ? { PGPASSWORD: password } : {}) } });
psql.once('error', (error: NodeJS.ErrnoException) =>
  fail(
    error.code === 'ENOENT'
      ? `psql is not installed (apt-get install postgresql-client, brew install libpq): connect any client to ${url.toString()} with the password ${process.env.DATABASE_URL ? 'of DATABASE_URL' : 'in .data/postgres/embedded-postgres.json'}`
      : `Cannot run psql: ${error.message}`,
  ),
);
psql.once('exit', (code) => process.exit(code ?? 1));
