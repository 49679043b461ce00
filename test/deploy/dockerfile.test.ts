/**
 * SLOW TEST (about 30-90 s, once): replays the Dockerfile's build outside Docker.
 *
 * No Docker engine runs where the tests run, so this test reads the Dockerfile and does what
 * Docker would: it copies the build stage's COPY sources from the repository (honouring
 * .dockerignore) into a temporary directory standing for the build stage's WORKDIR, runs the build
 * stage's RUN lines there verbatim (`npm ci`, which compiles dist/ through `prepare`, then
 * `npm prune --omit=dev`; npm is told to prefer its local cache through npm_config_prefer_offline,
 * so the command lines stay exactly the Dockerfile's), then copies what the final stage copies
 * into a second directory and runs the image's ENTRYPOINT from there: `--version`, and the server,
 * probed with the HEALTHCHECK's own command. As root (how `npm test` runs on Debian), the image's
 * commands run as nobody inside a mount namespace whose root filesystem is read-only, like
 * `docker run --read-only`; without root or mount namespaces, with the files made unwritable.
 *
 * What it cannot prove: the base image itself (node:20-bookworm-slim), the final stage's RUN that
 * deletes npm and yarn from it, and Docker's own semantics beyond what is replayed here.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, posix, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../assets/helpers.js';
import { DockerIgnore, execForm, parseCopy, parseEnv, parseHealthcheck, parseStages, splitFlags, type Stage } from './dockerfile-parse.js';

const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
const dockerignore = new DockerIgnore(readFileSync(join(ROOT, '.dockerignore'), 'utf8'));
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  version: string;
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};
const stages = parseStages(dockerfile);
const buildStage = stages[0]!;
const finalStage = stages.at(-1)!;

function only(stage: Stage, keyword: string): string[] {
  return stage.instructions.filter((i) => i.keyword === keyword).map((i) => i.args);
}

function workdir(stage: Stage): string {
  const dirs = only(stage, 'WORKDIR');
  if (dirs.length !== 1 || !posix.isAbsolute(dirs[0]!)) throw new Error('each stage needs exactly one absolute WORKDIR');
  return dirs[0]!;
}

/** The RUN command lines of a stage, without RUN's own flags (--mount=...). */
function runLines(stage: Stage): string[] {
  return only(stage, 'RUN').map((args) => splitFlags(args).rest);
}

/**
 * The `--build-arg` values of the replayed `docker build`: what a release build passes (the
 * context has no .git, so the revision comes in this way; docs/deployment.md#the-revision).
 */
const BUILD_ARGS: Readonly<Record<string, string>> = { GITLAB_DUO_EXPORTER_REVISION: 'feedc0de' };

/** What Docker puts in the RUN environment for the stage's ARGs: the given value, else the default. */
function stageArgs(stage: Stage): Record<string, string> {
  const env: Record<string, string> = {};
  for (const arg of only(stage, 'ARG')) {
    const [name = '', fallback] = arg.trim().split(/=(.*)/s);
    const value = BUILD_ARGS[name] ?? fallback;
    if (value !== undefined) env[name] = value;
  }
  return env;
}

/** Stage ENV, applied over the given environment. */
function stageEnv(stage: Stage): Record<string, string> {
  return Object.assign({}, ...stage.instructions.filter((i) => i.keyword === 'ENV').map(parseEnv)) as Record<string, string>;
}

/** The environment of a RUN: the host's, minus anything npm or vitest injected. */
function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^npm_/i.test(k) || k === 'NODE_ENV' || k === 'NODE_OPTIONS' || k.startsWith('VITEST')) continue;
    env[k] = v;
  }
  return { ...env, ...extra };
}

/** Copies a context path into dest, leaving out what .dockerignore excludes. */
function copyFromContext(source: string, dest: string): void {
  const abs = join(ROOT, source);
  cpSync(abs, dest, {
    recursive: true,
    filter: (src) => {
      const rel = relative(ROOT, src).split('\\').join('/');
      return rel === '' || !dockerignore.excludes(rel);
    },
  });
}

