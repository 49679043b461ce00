import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, it, expect } from 'vitest';
import { readYaml, runTool } from './helpers.js';

const CONFIG = 'alerts/alertmanager.example.yml';
// amtool and the alertmanager binary ship with Debian's `prometheus-alertmanager` package.
const AM_PACKAGE = 'prometheus-alertmanager';
const AM_BINARY = 'prometheus-alertmanager';

describe('alertmanager.example.yml', () => {
  it('amtool check-config accepts it', () => {
    const r = runTool('amtool', ['check-config', CONFIG], AM_PACKAGE);
    const output = r.stdout + r.stderr;
    expect(r.status, output).toBe(0);
    expect(output).toMatch(/SUCCESS/);
  });

  it.each([
    [{ alertname: 'GitLabDuoNotReady', severity: 'critical', gitlab: 'gitlab-prod' }, 'pager'],
    [{ alertname: 'GitLabDuoProbeLatencyHigh', severity: 'warning', gitlab: 'gitlab-prod' }, 'ticket'],
    [{ alertname: 'GitLabDuoHostNotOnCloudflare', severity: 'info', gitlab: 'gitlab-prod' }, 'null'],
    [{ alertname: 'GitLabDuoExporterAbsent', severity: 'critical', job: 'gitlab-duo-exporter' }, 'pager'],
  ])('routes %o to %s', (labels, receiver) => {
    const args = ['config', 'routes', 'test', `--config.file=${CONFIG}`, ...Object.entries(labels).map(([k, v]) => `${k}=${v}`)];
    const r = runTool('amtool', args, AM_PACKAGE);
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe(receiver);
  });
});

/**
 * Runs the real Alertmanager with the example's route and inhibit_rules (receivers emptied, so
 * nothing is sent anywhere) and checks which alerts of one incident are muted.
 */
