import { spawnSync } from 'node:child_process';

/**
 * `promtool check metrics` on an exposition; returns its findings (empty when clean). Fails, never
 * skips, when promtool is missing: the test command installs Debian's `prometheus` package.
 */
export function promtoolCheckMetrics(exposition: string): string {
  const run = spawnSync('promtool', ['check', 'metrics'], { input: exposition, encoding: 'utf8', timeout: 20_000 });
  if (run.error) throw new Error(`promtool is not available (install the Debian package "prometheus"): ${run.error.message}`);
  return `${run.stdout}${run.stderr}`.trim();
}
