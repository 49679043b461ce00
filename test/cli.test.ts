import { spawn, spawnSync } from 'node:child_process';
import { createServer, type Socket } from 'node:net';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readRevision } from '../src/core/version.js';
import { closedPort } from './helpers/ports.js';

// The compiled launcher, exactly what `npx gitlab-duo-exporter` runs (the test command builds first).
const BIN = new URL('../bin/gitlab-duo-exporter.js', import.meta.url).pathname;
const CLEAN_ENV = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: tmpdir() };

function cli(args: string[], env: Record<string, string> = {}) {
  const run = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...CLEAN_ENV, ...env }, timeout: 30_000 });
  return { code: run.status, stdout: run.stdout, stderr: run.stderr };
}

function writeTemp(name: string, text: string): string {
  const path = join(mkdtempSync(join(tmpdir(), 'gde-cli-')), name);
  writeFileSync(path, text);
  return path;
}

async function localConfig(): Promise<string> {
  const port = await closedPort();
  return writeTemp(
    'config.yaml',
    `instances:\n  - name: lab\n    endpoints:\n      customers_portal: https://127.0.0.1:${port}\n      cloud_connector: https://127.0.0.1:${port}\n      duo_workflow_service: 127.0.0.1:${port}\n`,
  );
}

describe('command line', () => {
  it('--help and --version exit 0', () => {
    expect(cli(['--help'])).toMatchObject({ code: 0, stdout: expect.stringContaining('check [options]') });
    expect(cli(['--version']).code).toBe(0);
  });

  it('--version prints the version, the revision the build recorded and the Node.js version', () => {
    const revision = readRevision(new URL('../dist/revision.json', import.meta.url));
    const version = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
    expect(cli(['--version']).stdout.split('\n')).toEqual([`gitlab-duo-exporter, version ${version} (revision: ${revision})`, `  node version:     ${process.version}`, `  platform:         ${process.platform}/${process.arch}`, '']);
  });

  it.each([
    [['chek'], "error: unknown command 'chek'\n(Did you mean check?)"],
    [['dmeo'], "error: unknown command 'dmeo'\n(Did you mean demo?)"],
    [['simulater'], "error: unknown command 'simulater'\n(Did you mean simulator?)"],
    [['--confg.file=x.yaml'], "error: unknown option '--confg.file'\n(Did you mean --config.file?)"],
    [['--web.listen-adress', ':1'], "error: unknown option '--web.listen-adress'\n(Did you mean --web.listen-address?)"],
    [['check', '--formt=json'], "error: unknown option '--formt'\n(Did you mean --format?)"],
    [['check', '--formt', 'json'], "error: unknown option '--formt'\n(Did you mean --format?)"],
    [['check', '--log.levl', 'debug'], "error: unknown option '--log.levl'\n(Did you mean --log.level?)"],
    [['demo', '--scenaro', 'healthy'], "error: unknown option '--scenaro'\n(Did you mean --scenario?)"],
  ])('a mistyped command or flag is a usage error naming the right one: %j', (args, message) => {
    expect(cli(args)).toMatchObject({ code: 2, stdout: '', stderr: `${message}\n` });
  });

  it('a word that is like no command is still refused, and so are extra arguments to a command', () => {
    expect(cli(['xyzzy'])).toMatchObject({ code: 2, stderr: "error: unknown command 'xyzzy'\n" });
    expect(cli(['check', 'extra']).code).toBe(2);
  });

  it.each(['check', 'demo', 'simulator'])('%s --help lists the global options too', (command) => {
    const help = cli([command, '--help']);
    expect(help.code).toBe(0);
    const global = help.stdout.split('Global Options:')[1] ?? '';
    for (const flag of ['--config.file <path>', '--web.listen-address <address>', '--log.level <level>', '--log.format <format>']) expect(global).toContain(flag);
  });

  it('--log.level and --log.format take any case; a wrong value lists the choices', async () => {
    const config = writeTemp('jitter0.yaml', `${readFileSync(await localConfig(), 'utf8')}scheduler:\n  max_start_jitter: 0s\n`);
    const child = spawn(process.execPath, [BIN, `--config.file=${config}`, '--web.listen-address=127.0.0.1:0', '--log.level=DEBUG', '--log.format=Logfmt'], { env: CLEAN_ENV });
    try {
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      const until = Date.now() + 15_000;
      while (!/^time=\S+ level=debug msg="probe run"/m.test(stderr) && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
      expect(stderr).toMatch(/^time=\S+ level=debug msg="probe run" .*probe=customers_portal/m);
    } finally {
      child.kill('SIGKILL');
    }
    const bad = cli(['--config.check', '--log.level=LOUD']);
    expect(bad).toMatchObject({ code: 2, stderr: "error: option '--log.level <level>' argument 'LOUD' is invalid. Allowed choices are debug, info, warn, error.\n" });
  });

  it('a port in use: one plain line, exit 2, before any probe is scheduled or run', async () => {
    // The probes' endpoints: a listener that counts connections, so a probe that ran would show.
    let connections = 0;
    const endpoint = createServer((socket) => {
      connections++;
      socket.destroy();
    });
    const taken = createServer();
    await new Promise<void>((resolve) => endpoint.listen(0, '127.0.0.1', resolve));
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    try {
      const ep = (endpoint.address() as { port: number }).port;
      const port = (taken.address() as { port: number }).port;
      const config = writeTemp(
        'busy.yaml',
        `instances:\n  - name: lab\n    endpoints:\n      customers_portal: https://127.0.0.1:${ep}\n      cloud_connector: https://127.0.0.1:${ep}\n      duo_workflow_service: 127.0.0.1:${ep}\nscheduler:\n  max_start_jitter: 0s\n`,
      );
      // Asynchronous: the port is held by this process, whose event loop must keep serving.
      const child = spawn(process.execPath, [BIN, `--config.file=${config}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=debug'], { env: CLEAN_ENV });
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
      clearTimeout(killer);
      expect(code).toBe(2);
      expect(stderr).toBe(`cannot listen on 127.0.0.1:${port}: address already in use (EADDRINUSE); is another exporter running? use --web.listen-address to pick another address\n`);
      expect(connections).toBe(0);
    } finally {
      endpoint.close();
      taken.close();
    }
  });

  it('--config.check exits 0 for a valid file and 2 listing every problem for a bad one', async () => {
    expect(cli(['--config.check', `--config.file=${await localConfig()}`]).code).toBe(0);
    const bad = writeTemp('bad.yaml', 'instances:\n  - url: ftp://x\n    colour: blue\nlog: { level: loud }\n');
    const run = cli(['--config.check', '--config.file', bad]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('instances[0].url: must be an http:// or https:// URL');
    expect(run.stderr).toContain('instances[0].colour: unknown key');
    expect(run.stderr).toContain('log.level: must be one of');
    expect(run.stderr).not.toMatch(/\n\s+at /); // no stack trace
  });

  it('config.example.yaml passes --config.check with no environment variable set', () => {
    const example = new URL('../config.example.yaml', import.meta.url).pathname;
    const run = cli(['--config.file', example, '--config.check']);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(run.stdout).toContain('config OK');
  });

  it('--config.check suggests the key meant, shows a YAML error\'s line, and warns about http:// without failing', () => {
    const typo = cli(['--config.check', `--config.file=${writeTemp('typo.yaml', 'instances:\n  - url: https://gitlab.example.com\n    admin_tokn_file: /x\n    probes: { license: { timeout: 30 } }\n')}`]);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toContain('  - instances[0].admin_tokn_file: unknown key; did you mean "admin_token_file"?\n');
    expect(typo.stderr).toContain('  - instances[0].probes.license.timeout: 30 is a number; write a duration with a unit, e.g. "30s"\n');
    const yaml = cli(['--config.check', `--config.file=${writeTemp('broken.yaml', 'instances:\n  - url: https://gitlab.example.com\n  url: [\n')}`]);
    expect(yaml.code).toBe(2);
    expect(yaml.stderr).toContain('  - YAML line 3: All mapping items must start at the same column\n    3 |   url: [\n      | ^\n');
    const http = cli(['--config.check', `--config.file=${writeTemp('http.yaml', 'instances:\n  - url: http://gitlab.example.com\n')}`]);
    expect(http.code).toBe(0);
    expect(http.stderr).toMatch(/^warning: instances\[0\]\.url: http:\/\/gitlab\.example\.com\/ is plain HTTP/);
    const page = cli(['--config.check', `--config.file=${writeTemp('page.yaml', 'instances:\n  - url: https://gitlab.example.com/users/sign_in\n')}`]);
    expect(page.code).toBe(2);
    expect(page.stderr).toContain('instances[0].url: https://gitlab.example.com/users/sign_in is a GitLab page');
  });

  it('an unknown flag is a usage error (2)', () => {
    expect(cli(['--no-such-flag']).code).toBe(2);
  });

  it('check prints the report and exits 1 when a required probe fails', async () => {
    const run = cli(['check', `--config.file=${await localConfig()}`, '--format', 'json']);
    expect(run.code).toBe(1);
    const report = JSON.parse(run.stdout) as { ready: boolean; instances: Array<{ probes: Array<{ name: string; status: string; reason?: string }> }> };
    expect(report.ready).toBe(false);
    expect(report.instances[0]!.probes.find((p) => p.name === 'customers_portal')).toMatchObject({ status: 'fail', reason: 'connect' });
  });

  it('check --probe limits the run, and an unknown probe is a usage error', async () => {
    const config = await localConfig();
    const run = cli(['check', `--config.file=${config}`, '--probe', 'cloud_connector']);
    expect(run.code).toBe(1);
    expect(run.stdout).toContain('cloud_connector');
    expect(run.stdout).not.toContain('customers_portal');
    const unknown = cli(['check', `--config.file=${config}`, '--probe', 'licence_probe']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('--probe: unknown probe "licence_probe"');
  });

  it('a bad GITLAB_URL in env-only mode exits 2 naming the variable', () => {
    const run = cli(['check'], { GITLAB_URL: 'not a url' });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('GITLAB_URL: must be an http:// or https:// URL');
  });

  it('serve says it runs the network probes only without a GitLab URL, and exits 0 on SIGTERM', async () => {
    const child = spawn(process.execPath, [BIN, '--web.listen-address=127.0.0.1:0'], { env: CLEAN_ENV });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const until = Date.now() + 15_000;
    while (!stderr.includes('"msg":"listening"') && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    expect(stderr).toContain('running the network probes only');
    child.kill('SIGTERM');
    const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    expect(code).toBe(0);
  });

  it('SIGTERM ends a run still in flight (within the 5 s grace) and exits 0', async () => {
    // A peer that accepts and never answers keeps the probe waiting on its 30 s deadline.
    const held: Socket[] = [];
    const silent = createServer((socket) => held.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as { port: number };
    const config = writeTemp(
      'hang.yaml',
      `instances:\n  - name: lab\n    endpoints:\n      customers_portal: https://127.0.0.1:${port}\n    probes:\n      customers_portal: { interval: 60s, timeout: 30s }\n      cloud_connector: { enabled: false }\n      duo_workflow_service: { enabled: false }\nscheduler:\n  max_start_jitter: 0s\n`,
    );
    const child = spawn(process.execPath, [BIN, `--config.file=${config}`, '--web.listen-address=127.0.0.1:0'], { env: CLEAN_ENV });
    try {
      const until = Date.now() + 15_000;
      while (held.length === 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
      expect(held.length).toBeGreaterThan(0); // the probe is connected and waiting
      const signalledAt = Date.now();
      child.kill('SIGTERM');
      const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
      expect(code).toBe(0);
      // 5 s grace, then the run is aborted; the margin covers a loaded machine.
      expect(Date.now() - signalledAt).toBeLessThan(12_000);
    } finally {
      child.kill('SIGKILL');
      for (const socket of held) socket.destroy();
      silent.close();
    }
  }, 40_000);
});
