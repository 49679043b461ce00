import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { parseConfigText } from '../src/config/load.js';
import { createMetrics } from '../src/metrics/registry.js';
import { parseCloudflareRanges } from '../src/net/cloudflare.js';
import { buildPlan } from '../src/runner/plan.js';
import { ResultStore } from '../src/runner/store.js';
import { readRevision, REVISION, VERSION, versionText } from '../src/core/version.js';
import { ROOT } from './assets/helpers.js';

// Issue 14: the build records the source revision (scripts/revision.mjs → dist/revision.json);
// --version prints it and gitlab_duo_exporter_build_info carries it.

const SCRIPT = join(ROOT, 'scripts/revision.mjs');
const CLEAN_ENV = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: tmpdir() };

const temps: string[] = [];
afterAll(() => {
  for (const dir of temps) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'gde-revision-'));
  temps.push(dir);
  return dir;
}

/** A package directory holding only the script, as an unpacked source tarball would. */
function packageDir(parent = tempDir()): string {
  const dir = join(parent, 'pkg');
  mkdirSync(join(dir, 'scripts'), { recursive: true });
  copyFileSync(SCRIPT, join(dir, 'scripts/revision.mjs'));
  return dir;
}

function runScript(dir: string, env: Record<string, string> = {}) {
  const run = spawnSync(process.execPath, [join(dir, 'scripts/revision.mjs')], { cwd: dir, env: { ...CLEAN_ENV, ...env }, encoding: 'utf8', timeout: 20_000 });
  const file = join(dir, 'dist/revision.json');
  return { code: run.status, stderr: run.stderr, written: existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as { revision: string }).revision : undefined };
}

function git(cwd: string, ...args: string[]): string {
  const run = spawnSync('git', ['-c', 'user.name=test', '-c', 'user.email=test@example.invalid', '-c', 'commit.gpgsign=false', ...args], { cwd, env: CLEAN_ENV, encoding: 'utf8', timeout: 20_000 });
  if (run.status !== 0) throw new Error(`git ${args.join(' ')} failed (is git installed?): ${run.stderr}`);
  return run.stdout.trim();
}

describe('scripts/revision.mjs', () => {
  it('writes "unknown" outside a git checkout (a source tarball)', () => {
    expect(runScript(packageDir())).toMatchObject({ code: 0, written: 'unknown' });
  });

  it('takes GITLAB_DUO_EXPORTER_REVISION first (the Docker build argument), and refuses a malformed one', () => {
    expect(runScript(packageDir(), { GITLAB_DUO_EXPORTER_REVISION: 'v0.1.0-3-gdeadbee' })).toMatchObject({ code: 0, written: 'v0.1.0-3-gdeadbee' });
    const bad = runScript(packageDir(), { GITLAB_DUO_EXPORTER_REVISION: 'abc"} 1\nfake_metric 1' });
    expect(bad.code).toBe(1);
    expect(bad.written).toBeUndefined();
    expect(bad.stderr).toContain('GITLAB_DUO_EXPORTER_REVISION must be');
  });

  it('writes `git rev-parse --short HEAD` when the package directory is the top of a checkout', () => {
    const dir = packageDir();
    git(dir, 'init', '-q');
    git(dir, 'commit', '-q', '--allow-empty', '-m', 'first');
    const head = git(dir, 'rev-parse', '--short', 'HEAD');
    expect(head).toMatch(/^[0-9a-f]{7,}$/);
    expect(runScript(dir)).toMatchObject({ code: 0, written: head });
  });

  it('writes "unknown" when the package merely sits inside another repository (node_modules of a project)', () => {
    const outer = tempDir();
    git(outer, 'init', '-q');
    git(outer, 'commit', '-q', '--allow-empty', '-m', 'the project');
    expect(runScript(packageDir(outer))).toMatchObject({ code: 0, written: 'unknown' });
  });
});

describe('the revision at run time', () => {
  it('readRevision: the written value, else "unknown" for a missing, broken or malformed file', () => {
    const dir = tempDir();
    const file = (name: string, text?: string): URL => {
      const path = join(dir, name);
      if (text !== undefined) writeFileSync(path, text);
      return pathToFileURL(path);
    };
    expect(readRevision(file('good.json', '{"revision":"2290fb5"}\n'))).toBe('2290fb5');
    expect(readRevision(file('missing.json'))).toBe('unknown');
    expect(readRevision(file('broken.json', '{"revision":'))).toBe('unknown');
    expect(readRevision(file('number.json', '{"revision":42}'))).toBe('unknown');
    expect(readRevision(file('hostile.json', '{"revision":"x\\"} 1\\nfake 1"}'))).toBe('unknown');
  });

  it('--version text: version, revision, Node.js version and platform', () => {
    expect(versionText().split('\n')).toEqual([
      `gitlab-duo-exporter, version ${VERSION} (revision: ${REVISION})`,
      `  node version:     ${process.version}`,
      `  platform:         ${process.platform}/${process.arch}`,
    ]);
  });

  it.each(['prometheus', 'openMetrics'] as const)('gitlab_duo_exporter_build_info has version, revision and node_version (%s)', async (format) => {
    const plan = buildPlan(await parseConfigText('instances: [ { name: a } ]', 'test', { env: {} }), parseCloudflareRanges('1.0.0.0/8', 'test'), {});
    const metrics = createMetrics({ store: new ResultStore(), plan: () => plan });
    const text = Buffer.concat(await metrics[format].render()).toString();
    expect(text).toContain(`gitlab_duo_exporter_build_info{version="${VERSION}",revision="${REVISION}",node_version="${process.version}"} 1\n`);
  });
});
