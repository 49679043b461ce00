/**
 * Helpers of test/deploy/npm-pack.test.ts: running npm and the installed command without anything
 * from this test run leaking in, reading the tarball's report, and comparing an installed
 * node_modules tree with package-lock.json.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';

export interface LockEntry {
  version?: string;
  dev?: boolean;
  optional?: boolean;
  link?: boolean;
}

/** What `npm pack --json` reports about the tarball it wrote. */
export interface PackReport {
  filename: string;
  size: number;
  unpackedSize: number;
  entryCount: number;
  files: { path: string; size: number }[];
  bundled: string[];
}

export interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** The host's environment minus what npm or vitest injected (npm_*, NODE_OPTIONS...), plus extra. */
export function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^npm_/i.test(k) || k === 'NODE_ENV' || k === 'NODE_OPTIONS' || k.startsWith('VITEST')) continue;
    env[k] = v;
  }
  return { ...env, ...extra };
}

/**
 * npm with no registry and an empty cache of its own: whatever it needs must come from the
 * tarball or the directory it runs in, as on a node with no network.
 */
export function npmEnv(cacheDir: string, userConfig: string): NodeJS.ProcessEnv {
  return cleanEnv({
    npm_config_offline: 'true',
    npm_config_cache: cacheDir,
    npm_config_userconfig: userConfig,
    npm_config_update_notifier: 'false',
    npm_config_audit: 'false',
    npm_config_fund: 'false',
  });
}

export function run(command: string, args: readonly string[], options: { cwd: string; env: NodeJS.ProcessEnv; timeoutMs: number }): Run {
  const result = spawnSync(command, args, { cwd: options.cwd, env: options.env, encoding: 'utf8', timeout: options.timeoutMs });
  if (result.error) throw new Error(`${command} ${args.join(' ')}: ${result.error.message}`);
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** The JSON array `npm pack --json` prints, found after whatever the lifecycle scripts printed. */
export function packReport(stdout: string): PackReport {
  const start = stdout.search(/^\[/m);
  if (start < 0) throw new Error(`npm pack --json printed no report:\n${stdout}`);
  const reports = JSON.parse(stdout.slice(start)) as PackReport[];
  if (reports.length !== 1) throw new Error(`npm pack reported ${reports.length} tarballs`);
  return reports[0]!;
}

/** Every package under dir/node_modules, as lockfile paths (node_modules/a/node_modules/b). */
export function installedPackages(dir: string): Map<string, string> {
  const found = new Map<string, string>();
  const walk = (modules: string): void => {
    if (!existsSync(modules)) return;
    for (const name of readdirSync(modules)) {
      if (name.startsWith('.')) continue;
      const path = join(modules, name);
      if (name.startsWith('@')) {
        for (const scoped of readdirSync(path)) visit(join(path, scoped));
      } else {
        visit(path);
      }
    }
  };
  const visit = (path: string): void => {
    const manifest = join(path, 'package.json');
    if (!existsSync(manifest)) return;
    found.set(relative(dir, path).split('\\').join('/'), (JSON.parse(readFileSync(manifest, 'utf8')) as { version: string }).version);
    walk(join(path, 'node_modules'));
  };
  walk(join(dir, 'node_modules'));
  return found;
}

/** The lockfile's production tree: path → version, without dev-only packages. */
export function productionTree(lockFile: string): Map<string, string> {
  const lock = JSON.parse(readFileSync(lockFile, 'utf8')) as { packages: Record<string, LockEntry> };
  const tree = new Map<string, string>();
  for (const [path, entry] of Object.entries(lock.packages)) {
    if (path === '' || entry.dev || entry.link || entry.version === undefined) continue;
    tree.set(path, entry.version);
  }
  return tree;
}

/** Lines `path version` of a tree, sorted, for a readable diff in a failed expectation. */
export function treeLines(tree: ReadonlyMap<string, string>): string[] {
  return [...tree].map(([path, version]) => `${path} ${version}`).sort();
}

