import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startApp, type App } from '../src/app.js';
import { loadConfigFile } from '../src/config/load.js';
import { silentLogger } from './helpers/fake-probe.js';
import { closedPort } from './helpers/ports.js';
import { promtoolCheckMetrics } from './helpers/promtool.js';

let app: App | undefined;
afterEach(async () => {
  await app?.stop();
  app = undefined;
});

async function configFile(port: number): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'gde-app-'));
  const path = join(dir, 'config.yaml');
  writeConfig(path, port);
  return path;
}

function writeConfig(path: string, port: number, customersPortal = '{ interval: 1s, timeout: 500ms }', web: readonly string[] = []): void {
  writeFileSync(
    path,
    [
      'instances:',
      '  - name: lab',
      '    endpoints:',
      `      customers_portal: https://127.0.0.1:${port}`,
      `      cloud_connector: https://127.0.0.1:${port}`,
      `      duo_workflow_service: 127.0.0.1:${port}`,
      '    probes:',
      `      customers_portal: ${customersPortal}`,
      '      cloud_connector: { interval: 1s, timeout: 500ms }',
      '      duo_workflow_service: { interval: 1s, timeout: 500ms }',
      'web:',
      '  listen_address: 127.0.0.1:0',
      ...web,
    ].join('\n'),
  );
}

async function start(path: string, enableLifecycle = true): Promise<App> {
  app = await startApp({ config: await loadConfigFile(path, { env: {} }), configPath: path, logger: silentLogger, env: {}, maxStartJitterMs: 0, enableLifecycle });
  return app;
}