describe('alertmanager.example.yml inhibition', () => {
  let am: ChildProcess | undefined;
  let dir = '';
  let base = '';
  let log = '';

  beforeAll(async () => {
    // Fail with the package name if the binary is missing (runTool throws on ENOENT).
    runTool(AM_BINARY, ['--version'], AM_PACKAGE);
    const config = readYaml(CONFIG) as { receivers: { name: string }[] };
    config.receivers = config.receivers.map((r) => ({ name: r.name }));
    dir = mkdtempSync(join(tmpdir(), 'gitlab-duo-am-'));
    writeFileSync(join(dir, 'alertmanager.yml'), stringify(config));
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    am = spawn(
      AM_BINARY,
      [
        `--config.file=${join(dir, 'alertmanager.yml')}`,
        `--storage.path=${join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--cluster.listen-address=',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    am.stdout?.on('data', (b: Buffer) => (log += b.toString()));
    am.stderr?.on('data', (b: Buffer) => (log += b.toString()));
    await waitFor(async () => (await fetch(`${base}/-/ready`)).ok, 15_000, () => log);
  }, 30_000);

  afterAll(async () => {
    // Alertmanager writes its data folder as it stops: remove it only once the process is gone.
    if (am && am.exitCode === null && am.signalCode === null) {
      const exited = new Promise<void>((resolve) => am!.once('exit', () => resolve()));
      am.kill('SIGTERM');
      await exited;
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('mutes the consequences and lets the specific alert page', async () => {
    const target = { job: 'gitlab-duo-exporter', instance: 'gitlab-node-1:10420', gitlab: 'gitlab-prod' };
    const incident: Record<string, string>[] = [
      // Silent Mode on: the fact, the probe failure it explains, the completions it breaks, and
      // the readiness catch-all.
      { alertname: 'GitLabDuoSilentModeEnabled', severity: 'critical', probe: 'instance_settings' },
      { alertname: 'GitLabDuoSettingsProbeFailed', severity: 'critical', probe: 'instance_settings' },
      { alertname: 'GitLabDuoExchangeProbeFailed', severity: 'critical', probe: 'code_suggestions' },
      { alertname: 'GitLabDuoHealthCheckFailed', severity: 'critical', probe: 'health_check', check: 'end_to_end_probe' },
      { alertname: 'GitLabDuoNotReady', severity: 'critical' },
      // Sync older than 72 h: critical and warning of one alert, and GitLab's access_probe.
      { alertname: 'GitLabDuoLicenseSyncStale', severity: 'critical', probe: 'license' },
      { alertname: 'GitLabDuoLicenseSyncStale', severity: 'warning', probe: 'license' },
      { alertname: 'GitLabDuoHealthCheckFailed', severity: 'critical', probe: 'health_check', check: 'access_probe' },
      // A different GitLab check stays: another vantage point, another cause.
      { alertname: 'GitLabDuoHealthCheckFailed', severity: 'critical', probe: 'health_check', check: 'host_probe', target: 'cloud.gitlab.com' },
      // A failing probe is also slow.
      { alertname: 'GitLabDuoNetworkProbeFailed', severity: 'critical', probe: 'customers_portal' },
      { alertname: 'GitLabDuoProbeLatencyHigh', severity: 'warning', probe: 'customers_portal' },
      // A warning on another probe is not hidden by a critical one.
      { alertname: 'GitLabDuoCertificateExpiring', severity: 'warning', probe: 'cloud_connector' },
      // Instance unreachable: the WebSocket fails for the same reason.
      { alertname: 'GitLabDuoInstanceUnreachable', severity: 'critical', probe: 'instance_http2' },
      { alertname: 'GitLabDuoWebSocketCableBlocked', severity: 'critical', probe: 'websocket_cable' },
    ];
    await post(incident.map((a) => ({ ...target, ...a })));

    const expected: Record<string, 'active' | 'suppressed'> = {
      'GitLabDuoSilentModeEnabled/critical/instance_settings/': 'active',
      'GitLabDuoSettingsProbeFailed/critical/instance_settings/': 'suppressed',
      'GitLabDuoExchangeProbeFailed/critical/code_suggestions/': 'suppressed',
      'GitLabDuoHealthCheckFailed/critical/health_check/end_to_end_probe': 'suppressed',
      'GitLabDuoNotReady/critical//': 'suppressed',
      'GitLabDuoLicenseSyncStale/critical/license/': 'active',
      'GitLabDuoLicenseSyncStale/warning/license/': 'suppressed',
      'GitLabDuoHealthCheckFailed/critical/health_check/access_probe': 'suppressed',
      'GitLabDuoHealthCheckFailed/critical/health_check/host_probe': 'active',
      'GitLabDuoNetworkProbeFailed/critical/customers_portal/': 'active',
      'GitLabDuoProbeLatencyHigh/warning/customers_portal/': 'suppressed',
      'GitLabDuoCertificateExpiring/warning/cloud_connector/': 'active',
      'GitLabDuoInstanceUnreachable/critical/instance_http2/': 'active',
      'GitLabDuoWebSocketCableBlocked/critical/websocket_cable/': 'suppressed',
    };
    await expectStates(expected, () => alertStates());
  }, 20_000);

  it('mutes everything of an exporter that is down, and nothing of another exporter', async () => {
    const down = { job: 'gitlab-duo-exporter', instance: 'gitlab-node-2:10420' };
    const other = { job: 'gitlab-duo-exporter', instance: 'gitlab-node-3:10420' };
    await post([
      { ...down, alertname: 'GitLabDuoExporterDown', severity: 'critical' },
      { ...down, gitlab: 'gitlab-dr', probe: 'code_suggestions', alertname: 'GitLabDuoCodeSuggestionsSlow', severity: 'warning' },
      { ...other, gitlab: 'gitlab-dr', probe: 'code_suggestions', alertname: 'GitLabDuoCodeSuggestionsSlow', severity: 'warning' },
    ]);
    let states: Record<string, string> = {};
    const key = (instance: string) => `GitLabDuoCodeSuggestionsSlow@${instance}`;
    await waitFor(
      async () => {
        states = await alertStates((a) => `${a.alertname}@${a.instance}`);
        return states[key(down.instance)] === 'suppressed';
      },
      10_000,
      () => JSON.stringify(states, null, 2),
    ).catch(() => undefined);
    expect(states[`GitLabDuoExporterDown@${down.instance}`]).toBe('active');
    expect(states[key(down.instance)]).toBe('suppressed');
    expect(states[key(other.instance)]).toBe('active');
  }, 20_000);

  it('a fleet: the fleet alert of one node is muted by that node\'s causes only, and mutes that node\'s consequences', async () => {
    const node = (n: number) => ({ job: 'gitlab-duo-exporter', instance: `gitlab-rails-${n}`, gitlab: 'gitlab-fleet' });
    const fleet = 'GitLabDuoProbeFailedOnSomeNodes';
    await post([
      // Node 1: its proxy refuses cloud.gitlab.com; the failing probe is also slow and not ready.
      { ...node(1), alertname: fleet, severity: 'critical', probe: 'cloud_connector' },
      { ...node(1), alertname: 'GitLabDuoProbeLatencyHigh', severity: 'warning', probe: 'cloud_connector' },
      { ...node(1), alertname: 'GitLabDuoNotReady', severity: 'critical' },
      // Node 2 cannot reach the external URL: its WebSocket fails for the same reason (rule 6b).
      { ...node(2), alertname: 'GitLabDuoInstanceUnreachable', severity: 'critical', probe: 'instance_http2' },
      { ...node(2), alertname: fleet, severity: 'critical', probe: 'websocket_cable' },
      // Node 3's WebSocket fails on its own: node 2's unreachable URL explains nothing there.
      { ...node(3), alertname: fleet, severity: 'critical', probe: 'websocket_cable' },
    ]);
    const key = (l: Labels) => `${l.alertname}@${l.instance}/${l.probe ?? ''}`;
    const expected: Record<string, string> = {
      [`${fleet}@gitlab-rails-1/cloud_connector`]: 'active',
      'GitLabDuoProbeLatencyHigh@gitlab-rails-1/cloud_connector': 'suppressed',
      'GitLabDuoNotReady@gitlab-rails-1/': 'suppressed',
      'GitLabDuoInstanceUnreachable@gitlab-rails-2/instance_http2': 'active',
      [`${fleet}@gitlab-rails-2/websocket_cable`]: 'suppressed',
      [`${fleet}@gitlab-rails-3/websocket_cable`]: 'active',
    };
    await expectStates(expected, async () => Object.fromEntries(Object.entries(await alertStates(key)).filter(([k]) => k in expected)));
  }, 20_000);

  it('a blocked /-/cable pages once: the chat alert it explains is muted, on one node or everywhere (rules 6c, 6d)', async () => {
    const node = (n: number) => ({ job: 'gitlab-duo-exporter', instance: `gitlab-cable-${n}`, gitlab: 'gitlab-chat' });
    const fleet = 'GitLabDuoProbeFailedOnSomeNodes';
    await post([
      // Node 1 (and every node): the cable is blocked, so chat does not answer.
      { ...node(1), alertname: 'GitLabDuoWebSocketCableBlocked', severity: 'critical', probe: 'websocket_cable' },
      { ...node(1), alertname: 'GitLabDuoChatNotAnswering', severity: 'critical', probe: 'duo_chat' },
      // Node 2: its own cable fails (a fleet alert); its chat fails too and is explained by it.
      { ...node(2), alertname: fleet, severity: 'critical', probe: 'websocket_cable' },
      { ...node(2), alertname: fleet, severity: 'critical', probe: 'duo_chat' },
      // Node 3: chat fails with the cable fine (Sidekiq, a buffering proxy): it pages.
      { ...node(3), alertname: 'GitLabDuoChatNotAnswering', severity: 'critical', probe: 'duo_chat' },
    ]);
    const key = (l: Labels) => `${l.alertname}@${l.instance}/${l.probe ?? ''}`;
    const expected: Record<string, string> = {
      'GitLabDuoWebSocketCableBlocked@gitlab-cable-1/websocket_cable': 'active',
      'GitLabDuoChatNotAnswering@gitlab-cable-1/duo_chat': 'suppressed',
      [`${fleet}@gitlab-cable-2/websocket_cable`]: 'active',
      [`${fleet}@gitlab-cable-2/duo_chat`]: 'suppressed',
      'GitLabDuoChatNotAnswering@gitlab-cable-3/duo_chat': 'active',
    };
    await expectStates(expected, async () => Object.fromEntries(Object.entries(await alertStates(key)).filter(([k]) => k in expected)));
  }, 20_000);

  /** Waits (up to 10 s) for Alertmanager to show `expected`, then compares what it shows. */
  async function expectStates(expected: Record<string, string>, read: () => Promise<Record<string, string>>): Promise<void> {
    let states: Record<string, string> = {};
    await waitFor(
      async () => {
        states = await read();
        return Object.entries(expected).every(([k, v]) => states[k] === v);
      },
      10_000,
      () => JSON.stringify(states, null, 2),
    ).catch(() => undefined);
    expect(states).toEqual(expected);
  }

  async function post(alerts: Record<string, string>[]): Promise<void> {
    const res = await fetch(`${base}/api/v2/alerts`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(alerts.map((labels) => ({ labels, annotations: {} }))),
    });
    expect(res.status, await res.text()).toBe(200);
  }

  type Labels = Record<string, string | undefined>;
  const defaultKey = (l: Labels): string => `${l.alertname}/${l.severity}/${l.probe ?? ''}/${l.check ?? ''}`;

  async function alertStates(key: (labels: Labels) => string = defaultKey): Promise<Record<string, string>> {
    const res = await fetch(`${base}/api/v2/alerts`);
    const body = (await res.json()) as { labels: Labels; status: { state: string } }[];
    return Object.fromEntries(body.map((a) => [key(a.labels), a.status.state]));
  }
});

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

async function waitFor(check: () => Promise<boolean>, timeoutMs: number, context: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await check()) return;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms\n${context()}`);
    await sleep(200);
  }
}
