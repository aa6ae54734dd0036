// --profile: a measurement of the API under --cpu-prof, and with --read-only the baseline's
// too; the summaries of the measured window are printed with the results.
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import type { Bench, Settings } from '../bench.ts';
import { projectRoot } from '../database.ts';
import type { Measurement } from '../measure.ts';
import { formatProfile, summarizeProfile } from '../profile.ts';
import { asBuilt, startApi, type Target } from '../servers.ts';

/** CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile: thread 0 is the main thread (others: the module loader's worker). */
function mainThreadProfile(dir: string): string | undefined {
  return readdirSync(dir).find((name) => /\.\d+\.0\.\d+\.cpuprofile$/.test(name));
}

function emptyDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
}

/** With --profile: a fresh API process under --cpu-prof for one measurement, then a normal one again. */
export async function onApi(bench: Bench, key: string, run: (target: Target) => Promise<Measurement>): Promise<Measurement> {
  if (!bench.settings.profile) return run(bench.api);
  await bench.api.child.stop();
  const dir = path.join(bench.profileDir, key);
  emptyDir(dir);
  bench.api = await startApi(bench.settings, bench.secrets, bench.database.databaseUrl, bench.stripeUrl, bench.apiPort, { ...asBuilt(bench.compiled, 'api'), profileTo: dir });
  const measurement = await run(bench.api);
  await bench.api.child.stop();
  const file = mainThreadProfile(dir);
  if (file) {
    bench.profiles.push(formatProfile(`${measurement.label}, c=${measurement.connections} (bench/.profiles/${key}/${file})`, summarizeProfile(path.join(dir, file), projectRoot, measurement.window)));
  }
  bench.api = await startApi(bench.settings, bench.secrets, bench.database.databaseUrl, bench.stripeUrl, bench.apiPort, asBuilt(bench.compiled, 'api'));
  return measurement;
}

/** With --read-only --profile the baseline is profiled too: where its time goes is the yardstick for ours. Empty, before it starts. */
export function baselineProfileDir(settings: Settings, profileDir: string): string | undefined {
  if (!(settings.profile && settings.readOnly)) return undefined;
  const dir = path.join(profileDir, 'baseline');
  emptyDir(dir);
  return dir;
}

/** Stops the baseline, so that it writes its profile, and adds the profile's summary of `run`'s window. */
export async function addBaselineProfile(bench: Bench, dir: string, run: Measurement): Promise<void> {
  await bench.baseline.child.stop();
  const file = mainThreadProfile(dir);
  if (file) bench.profiles.push(formatProfile(`${run.label} (bench/.profiles/baseline/${file})`, summarizeProfile(path.join(dir, file), projectRoot, run.window)));
}
