#!/usr/bin/env node
/**
 * Writes dist/revision.json, the source revision of this build, which `--version` prints and
 * gitlab_duo_exporter_build_info carries as its `revision` label. Part of `npm run build`, so it
 * runs wherever dist/ is built: `npm ci` and `npm pack` in a checkout (through `prepare`), and the
 * Dockerfile's `npm ci`. A packed tarball ships the file, built from the packer's checkout.
 *
 * The revision is the first of:
 *   1. GITLAB_DUO_EXPORTER_REVISION, when set: the Docker build context has no .git, so the image
 *      gets its revision as a build argument of that name (docs/deployment.md);
 *   2. `git rev-parse --short HEAD`, when this package's own directory is the top of a git
 *      checkout (not when it merely sits somewhere inside another project's repository);
 *   3. "unknown": a source tarball, a machine without git, a checkout git refuses to read.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, realpathSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const OUT_DIR = fileURLToPath(new URL('../dist/', import.meta.url));
// A label value and a line of --version: short, printable, no quoting needed anywhere.
const VALID = /^[0-9A-Za-z][0-9A-Za-z._+-]{0,63}$/;

/** stdout of a git command run in ROOT, or undefined if git is missing, fails or hangs. */
function git(...args) {
  const run = spawnSync('git', args, { cwd: ROOT, encoding: 'utf8', timeout: 10_000, stdio: ['ignore', 'pipe', 'ignore'] });
  return run.status === 0 ? run.stdout.trim() : undefined;
}

function fromGit() {
  const top = git('rev-parse', '--show-toplevel');
  if (top === undefined || realpathSync(top) !== realpathSync(ROOT)) return undefined;
  const revision = git('rev-parse', '--short', 'HEAD');
  return revision !== undefined && VALID.test(revision) ? revision : undefined;
}

function revision() {
  const given = process.env.GITLAB_DUO_EXPORTER_REVISION?.trim();
  if (given) {
    if (!VALID.test(given)) throw new Error(`GITLAB_DUO_EXPORTER_REVISION must be up to 64 letters, digits and . _ + - (got ${JSON.stringify(given.slice(0, 80))})`);
    return given;
  }
  return fromGit() ?? 'unknown';
}

try {
  const value = revision();
  mkdirSync(OUT_DIR, { recursive: true });
  writeFileSync(`${OUT_DIR}revision.json`, `${JSON.stringify({ revision: value })}\n`);
  console.log(`dist/revision.json: ${value}`);
} catch (err) {
  console.error(`scripts/revision.mjs: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
}