async function waitFor(predicate: () => boolean, what: string, limitMs = 10_000): Promise<void> {
  const until = Date.now() + limitMs;
  while (!predicate()) {
    if (Date.now() > until) throw new Error(`gave up waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('the serving exporter', () => {
  it('serves every runner-owned family on /metrics, and promtool finds nothing to report', async () => {
    const a = await start(await configFile(await closedPort()));
    await waitFor(() => a.store.get('lab', 'customers_portal')?.last !== undefined, 'a first run');
    const res = await fetch(`${a.url()}/metrics`);
    expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    const text = await res.text();
    for (const family of [
      'gitlab_duo_probe_success',
      'gitlab_duo_probe_enabled',
      'gitlab_duo_probe_duration_seconds',
      'gitlab_duo_probe_phase_duration_seconds',
      'gitlab_duo_probe_latency_seconds',
      'gitlab_duo_probe_timeout_seconds',
      'gitlab_duo_probe_interval_seconds',
      'gitlab_duo_probe_last_run_timestamp_seconds',
      'gitlab_duo_probe_last_success_timestamp_seconds',
      'gitlab_duo_probe_runs_total',
      'gitlab_duo_probe_skipped_runs_total',
      'gitlab_duo_probe_failure_reason',
      'gitlab_duo_probe_consecutive_failures',
      'gitlab_duo_ready',
      'gitlab_duo_exporter_build_info',
      'gitlab_duo_exporter_config_last_reload_successful',
      'gitlab_duo_exporter_config_last_reload_success_timestamp_seconds',
      'process_cpu_seconds_total',
      'nodejs_eventloop_lag_seconds',
    ]) {
      expect(text, family).toContain(`# TYPE ${family} `);
    }
    expect(text).toContain('gitlab_duo_probe_success{gitlab="lab",probe="customers_portal"} 0');
    expect(text).toContain('gitlab_duo_probe_failure_reason{gitlab="lab",probe="customers_portal",reason="connect"} 1');
    expect(text).toContain('gitlab_duo_probe_enabled{gitlab="lab",probe="ai_gateway"} 0');
    expect(text).not.toContain('gitlab_duo_probe_success{gitlab="lab",probe="ai_gateway"}');
    expect(text).toContain('gitlab_duo_ready{gitlab="lab"} 0');
    expect(promtoolCheckMetrics(text)).toBe('');
  });

  it('answers OpenMetrics when the scraper asks for it', async () => {
    const a = await start(await configFile(await closedPort()));
    const res = await fetch(`${a.url()}/metrics`, { headers: { accept: 'application/openmetrics-text; version=1.0.0' } });
    expect(res.headers.get('content-type')).toContain('application/openmetrics-text');
    expect(await res.text()).toMatch(/# EOF\n$/);
  });

  it('answers each scraper in its own format, whatever the one before asked for, one after the other or at once', async () => {
    const a = await start(await configFile(await closedPort()));
    await waitFor(() => a.store.get('lab', 'customers_portal')?.last !== undefined, 'a first run');
    const scrape = async (openMetrics: boolean) => {
      const res = await fetch(`${a.url()}/metrics`, { headers: openMetrics ? { accept: 'application/openmetrics-text; version=1.0.0' } : {} });
      return { type: res.headers.get('content-type') ?? '', text: await res.text() };
    };
    const check = ({ type, text }: { type: string; text: string }, openMetrics: boolean) => {
      expect(type).toContain(openMetrics ? 'application/openmetrics-text' : 'text/plain');
      expect(text).toMatch(openMetrics ? /^# TYPE gitlab_duo_probe_runs counter$/m : /^# TYPE gitlab_duo_probe_runs_total counter$/m);
      expect(text).toMatch(/^gitlab_duo_probe_runs_total\{gitlab="lab",probe="customers_portal",result="failure"\} \d+$/m);
      expect(text.endsWith('# EOF\n')).toBe(openMetrics);
    };
    for (const openMetrics of [true, false, true, false, false]) check(await scrape(openMetrics), openMetrics);
    const formats = Array.from({ length: 16 }, (_, i) => i % 2 === 0);
    (await Promise.all(formats.map(scrape))).forEach((answer, i) => check(answer, formats[i]!));
  });

  it('serves health, readiness, the landing page and the report', async () => {
    const a = await start(await configFile(await closedPort()));
    await waitFor(() => a.store.get('lab', 'cloud_connector')?.last !== undefined, 'a first run');
    expect((await fetch(`${a.url()}/-/healthy`)).status).toBe(200);
    expect((await fetch(`${a.url()}/-/ready`)).status).toBe(200);
    const page = await (await fetch(`${a.url()}/`)).text();
    expect(page).toContain('cloud_connector');
    const report = (await (await fetch(`${a.url()}/report.json`)).json()) as { ready: boolean; instances: Array<{ probes: Array<{ name: string; status: string }> }> };
    expect(report.ready).toBe(false);
    expect(report.instances[0]!.probes.find((p) => p.name === 'ai_gateway')?.status).toBe('skipped');
    expect((await fetch(`${a.url()}/nope`)).status).toBe(404);
  });

  it('reloads on POST /-/reload only; a bad config is refused and the old one keeps running', async () => {
    const port = await closedPort();
    const path = await configFile(port);
    const a = await start(path);
    expect((await fetch(`${a.url()}/-/reload`)).status).toBe(405);

    writeFileSync(path, 'instances: [ { name: lab, colour: blue } ]\n');
    const refused = await fetch(`${a.url()}/-/reload`, { method: 'POST' });
    expect(refused.status).toBe(500);
    expect(await refused.text()).toContain('instances[0].colour: unknown key');
    let text = await (await fetch(`${a.url()}/metrics`)).text();
    expect(text).toContain('gitlab_duo_exporter_config_last_reload_successful 0');
    expect(text).toContain('gitlab_duo_probe_enabled{gitlab="lab",probe="customers_portal"} 1');

    writeConfig(path, port, '{ enabled: false }');
    expect((await fetch(`${a.url()}/-/reload`, { method: 'POST' })).status).toBe(200);
    text = await (await fetch(`${a.url()}/metrics`)).text();
    expect(text).toContain('gitlab_duo_exporter_config_last_reload_successful 1');
    expect(text).toContain('gitlab_duo_probe_enabled{gitlab="lab",probe="customers_portal"} 0');
    expect(text).not.toContain('gitlab_duo_probe_success{gitlab="lab",probe="customers_portal"}');
    expect(text).not.toContain('gitlab_duo_probe_latency_seconds_count{gitlab="lab",probe="customers_portal"}');
  });

  it('keeps POST /-/reload off without --web.enable-lifecycle, as Prometheus does', async () => {
    const a = await start(await configFile(await closedPort()), false);
    const answer = await fetch(`${a.url()}/-/reload`, { method: 'POST' });
    expect(answer.status).toBe(403);
    expect(await answer.text()).toContain('--web.enable-lifecycle');
    expect(await a.reload()).toBeUndefined(); // SIGHUP's path is always there
  });

  it('refuses a cross-site POST /-/reload, and lets same-origin pages and programs through', async () => {
    const a = await start(await configFile(await closedPort()));
    const host = new URL(a.url()).host;
    const post = (headers: Record<string, string>) => fetch(`${a.url()}/-/reload`, { method: 'POST', headers }).then((r) => r.status);
    expect(await post({ origin: 'https://evil.example' })).toBe(403);
    expect(await post({ origin: 'null' })).toBe(403);
    expect(await post({ 'sec-fetch-site': 'cross-site' })).toBe(403);
    expect(await post({ 'sec-fetch-site': 'same-site', origin: `http://${host}` })).toBe(403);
    expect(await post({ origin: `http://${host}`, 'sec-fetch-site': 'same-origin' })).toBe(200);
    expect(await post({})).toBe(200); // curl, a Kubernetes reloader
  });

  it('reloads only once the body has arrived; a body that never ends never reloads', async () => {
    const a = await start(await configFile(await closedPort()));
    const before = await (await fetch(`${a.url()}/metrics`)).text();
    const stamp = (text: string) => /^gitlab_duo_exporter_config_last_reload_success_timestamp_seconds (\S+)$/m.exec(text)?.[1];
    const { port } = new URL(a.url());
    const socket = connect(Number(port), '127.0.0.1');
    await once(socket, 'connect');
    socket.write(`POST /-/reload HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Length: 10\r\n\r\nabc`);
    await new Promise((resolve) => setTimeout(resolve, 1200));
    const during = await (await fetch(`${a.url()}/metrics`)).text();
    expect(stamp(during)).toBe(stamp(before));
    const answer = new Promise<string>((resolve) => {
      let text = '';
      socket.on('data', (chunk: Buffer) => {
        text += chunk.toString();
        if (text.includes('Reloaded.')) resolve(text);
      });
      socket.on('end', () => resolve(text));
    });
    // write(), not end(): Node's HTTP server closes a connection whose client half-closed before
    // the answer is written, and the reload reads the config file asynchronously (a few ticks).
    socket.write('defghij');
    expect(await answer).toMatch(/^HTTP\/1\.1 200[\s\S]*Reloaded\./);
    expect(stamp(await (await fetch(`${a.url()}/metrics`)).text())).not.toBe(stamp(before));
  });

  it('keeps unchanged probes on their schedule across reloads: ten reloads add no runs', async () => {
    const port = await closedPort();
    const path = await configFile(port);
    writeConfig(path, port, '{ interval: 30s, timeout: 1s }');
    const a = await start(path);
    await waitFor(() => a.store.get('lab', 'customers_portal')?.last !== undefined, 'a first run');
    const first = a.store.get('lab', 'customers_portal')!.last!;
    const runs = async () => {
      const text = await (await fetch(`${a.url()}/metrics`)).text();
      return [...text.matchAll(/^gitlab_duo_probe_runs_total\{gitlab="lab",probe="customers_portal",result="\w+"\} (\d+)$/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
    };
    expect(await runs()).toBe(1);
    for (let i = 0; i < 10; i++) {
      expect((await fetch(`${a.url()}/-/reload`, { method: 'POST' })).status).toBe(200);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    // Restarting each schedule ran the probe at every reload (11 runs). Kept, only the second run
    // may fall in this second: it is due on the probe's slot, 1 to 31 s after the first.
    expect(await runs()).toBeLessThanOrEqual(2);
    expect(a.store.get('lab', 'customers_portal')!.last!.startedAt).toBeGreaterThanOrEqual(first.startedAt);

    // A changed probe starts afresh (jitter 0 here: at once).
    writeConfig(path, port, '{ interval: 30s, timeout: 2s }');
    const before = await runs();
    expect((await fetch(`${a.url()}/-/reload`, { method: 'POST' })).status).toBe(200);
    await waitFor(() => a.store.get('lab', 'customers_portal')!.last!.timeoutSeconds === 2, 'a run with the new timeout');
    expect(await runs()).toBe(before + 1);
  });

  it('sends the usual security headers with every answer', async () => {
    const a = await start(await configFile(await closedPort()));
    for (const path of ['/', '/metrics', '/report.md', '/-/healthy', '/nope']) {
      const { headers } = await fetch(`${a.url()}${path}`);
      expect(headers.get('content-security-policy')).toContain("default-src 'none'");
      expect(headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
      expect(headers.get('x-content-type-options')).toBe('nosniff');
      expect(headers.get('x-frame-options')).toBe('DENY');
      expect(headers.get('referrer-policy')).toBe('no-referrer');
    }
  });

  it('answers the pages only to web.allowed_hosts when set; /metrics and health to any Host', async () => {
    const port = await closedPort();
    const path = await configFile(port);
    writeConfig(path, port, undefined, ['  allowed_hosts: [exporter.example.com, "127.0.0.1:1"]']);
    const a = await start(path);
    const { port: listening } = new URL(a.url());
    const status = (route: string, host: string) =>
      new Promise<number>((resolve, reject) => {
        get({ host: '127.0.0.1', port: Number(listening), path: route, headers: { host }, agent: false }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        }).on('error', reject);
      });
    for (const route of ['/', '/report.json', '/report.md']) {
      expect(await status(route, `127.0.0.1:${listening}`)).toBe(403);
      expect(await status(route, 'rebound.attacker.example')).toBe(403);
      expect(await status(route, `exporter.example.com:${listening}`)).toBe(200);
      expect(await status(route, 'EXPORTER.example.com')).toBe(200);
      expect(await status(route, '127.0.0.1:1')).toBe(200);
    }
    for (const route of ['/metrics', '/-/healthy', '/-/ready']) expect(await status(route, 'rebound.attacker.example')).toBe(200);
  });
});
