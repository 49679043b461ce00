import { spawn, spawnSync } from 'node:child_process';
import { createServer, type Socket } from 'node:net';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
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
    expect(cli(['--version']).stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('--config.check exits 0 for a valid file and 2 listing every problem for a bad one', async () => {
    expect(cli(['--config.check', `--config.file=${await localConfig()}`]).code).toBe(0);
    const bad = writeTemp('bad.yaml', 'instances:\n  - url: ftp://x\n    colour: blue\nlog: { level: loud }\n');
    const run = cli(['--config.check', '--config.file', bad]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('instances[0].url: must be an http:// or https:// URL');
    expect(run.stderr).toContain('instances[0]: unknown key "colour"');
    expect(run.stderr).toContain('log.level: must be one of');
    expect(run.stderr).not.toMatch(/\n\s+at /); // no stack trace
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
