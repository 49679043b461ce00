/**
 * SLOW TEST (about 30-90 s, once): installing without a clone.
 *
 * A copy of the checkout (what a clone holds: no dist/, node_modules as `npm ci` leaves it, plus
 * planted files that must never ship) is packed with `npm pack`, exactly as docs/deployment.md
 * says; the copy is then deleted, and the tarball is installed with `npm install -g --prefix` by an
 * npm with no registry and an empty cache, as on a GitLab node with no network. The installed
 * command must then answer `--version`, `--help` and `--config.check`, and its `demo` must serve
 * /metrics with every probe passing (TLS, HTTP/2 gRPC with the shipped proto file, the shipped
 * Cloudflare ranges). The tarball unpacked with tar alone must run too (no npm on the target).
 *
 * What it cannot prove: npm versions other than the one installed here. Node 20 ships npm 10,
 * which is not run here; this npm's installer runs `prepare` only for directories and git
 * dependencies, never for a tarball, and uses bundled dependencies as they are.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../assets/helpers.js';
import { cleanEnv, installedPackages, npmEnv, packReport, productionTree, run, treeLines, type PackReport } from './npm-pack-tools.js';

const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { name: string; version: string; devDependencies: Record<string, string> };

// What a clone does not hold, or what `npm ci` and `npm pack` make again in the copy.
const NOT_COPIED = new Set(['.git', 'node_modules', 'dist', 'test-output', 'coverage']);
// Planted in the copy's root: a checkout's local config and secrets, which must never ship.
const DECOYS = ['config.yaml', 'web-config.yml', 'admin-token', 'duo-token', '.env', 'tls.key', 'tls.pem'];
const SECRET_NAME = /(^|\/)(\.env(\..*)?|\.npmrc|[^/]*\.(pem|key|crt|token)|[^/]*-token|config\.yaml|web-config\.yml)$/;
// The tarball's top level: package.json "files", what npm always adds, and the bundled dependencies.
const TOP_LEVEL = ['LICENSE', 'README.md', 'alerts', 'bin', 'config.example.yaml', 'dashboards', 'data', 'dist', 'node_modules', 'package.json', 'proto', 'systemd', 'web-config.example.yml'];
// A budget, so that a dependency that balloons is noticed (0.1.0: about 6.5 MB and 29 MB).
const MAX_PACKED = 10 * 1024 * 1024;
const MAX_UNPACKED = 45 * 1024 * 1024;
// Throw-away values for config.example.yaml's ${...}: they must not come out anywhere.
const FAKE_TOKENS = { GITLAB_ADMIN_TOKEN: 'glpat-packtest-admin-0000000000', GITLAB_DUO_TOKEN: 'glpat-packtest-duo-00000000000' };

const tmp = mkdtempSync(join(tmpdir(), 'gde-npm-pack-'));
const checkout = join(tmp, 'checkout');
const prefix = join(tmp, 'prefix');
const work = join(tmp, 'work');
const env = npmEnv(join(tmp, 'npm-cache'), join(tmp, 'no-npmrc'));
let report: PackReport;
let tarball = '';
let demo: ChildProcess | undefined;

/** The environment the installed command runs in: node on PATH, a home and TMPDIR of its own. */
function exporterEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { PATH: `${dirname(process.execPath)}:/usr/bin:/bin`, HOME: work, TMPDIR: work, ...extra };
}

const installed = (): string => join(prefix, 'lib', 'node_modules', pkg.name);
const command = (): string => join(prefix, 'bin', pkg.name);
const exporter = (args: readonly string[], extra: Record<string, string> = {}) => run(command(), args, { cwd: work, env: exporterEnv(extra), timeoutMs: 30_000 });

