import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * Issue 15's promise, kept by a test: adding a probe is its own file and its line in the catalog.
 * In a temporary copy of the package, a new probe is written to src/probes/ and added to
 * src/probes/index.ts, and nothing else is touched; the copy must build, accept the probe's
 * settings in a config, run it, and show it in `check`'s report and its fix advice.
 */

const ROOT = resolve(import.meta.dirname, '../..');
const TSC = createRequire(import.meta.url).resolve('typescript/bin/tsc');

const PROBE = `import { defineProbe } from './types.js';

/** The probe the architecture test adds: it passes and says so. */
export const exampleEcho = defineProbe({
  name: 'example_echo',
  group: 'node',
  proves: 'a probe added in its own file runs',
  defaultInterval: '1m',
  defaultTimeout: '5s',
  required: true,
  phases: [],
  facts: [],
  reasons: ['requirement_not_met'],
  alerts: { failing: 'GitLabDuoNodeProbeFailed' },
  advice: { default: 'Nothing to do: this probe only shows how one is added.' },
  availability: () => ({ enabled: true }),
  target: () => 'nowhere',
  async run(ctx) {
    ctx.record.note('example_echo ran');
  },
});
`;

let copy = '';

beforeAll(() => {
  copy = mkdtempSync(join(tmpdir(), 'gde-add-probe-'));
  for (const entry of ['src', 'data', 'proto', 'bin', 'package.json', 'tsconfig.json', 'tsconfig.build.json']) {
    cpSync(join(ROOT, entry), join(copy, entry), { recursive: true });
  }
  symlinkSync(join(ROOT, 'node_modules'), join(copy, 'node_modules'), 'dir');
  writeFileSync(join(copy, 'src/probes/example-echo.ts'), PROBE);
  // The catalog line (and its import): the only change outside the probe's own file.
  const index = join(copy, 'src/probes/index.ts');
  const catalog = readFileSync(index, 'utf8')
    .replace(/^/, "import { exampleEcho } from './example-echo.js';\n")
    .replace(/(export const PROBES: readonly ProbeDefinition\[\] = \[\n)/, '$1  exampleEcho,\n');
  expect(catalog).toContain('  exampleEcho,\n');
  writeFileSync(index, catalog);
}, 60_000);

afterAll(() => {
  if (copy) rmSync(copy, { recursive: true, force: true });
});

describe('adding a probe in a copy of the package', () => {
  it('builds, and `check` runs the new probe with its settings, note and advice', () => {
    const build = spawnSync(process.execPath, [TSC, '-p', 'tsconfig.build.json'], { cwd: copy, encoding: 'utf8', timeout: 180_000 });
    expect(build.status, `${build.stdout}${build.stderr}`).toBe(0);

    writeFileSync(join(copy, 'config.yaml'), 'instances:\n  - name: lab\n    probes:\n      example_echo: { interval: 2m, timeout: 3s }\n');
    const check = spawnSync(process.execPath, ['bin/gitlab-duo-exporter.js', 'check', '--config.file=config.yaml', '--format=json', '--probe', 'example_echo'], {
      cwd: copy,
      encoding: 'utf8',
      timeout: 60_000,
    });
    const report = JSON.parse(check.stdout) as { instances: { probes: { name: string; status: string; notes?: string[]; timeoutSeconds?: number }[] }[] };
    const probe = report.instances[0]!.probes.find((p) => p.name === 'example_echo');
    expect(probe, check.stderr).toBeDefined();
    expect(probe!.status).toBe('pass');
    expect(JSON.stringify(probe)).toContain('example_echo ran');
    expect(check.status, check.stderr).toBe(0);
  }, 240_000);

  it('a config naming a probe the copy does not have is refused, listing the new one among the probes', () => {
    writeFileSync(join(copy, 'bad.yaml'), 'instances:\n  - name: lab\n    probes:\n      example_ech0: { interval: 2m }\n');
    const run = spawnSync(process.execPath, ['bin/gitlab-duo-exporter.js', '--config.file=bad.yaml', '--config.check'], { cwd: copy, encoding: 'utf8', timeout: 60_000 });
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(/example_ech0.*did you mean "example_echo"/);
  }, 60_000);
});
