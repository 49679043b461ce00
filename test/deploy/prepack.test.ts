/**
 * scripts/prepack.mjs, which `npm pack` runs first: it refuses to pack (exit 1, dist/ kept) when
 * node_modules is not the production tree of package-lock.json, which the tarball bundles, and
 * otherwise empties dist/ for the build that follows. Run on small package directories made here.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT } from '../assets/helpers.js';

const SCRIPT = join(ROOT, 'scripts', 'prepack.mjs');
const tmp = mkdtempSync(join(tmpdir(), 'gde-prepack-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

let count = 0;

/** A package depending on `a` (which depends on `b`), with a dev-only `d`, and a built dist/. */
function makePackage(installed: Record<string, string>, dependencies: Record<string, string> = { a: '^1.0.0' }): string {
  const dir = join(tmp, `pkg-${++count}`);
  const write = (path: string, value: unknown): void => {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), typeof value === 'string' ? value : JSON.stringify(value));
  };
  write('package.json', { name: 'p', version: '1.0.0', dependencies, devDependencies: { d: '^2.0.0' } });
  write('package-lock.json', {
    lockfileVersion: 3,
    packages: {
      '': { dependencies: { a: '^1.0.0' }, devDependencies: { d: '^2.0.0' } },
      'node_modules/a': { version: '1.0.1', dependencies: { b: '^3.0.0' } },
      'node_modules/a/node_modules/b': { version: '3.1.0' },
      'node_modules/d': { version: '2.0.0', dev: true },
      'node_modules/fsevents': { version: '2.3.3', optional: true },
    },
  });
  for (const [path, version] of Object.entries(installed)) write(`${path}/package.json`, { name: path.split('/').at(-1), version });
  write('dist/stale.js', '// the output of a source file that no longer exists\n');
  return dir;
}

function prepack(dir: string): { status: number | null; stderr: string } {
  const run = spawnSync(process.execPath, [SCRIPT, dir], { encoding: 'utf8', timeout: 10_000 });
  return { status: run.status, stderr: run.stderr };
}

describe('scripts/prepack.mjs', () => {
  it('passes node_modules that is the lockfile\'s production tree (dev and other-platform packages absent) and empties dist/', () => {
    const dir = makePackage({ 'node_modules/a': '1.0.1', 'node_modules/a/node_modules/b': '3.1.0' });
    const result = prepack(dir);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(existsSync(join(dir, 'dist'))).toBe(false);
  });

  it('refuses a package at another version than the lockfile, naming it, and leaves dist/ alone', () => {
    const dir = makePackage({ 'node_modules/a': '1.0.0', 'node_modules/a/node_modules/b': '3.1.0' });
    const result = prepack(dir);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('node_modules/a: 1.0.0, package-lock.json has 1.0.1');
    expect(result.stderr).toContain('npm ci');
    expect(existsSync(join(dir, 'dist', 'stale.js'))).toBe(true);
  });

  it('refuses a missing nested package', () => {
    const result = prepack(makePackage({ 'node_modules/a': '1.0.1' }));
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('node_modules/a/node_modules/b: missing, package-lock.json has 3.1.0');
  });

  it('refuses a package.json whose dependencies the lockfile does not list', () => {
    const result = prepack(makePackage({ 'node_modules/a': '1.0.1', 'node_modules/a/node_modules/b': '3.1.0' }, { a: '^1.0.0', c: '^1.0.0' }));
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('does not list the dependencies of package.json');
  });

  it('passes this checkout, whose node_modules `npm ci` made', () => {
    // The checkout's package.json and lockfile, with a link to its node_modules: its own dist/ is
    // in use by other tests and must not be removed.
    const dir = join(tmp, 'checkout');
    mkdirSync(dir);
    for (const file of ['package.json', 'package-lock.json']) copyFileSync(join(ROOT, file), join(dir, file));
    symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
    const result = prepack(dir);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
  });
});