beforeAll(() => {
  mkdirSync(work);
  cpSync(ROOT, checkout, { recursive: true, filter: (src) => !NOT_COPIED.has(relative(ROOT, src).split(/[\\/]/)[0]!) });
  // A real copy: npm bundles only what it finds in the package's own node_modules, not via a link.
  const copy = run('cp', ['-a', join(ROOT, 'node_modules'), join(checkout, 'node_modules')], { cwd: tmp, env: cleanEnv({}), timeoutMs: 60_000 });
  if (copy.status !== 0) throw new Error(`copying node_modules failed: ${copy.stderr}`);
  for (const name of DECOYS) writeFileSync(join(checkout, name), 'decoy, never to be packed\n', { mode: 0o600 });

  const out = join(tmp, 'out');
  mkdirSync(out);
  const pack = run('npm', ['pack', '--json', '--pack-destination', out], { cwd: checkout, env, timeoutMs: 120_000 });
  if (pack.status !== 0) throw new Error(`npm pack failed (${pack.status}):\n${pack.stdout}\n${pack.stderr}`);
  report = packReport(pack.stdout);
  tarball = join(out, report.filename);
  console.log(`npm pack: ${report.filename}, ${report.size} bytes, ${report.unpackedSize} bytes unpacked, ${report.entryCount} files, ${report.bundled.length} bundled packages`);
  // Nothing of the checkout is left for the installed package to lean on.
  rmSync(checkout, { recursive: true, force: true });

  const install = run('npm', ['install', '-g', '--prefix', prefix, tarball], { cwd: work, env, timeoutMs: 120_000 });
  if (install.status !== 0) throw new Error(`npm install -g failed (${install.status}):\n${install.stdout}\n${install.stderr}`);
}, 300_000);

afterAll(() => {
  demo?.kill('SIGKILL');
  rmSync(tmp, { recursive: true, force: true });
});

describe('npm pack', () => {
  const paths = (): string[] => report.files.map((f) => f.path);
  const ownPaths = (): string[] => paths().filter((p) => !p.startsWith('node_modules/'));

  it('names the tarball after the package and stays within its size budget', () => {
    expect(report.filename).toBe(`${pkg.name}-${pkg.version}.tgz`);
    expect(report.size).toBeLessThan(MAX_PACKED);
    expect(report.unpackedSize).toBeLessThan(MAX_UNPACKED);
  });

  it('holds the built dist/, the files read at run time and the deployment files, nothing else', () => {
    expect([...new Set(paths().map((p) => p.split('/')[0]))].sort()).toEqual(TOP_LEVEL);
    for (const file of ['bin/gitlab-duo-exporter.js', 'dist/main.js', 'data/cloudflare-ranges.txt', 'proto/health.proto', 'systemd/gitlab-duo-exporter.service', 'alerts/gitlab-duo.rules.yml', 'dashboards/gitlab-duo-overview.json']) {
      expect(paths(), file).toContain(file);
    }
    // The build output of every source module, and of nothing else (no tests, no stale output).
    const modules = ownPaths().filter((p) => p.startsWith('dist/') && p.endsWith('.js')).map((p) => p.slice('dist/'.length, -'.js'.length));
    expect(modules.filter((m) => !existsSync(join(ROOT, 'src', `${m}.ts`)))).toEqual([]);
    expect(modules.length).toBeGreaterThan(50);
  });

  it('holds no sources, tests, CI files, scripts, docs or secrets', () => {
    for (const dir of ['src/', 'test/', '.ci/', 'scripts/', 'docs/', 'deploy/', 'alerts/tests/', 'dashboards/provisioning/', '.git/']) {
      expect(paths().filter((p) => p.startsWith(dir)), dir).toEqual([]);
    }
    expect(ownPaths().filter((p) => SECRET_NAME.test(p))).toEqual([]);
    expect(paths().filter((p) => p.endsWith('/.npmrc') || p === '.npmrc')).toEqual([]);
  });

  it('bundles the production dependencies at the versions of package-lock.json, and no development one', () => {
    const bundled = new Set(report.files.filter((f) => f.path.startsWith('node_modules/')).map((f) => f.path.split('/').slice(0, f.path.startsWith('node_modules/@') ? 3 : 2).join('/')));
    // @types/node is also a production dependency (protobufjs's), so it is bundled.
    for (const dev of Object.keys(pkg.devDependencies).filter((d) => !d.startsWith('@types/'))) expect(bundled.has(`node_modules/${dev}`), dev).toBe(false);
    const topLevel = [...productionTree(join(ROOT, 'package-lock.json')).keys()].filter((p) => p.lastIndexOf('node_modules/') === 0);
    expect([...bundled].sort()).toEqual(topLevel.sort());
  });
});

