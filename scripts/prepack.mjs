#!/usr/bin/env node
/**
 * `prepack`: npm runs it before every `npm pack`, then `prepare` builds dist/.
 *
 * 1. Refuses to pack when node_modules is not exactly the production tree of package-lock.json.
 *    The tarball bundles the production dependencies from node_modules (bundleDependencies in
 *    package.json), so that `npm install -g <tarball>` needs no registry (GitLab nodes are often
 *    offline) and installs the versions the tests ran with. npm bundles whatever node_modules
 *    holds: a stale or partial install (a `git pull` without `npm ci`) would ship silently.
 * 2. Then removes dist/, so that the build `prepare` runs next starts empty: tsc never deletes the
 *    output of a source file that is gone, and "files" ships all of dist/.
 *
 *   node scripts/prepack.mjs [package directory]   (default: this package)
 *
 * Exit 0 when every non-dev package of the lockfile is installed at its locked version and the
 * lockfile's root lists the dependencies package.json lists; 1 with the differences otherwise,
 * leaving dist/ alone.
 */
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const dir = process.argv[2] ?? fileURLToPath(new URL('..', import.meta.url));

function readJson(path) {
  return JSON.parse(readFileSync(join(dir, path), 'utf8'));
}

/** The version installed at a lockfile path (node_modules/a/node_modules/b), or undefined. */
function installedVersion(path) {
  try {
    return readJson(join(path, 'package.json')).version;
  } catch {
    return undefined;
  }
}

/** What differs between package.json, package-lock.json and node_modules, one line each. */
function differences() {
  const pkg = readJson('package.json');
  const lock = readJson('package-lock.json');
  if (!lock.packages) return ['package-lock.json has no "packages" (lockfileVersion 2 or later is needed)'];
  const problems = [];
  const wanted = JSON.stringify(Object.entries(pkg.dependencies ?? {}).sort());
  const locked = JSON.stringify(Object.entries(lock.packages['']?.dependencies ?? {}).sort());
  if (wanted !== locked) problems.push('package-lock.json does not list the dependencies of package.json (run npm install)');
  for (const [path, entry] of Object.entries(lock.packages)) {
    if (path === '' || entry.dev || entry.link) continue;
    const found = installedVersion(path);
    // An optional package for another platform is legitimately absent.
    if (found === undefined && entry.optional) continue;
    if (found !== entry.version) problems.push(`${path}: ${found ?? 'missing'}, package-lock.json has ${entry.version}`);
  }
  return problems;
}

try {
  const problems = differences();
  if (problems.length > 0) {
    console.error('npm pack: node_modules is not the production tree of package-lock.json, which the tarball bundles:');
    for (const line of problems.slice(0, 20)) console.error(`  ${line}`);
    if (problems.length > 20) console.error(`  ... and ${problems.length - 20} more`);
    console.error('Run `npm ci`, then `npm pack` again.');
    process.exitCode = 1;
  } else {
    rmSync(join(dir, 'dist'), { recursive: true, force: true });
  }
} catch (err) {
  console.error(`scripts/prepack.mjs: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
}