/** Where COPY puts a source: `./` or a path ending in / means "into", otherwise "as". */
function destination(root: string, stageWorkdir: string, dest: string, source: string): string {
  const inStage = posix.isAbsolute(dest) ? dest : posix.join(stageWorkdir, dest);
  const rel = posix.relative(stageWorkdir, inStage);
  if (rel.startsWith('..')) throw new Error(`COPY to ${dest}: outside WORKDIR, not replayed`);
  const into = dest.endsWith('/') || dest === '.';
  return into ? join(root, rel, posix.basename(source)) : join(root, rel);
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('Dockerfile', () => {
  it('has a build stage and a final stage on the same Node 20 base', () => {
    expect(stages).toHaveLength(2);
    expect(buildStage.name).toBe('build');
    expect(buildStage.base).toMatch(/^node:20[.-]/);
    expect(finalStage.base).toBe(buildStage.base);
  });

  it('final stage: non-root USER, EXPOSE 10420, a HEALTHCHECK on /-/healthy, exec-form ENTRYPOINT', () => {
    const users = only(finalStage, 'USER');
    expect(users).toHaveLength(1);
    const [user, group] = users[0]!.split(':');
    // Numeric, so that Kubernetes' runAsNonRoot can check it without reading /etc/passwd.
    expect(user).toMatch(/^[1-9]\d*$/);
    expect(group ?? '1').toMatch(/^[1-9]\d*$/);
    expect(only(finalStage, 'EXPOSE').join(' ').split(/\s+/)).toContain('10420');
    const checks = finalStage.instructions.filter((i) => i.keyword === 'HEALTHCHECK');
    expect(checks).toHaveLength(1);
    const hc = parseHealthcheck(checks[0]!);
    expect(hc.command.join(' ')).toContain("'http://127.0.0.1:10420/-/healthy'");
    expect(hc.options.interval).toBeDefined();
    expect(hc.options.timeout).toBeDefined();
    const entrypoint = execForm(only(finalStage, 'ENTRYPOINT')[0] ?? '');
    expect(entrypoint).toEqual(['node', 'bin/gitlab-duo-exporter.js']);
    // No CMD: ENTRYPOINT clears the base image's, so `docker run IMAGE` serves in env-only mode.
    expect(only(finalStage, 'CMD')).toEqual([]);
    expect(stageEnv(finalStage).NODE_ENV).toBe('production');
  });

  it('the build runs the commands the README gives, and docs/deployment.md repeats them', () => {
    const runs = runLines(buildStage);
    expect(runs[0]).toMatch(/^npm ci\b/);
    expect(runs.at(-1)).toMatch(/^npm prune --omit=dev\b/);
    expect(readFileSync(join(ROOT, 'README.md'), 'utf8')).toContain('npm ci');
    const deployment = readFileSync(join(ROOT, 'docs/deployment.md'), 'utf8');
    for (const run of runs) expect(deployment).toContain(run);
  });

  it('the final stage copies only from the build stage and its RUN never touches WORKDIR', () => {
    const copies = finalStage.instructions.filter((i) => i.keyword === 'COPY').map(parseCopy);
    expect(copies.length).toBeGreaterThan(0);
    for (const c of copies) expect(c.from).toBe('build');
    const wd = workdir(finalStage);
    for (const run of runLines(finalStage).map((r) => r.replace(/\s+/g, ' '))) {
      // Only deletions of the base image's package managers, outside the application.
      expect(run).toMatch(/^rm -rf( \/\S+)+$/);
      for (const path of run.split(' ').slice(2)) expect(path.startsWith(wd)).toBe(false);
    }
  });

  it('.dockerignore keeps host builds and secrets out, but none of the COPY sources', () => {
    for (const excluded of ['node_modules', 'dist', '.git', '.env', 'test', 'config.yaml', 'deploy/kubernetes/secret.example.yaml']) {
      expect(dockerignore.excludes(excluded), excluded).toBe(true);
    }
    const sources = buildStage.instructions.filter((i) => i.keyword === 'COPY').flatMap((i) => parseCopy(i).sources);
    for (const source of sources) {
      expect(existsSync(join(ROOT, source)), source).toBe(true);
      expect(dockerignore.excludes(source), source).toBe(false);
    }
  });
});

// The image, replayed: build stage → final stage → run.
describe('the image contents, built from the Dockerfile outside Docker (slow: npm ci)', () => {
  let buildDir = '';
  let imageDir = '';
  let server: ChildProcess | undefined;
  const asRoot = process.getuid?.() === 0;
  // The unprivileged user the image's processes run as when the test runs as root (nobody).
  const runAs = asRoot ? { uid: 65534, gid: 65534 } : {};
  // As root, where the kernel allows mount namespaces, the image's commands run in one whose root
  // filesystem is remounted read-only (the host's stays writable), as nobody: a real
  // `docker run --read-only`. Otherwise as nobody (as root) or as the test's user, with the image
  // files unwritable and no home or temporary directory, which proves less.
  const READ_ONLY_ROOT = ['unshare', '-m', '--propagation', 'private', 'sh', '-c', 'mount -o remount,bind,ro / && exec setpriv --reuid=65534 --regid=65534 --clear-groups -- "$@"', 'sh'];
  const readOnlyRoot = asRoot && spawnSync(READ_ONLY_ROOT[0]!, [...READ_ONLY_ROOT.slice(1), 'true'], { timeout: 10_000 }).status === 0;
  const mode = readOnlyRoot ? 'read-only root filesystem, as nobody' : asRoot ? 'as nobody' : 'as the test user, files made read-only';
  /** argv and spawn options that run an image command the way `mode` says. */
  function inImage(argv: readonly string[]): { argv: string[]; options: { uid?: number; gid?: number } } {
    if (readOnlyRoot) return { argv: [...READ_ONLY_ROOT, ...argv], options: {} };
    return { argv: [...argv], options: runAs };
  }

  beforeAll(() => {
    buildDir = mkdtempSync(join(tmpdir(), 'gde-docker-build-'));
    imageDir = mkdtempSync(join(tmpdir(), 'gde-docker-image-'));

    // Build stage: COPY from the context, then each RUN in order, in WORKDIR.
    const buildWd = workdir(buildStage);
    const buildEnv = cleanEnv({ ...stageArgs(buildStage), ...stageEnv(buildStage), npm_config_prefer_offline: 'true', npm_config_update_notifier: 'false' });
    for (const ins of buildStage.instructions) {
      if (ins.keyword === 'COPY') {
        const copy = parseCopy(ins);
        if (copy.from) throw new Error(`build stage line ${ins.line}: COPY --from is not replayed`);
        for (const source of copy.sources) copyFromContext(source, destination(buildDir, buildWd, copy.dest, source));
      } else if (ins.keyword === 'RUN') {
        const command = splitFlags(ins.args).rest;
        const argv = execForm(command) ?? ['/bin/sh', '-c', command];
        const run = spawnSync(argv[0]!, argv.slice(1), { cwd: buildDir, env: buildEnv, encoding: 'utf8', timeout: 150_000 });
        if (run.status !== 0) throw new Error(`RUN ${command} failed (${run.status ?? run.signal}):\n${run.stdout}\n${run.stderr}`);
      } else if (!['WORKDIR', 'ENV', 'ARG', 'LABEL'].includes(ins.keyword)) {
        throw new Error(`build stage line ${ins.line}: ${ins.keyword} is not replayed by this test`);
      }
    }

    // Final stage: what it copies from the build stage's WORKDIR, owned by root like in the image.
    const finalWd = workdir(finalStage);
    for (const copy of finalStage.instructions.filter((i) => i.keyword === 'COPY').map(parseCopy)) {
      for (const source of copy.sources) {
        const rel = posix.relative(buildWd, source);
        if (rel.startsWith('..') || !posix.isAbsolute(source)) throw new Error(`COPY --from=build ${source}: not under ${buildWd}`);
        cpSync(join(buildDir, rel), destination(imageDir, finalWd, copy.dest, source), { recursive: true });
      }
    }
    chmodSync(imageDir, 0o755);
    // In the image the files belong to root and the process is not root. Running as the test's
    // own (non-root) user, the same effect needs the write bits removed.
    if (!asRoot) spawnSync('chmod', ['-R', 'a-w', imageDir]);
  }, 240_000);

  afterAll(() => {
    server?.kill('SIGKILL');
    if (!asRoot && imageDir) spawnSync('chmod', ['-R', 'u+w', imageDir]);
    for (const dir of [buildDir, imageDir]) if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** The environment the image's processes get: PATH for `node`, the stage's ENV, no home, no tmp. */
  function imageEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
    return { PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin', HOME: '/nonexistent', TMPDIR: '/nonexistent', ...stageEnv(finalStage), ...extra };
  }

  const entrypoint = (): string[] => execForm(only(finalStage, 'ENTRYPOINT')[0] ?? '') ?? [];
  const healthcheck = (): readonly string[] => parseHealthcheck(finalStage.instructions.find((i) => i.keyword === 'HEALTHCHECK')!).command;

  it('holds the compiled code and production dependencies only', () => {
    expect(readdirSync(imageDir).sort()).toEqual(['bin', 'data', 'dist', 'node_modules', 'package.json', 'proto']);
    expect(existsSync(join(imageDir, 'dist/main.js'))).toBe(true);
    expect(existsSync(join(imageDir, 'src'))).toBe(false);
    for (const dep of Object.keys(pkg.dependencies)) expect(existsSync(join(imageDir, 'node_modules', dep)), dep).toBe(true);
    for (const dev of Object.keys(pkg.devDependencies).filter((d) => !d.startsWith('@types/'))) {
      expect(existsSync(join(imageDir, 'node_modules', dev)), `devDependency ${dev} in the image`).toBe(false);
    }
    // Every package the lockfile marks as needed only for development (typescript, vitest, eslint
    // and what they pull in; @types/node stays, protobufjs depends on it) is gone.
    const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean }> };
    const devOnly = Object.entries(lock.packages).filter(([path, p]) => path !== '' && p.dev === true).map(([path]) => path);
    expect(devOnly.length).toBeGreaterThan(50);
    expect(devOnly.filter((path) => existsSync(join(imageDir, path)))).toEqual([]);
    // npm agrees: the production tree is complete and consistent.
    const ls = spawnSync('npm', ['ls', '--omit=dev', '--all'], { cwd: imageDir, env: cleanEnv({ npm_config_prefer_offline: 'true' }), encoding: 'utf8', timeout: 60_000 });
    expect(ls.status, ls.stderr).toBe(0);
  });

  it('nothing in it is writable by others (the server runs as a user that owns none of it)', () => {
    const writable: string[] = [];
    const walk = (dir: string): void => {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        const path = join(dir, entry.name);
        if (entry.isSymbolicLink()) continue;
        if ((statSync(path).mode & 0o002) !== 0) writable.push(relative(imageDir, path));
        if (entry.isDirectory()) walk(path);
      }
    };
    walk(imageDir);
    expect(writable).toEqual([]);
  });

  it(`nothing can be written where the image's commands run (${mode})`, () => {
    const { argv, options } = inImage(['sh', '-c', `touch ${imageDir}/probe-write 2>&1; touch ${tmpdir()}/gde-probe-write 2>&1; true`]);
    const run = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', timeout: 10_000, ...options });
    expect(existsSync(join(imageDir, 'probe-write'))).toBe(false);
    // In the read-only namespace not even the shared temporary directory is writable.
    if (readOnlyRoot) expect(run.stdout.match(/Read-only file system/g)).toHaveLength(2);
    else rmSync(join(tmpdir(), 'gde-probe-write'), { force: true });
  });

  it(`runs \`--version\` from the image (${mode})`, () => {
    const { argv, options } = inImage([...entrypoint(), '--version']);
    const run = spawnSync(argv[0]!, argv.slice(1), { cwd: imageDir, env: imageEnv(), encoding: 'utf8', timeout: 30_000, ...options });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    // The revision came in as a build argument, through npm ci → prepare → scripts/revision.mjs.
    expect(run.stdout.split('\n')[0]).toBe(`gitlab-duo-exporter, version ${pkg.version} (revision: ${BUILD_ARGS.GITLAB_DUO_EXPORTER_REVISION})`);
  });

  it(`serves, and the HEALTHCHECK command passes against it, and fails without it (${mode})`, async () => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}/-/healthy`;
    const [hcCmd, ...hcArgs] = healthcheck();
    const check = (): number | null =>
      spawnSync(hcCmd!, hcArgs, { env: imageEnv({ GITLAB_DUO_EXPORTER_HEALTHCHECK_URL: url }), timeout: 10_000, ...runAs }).status;

    expect(check()).toBe(1);

    // unshare, sh and setpriv each exec the next, so the child is the exporter itself in the end.
    const { argv, options } = inImage([...entrypoint(), `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn']);
    let output = '';
    server = spawn(argv[0]!, argv.slice(1), { cwd: imageDir, env: imageEnv(), stdio: ['ignore', 'pipe', 'pipe'], ...options });
    server.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    server.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    const exited = new Promise<number | null>((resolve) => server?.once('exit', (code) => resolve(code)));

    let status: number | null = 1;
    for (let i = 0; i < 40 && status !== 0 && server.exitCode === null; i++) {
      await new Promise((r) => setTimeout(r, 250));
      status = check();
    }
    expect(status, output).toBe(0);

    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(metrics).toContain('gitlab_duo_probe_enabled');

    server.kill('SIGTERM');
    expect(await exited, output).toBe(0);
    server = undefined;
    expect(check()).toBe(1);
  }, 60_000);
});
