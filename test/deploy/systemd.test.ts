/**
 * The systemd unit: `systemd-analyze verify` (syntax, directives, the executable) and
 * `systemd-analyze security --offline=yes` (its exposure score, which docs/deployment.md quotes).
 * Needs systemd-analyze (Debian package `systemd`; scripts/test.sh installs it). It does not need
 * a running systemd: both commands work on the file alone.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT, runTool } from '../assets/helpers.js';

const UNIT_NAME = 'gitlab-duo-exporter.service';
const unitText = readFileSync(join(ROOT, 'systemd', UNIT_NAME), 'utf8');
const envExample = readFileSync(join(ROOT, 'systemd/gitlab-duo-exporter.env.example'), 'utf8');
const deploymentDoc = readFileSync(join(ROOT, 'docs/deployment.md'), 'utf8');

/** Directive → values, in order, from the [Service] section. */
function section(text: string, name: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let current = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      current = header[1] ?? '';
      continue;
    }
    if (current !== name) continue;
    const eq = line.indexOf('=');
    const key = line.slice(0, eq);
    out.set(key, [...(out.get(key) ?? []), line.slice(eq + 1)]);
  }
  return out;
}

const service = section(unitText, 'Service');
const one = (key: string): string | undefined => service.get(key)?.at(-1);

const tmp = mkdtempSync(join(tmpdir(), 'gde-systemd-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * The unit as `verify` should see it. verify checks that ExecStart='s program exists and is
 * executable. The unit names /usr/bin/node (NodeSource's location); where node lives elsewhere on
 * the machine running the tests, a temporary copy points ExecStart= at this test's own node
 * instead, so verify judges the unit and not the test machine's layout. The script path after it
 * (/opt/gitlab-duo-exporter/...) is an argument, which verify does not check.
 */
function unitForVerify(text: string, dir: string): string {
  const path = join(dir, UNIT_NAME);
  const execStart = /^ExecStart=(\S+)/m.exec(text)?.[1] ?? '';
  const adjusted = executable(execStart) ? text : text.replace(/^ExecStart=\S+/m, `ExecStart=${process.execPath}`);
  writeFileSync(path, adjusted);
  return path;
}

function verify(path: string): string {
  const run = runTool('systemd-analyze', ['verify', '--man=no', path], 'systemd');
  // Any finding about the unit is printed, and not every finding sets the exit status.
  return `${run.status === 0 ? '' : `exit ${run.status}\n`}${run.stdout}${run.stderr}`.trim();
}

describe('systemd/gitlab-duo-exporter.service', () => {
  it('passes systemd-analyze verify', () => {
    const dir = mkdtempSync(join(tmp, 'verify-'));
    expect(verify(unitForVerify(unitText, dir))).toBe('');
  });

  it('still passes with one token removed, as docs/deployment.md tells', () => {
    const dir = mkdtempSync(join(tmp, 'one-token-'));
    const withoutDuo = unitText
      .split('\n')
      .filter((l) => !/^(LoadCredential=gitlab-duo-token:|Environment=GITLAB_DUO_TOKEN_FILE=)/.test(l))
      .join('\n');
    expect(withoutDuo).not.toBe(unitText);
    expect(verify(unitForVerify(withoutDuo, dir))).toBe('');
  });

  it('is hardened as the deployment guide says', () => {
    expect(one('DynamicUser') === 'yes' || (one('User') ?? 'root') !== 'root').toBe(true);
    expect(one('ProtectSystem')).toBe('strict');
    expect(one('NoNewPrivileges')).toBe('yes');
    expect(one('PrivateTmp')).toBe('yes');
    expect(one('ProtectHome')).toBe('yes');
    expect(service.get('CapabilityBoundingSet')).toEqual(['']);
    expect(one('AmbientCapabilities')).toBe('');
    expect(one('RestrictAddressFamilies')?.split(/\s+/).sort()).toEqual(['AF_INET', 'AF_INET6', 'AF_UNIX']);
    expect(service.get('SystemCallFilter')?.[0]).toMatch(/^@system-service\b/);
    // A system call outside the list must not kill node with SIGSYS.
    expect(one('SystemCallErrorNumber')).toBe('EPERM');
    expect(one('ExecReload')).toBe('/bin/kill -HUP $MAINPID');
    expect(one('Restart')).toBe('on-failure');
  });

  it('takes each token through LoadCredential= and points the matching *_FILE variable at it', () => {
    const credentials = new Map((service.get('LoadCredential') ?? []).map((v) => v.split(':') as [string, string]));
    expect([...credentials.keys()].sort()).toEqual(['gitlab-admin-token', 'gitlab-duo-token']);
    for (const path of credentials.values()) expect(path).toMatch(/^\/etc\/gitlab-duo-exporter\//);
    const env = service.get('Environment') ?? [];
    expect(env).toContain('GITLAB_ADMIN_TOKEN_FILE=%d/gitlab-admin-token');
    expect(env).toContain('GITLAB_DUO_TOKEN_FILE=%d/gitlab-duo-token');
    // Never a token in the unit or in the environment file.
    expect(unitText).not.toMatch(/GITLAB_(ADMIN|DUO)_TOKEN=/);
    expect(envExample).not.toMatch(/^\s*GITLAB_(ADMIN|DUO)_TOKEN(_FILE)?=/m);
  });

  it('reads the environment file the example documents, and passes its flags', () => {
    expect(one('EnvironmentFile')).toBe('-/etc/default/gitlab-duo-exporter');
    expect(one('ExecStart')).toMatch(/ \$GITLAB_DUO_EXPORTER_ARGS$/);
    const vars = envExample
      .split('\n')
      .filter((l) => /^[A-Za-z_][A-Za-z0-9_]*=/.test(l))
      .map((l) => l.slice(0, l.indexOf('=')));
    expect(vars).toContain('GITLAB_DUO_EXPORTER_ARGS');
    expect(vars).toContain('GITLAB_URL');
    // Every line is a comment, blank, or VAR=value (systemd's EnvironmentFile= syntax).
    for (const line of envExample.split('\n')) expect(line).toMatch(/^(#.*|\s*|[A-Za-z_][A-Za-z0-9_]*=.*)$/);
  });

  it('has the exposure score and findings docs/deployment.md quotes (systemd-analyze security --offline=yes)', () => {
    const dir = mkdtempSync(join(tmp, 'security-'));
    const run = runTool('systemd-analyze', ['security', '--offline=yes', '--no-pager', unitForVerify(unitText, dir)], 'systemd');
    expect(run.status, run.stderr).toBe(0);
    const score = Number(/Overall exposure level for \S+: ([\d.]+)/.exec(run.stdout)?.[1]);
    const documented = Number(/\*\*Overall exposure level: ([\d.]+)/.exec(deploymentDoc)?.[1]);
    expect(Number.isFinite(score)).toBe(true);
    // Never worse than documented; on the systemd the page describes (252), exactly it.
    expect(score).toBeLessThanOrEqual(documented);
    const version = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' }).stdout;
    if (/^systemd 252\b/.test(version)) {
      expect(score).toBe(documented);
      const failing = [...run.stdout.matchAll(/^✗ (\S+)/gm)].map((m) => m[1]!).sort();
      const table = [...deploymentDoc.matchAll(/^\| `([^`]+)` \| [\d.]+ \|/gm)].map((m) => m[1]!.replace(/\\\|/g, '|')).sort();
      expect(table).toEqual(failing);
      expect(deploymentDoc).toContain(`${run.stdout.match(/^✓/gm)?.length ?? 0} checks pass`);
    }
  });
});