describe('npm install -g <tarball>, with no registry and an empty cache', () => {
  it('installs the production tree of package-lock.json exactly, with no TypeScript and no build', () => {
    expect(treeLines(installedPackages(installed()))).toEqual(treeLines(productionTree(join(ROOT, 'package-lock.json'))));
    expect(existsSync(join(installed(), 'src'))).toBe(false);
    expect(existsSync(join(installed(), 'node_modules', 'typescript'))).toBe(false);
  });

  it('puts a working gitlab-duo-exporter on the PATH: --version and --help', () => {
    const version = exporter(['--version']);
    expect(version.status, version.stderr).toBe(0);
    expect(version.stdout).toContain(pkg.version);
    const help = exporter(['--help']);
    expect(help.status, help.stderr).toBe(0);
    for (const word of ['demo', 'check', 'simulator', '--config.file', '--config.check', '--web.listen-address']) expect(help.stdout).toContain(word);
  });

  it('--config.check accepts the shipped config.example.yaml and refuses a broken one, naming no token', () => {
    const example = join(installed(), 'config.example.yaml');
    const ok = exporter(['--config.check', `--config.file=${example}`], FAKE_TOKENS);
    expect(ok.status, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/^config OK /m);
    const broken = join(work, 'broken.yaml');
    writeFileSync(broken, `${readFileSync(example, 'utf8')}\nno_such_key: 1\n`);
    const refused = exporter(['--config.check', `--config.file=${broken}`], FAKE_TOKENS);
    expect(refused.status).toBe(2);
    expect(refused.stderr).toContain('no_such_key');
    for (const token of Object.values(FAKE_TOKENS)) expect(`${ok.stdout}${ok.stderr}${refused.stdout}${refused.stderr}`).not.toContain(token);
  });

  it('`demo` serves /metrics with every probe passing, and stops cleanly on SIGINT', async () => {
    let output = '';
    demo = spawn(command(), ['demo', '--web.listen-address=127.0.0.1:0', '--log.level=warn'], { cwd: work, env: exporterEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    demo.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    demo.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    const exited = new Promise<number | null>((resolve) => demo?.once('exit', (code) => resolve(code)));

    const metricsUrl = await waitFor(() => /metrics\s+(http:\/\/127\.0\.0\.1:\d+\/metrics)/.exec(output)?.[1], 'the banner', () => output);
    const results = await waitFor(async () => {
      const text = await (await fetch(metricsUrl, { signal: AbortSignal.timeout(5_000) })).text();
      const enabled = samples(text, 'gitlab_duo_probe_enabled').filter(([, v]) => v === '1').map(([probe]) => probe);
      const success = new Map(samples(text, 'gitlab_duo_probe_success'));
      return enabled.length > 0 && enabled.every((p) => success.has(p)) ? success : undefined;
    }, 'every enabled probe to run once', () => output);
    expect([...results].filter(([, v]) => v !== '1')).toEqual([]);
    expect(results.get('duo_workflow_service')).toBe('1');

    demo.kill('SIGINT');
    expect(await exited, output).toBe(0);
    demo = undefined;
  }, 60_000);
});

describe('the tarball unpacked with tar alone (no npm on the target)', () => {
  it('runs from wherever it is unpacked', () => {
    const dir = join(tmp, 'opt');
    mkdirSync(dir);
    const untar = run('tar', ['-xzf', tarball, '-C', dir, '--strip-components=1'], { cwd: tmp, env: cleanEnv({}), timeoutMs: 60_000 });
    expect(untar.status, untar.stderr).toBe(0);
    expect(readdirSync(dir).sort()).toEqual(TOP_LEVEL);
    const version = run(process.execPath, [join(dir, 'bin', 'gitlab-duo-exporter.js'), '--version'], { cwd: work, env: exporterEnv(), timeoutMs: 30_000 });
    expect(version.status, version.stderr).toBe(0);
    expect(version.stdout).toContain(pkg.version);
  });
});

/** [probe, value] of every sample of a gitlab="simulator" family in a text exposition. */
function samples(text: string, family: string): [string, string][] {
  const line = new RegExp(`^${family}\\{([^}]*)\\} (\\S+)$`, 'gm');
  return [...text.matchAll(line)].flatMap((m) => {
    const probe = /(?:^|,)probe="([^"]+)"/.exec(m[1]!)?.[1];
    return probe && /(?:^|,)gitlab="simulator"/.test(m[1]!) ? [[probe, m[2]!] as [string, string]] : [];
  });
}

/** Polls until get() gives a value; every wait has a deadline, and the failure shows the output. */
async function waitFor<T>(get: () => T | undefined | Promise<T | undefined>, what: string, output: () => string, limitMs = 40_000): Promise<T> {
  const until = Date.now() + limitMs;
  for (;;) {
    const value = await Promise.resolve(get()).catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > until || (demo !== undefined && demo.exitCode !== null)) throw new Error(`gave up waiting for ${what}:\n${output()}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
