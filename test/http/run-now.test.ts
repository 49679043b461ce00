import { afterEach, describe, expect, it } from 'vitest';
import { startApp, type App } from '../../src/app.js';
import { parseConfigText } from '../../src/config/load.js';
import { silentLogger } from '../helpers/fake-probe.js';
import { closedPort } from '../helpers/ports.js';

// POST /-/probe/<name>: a fixed fault is seen at once instead of at the next scheduled run (up to
// 30 minutes for health_check), and the daemon's own metrics, status page and report show it.

let app: App | undefined;
afterEach(async () => {
  await app?.stop();
  app = undefined;
});

async function start(): Promise<App> {
  const port = await closedPort();
  const yaml = [
    'instances:',
    '  - name: lab',
    '    endpoints:',
    `      customers_portal: https://127.0.0.1:${port}`,
    `      cloud_connector: https://127.0.0.1:${port}`,
    `      duo_workflow_service: 127.0.0.1:${port}`,
    'defaults:',
    '  probes:',
    '    customers_portal: { interval: 1h, timeout: 2s }',
    '    cloud_connector: { interval: 1h, timeout: 2s }',
    '    duo_workflow_service: { interval: 1h, timeout: 2s }',
    '    proxy_env: { enabled: false }',
    'web:',
    '  listen_address: 127.0.0.1:0',
  ].join('\n');
  app = await startApp({ config: await parseConfigText(yaml, 'test', { env: {} }), configPath: undefined, logger: silentLogger, env: {}, maxStartJitterMs: 0 });
  const a = app;
  await waitFor(() => ['customers_portal', 'cloud_connector', 'duo_workflow_service'].every((p) => a.store.get('lab', p)?.last !== undefined));
  return a;
}

async function waitFor(predicate: () => boolean): Promise<void> {
  const until = Date.now() + 10_000;
  while (!predicate()) {
    if (Date.now() > until) throw new Error('gave up waiting for the first runs');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const runs = (a: App, probe: string): number => {
  const r = a.store.get('lab', probe)?.runs;
  return (r?.success ?? 0) + (r?.failure ?? 0);
};

describe('POST /-/probe/<name>', () => {
  it('runs the probe at once; the store and /metrics show the new run; the schedule is unchanged', async () => {
    const a = await start();
    expect(runs(a, 'customers_portal')).toBe(1);
    const answer = await fetch(`${a.url()}/-/probe/customers_portal`, { method: 'POST' });
    expect(answer.status).toBe(200);
    expect(await answer.json()).toEqual({
      runs: [{ gitlab: 'lab', probe: 'customers_portal', status: 'ran', success: false, reason: 'connect', message: expect.any(String), duration_seconds: expect.any(Number) }],
    });
    expect(runs(a, 'customers_portal')).toBe(2);
    expect(a.store.get('lab', 'customers_portal')!.last!.trigger).toBe('manual');
    const metrics = await (await fetch(`${a.url()}/metrics`)).text();
    expect(metrics).toContain('gitlab_duo_probe_runs_total{gitlab="lab",probe="customers_portal",result="failure"} 2');
    expect(metrics).toContain('gitlab_duo_probe_consecutive_failures{gitlab="lab",probe="customers_portal"} 2');
    expect(runs(a, 'cloud_connector')).toBe(1);
  });

  it('runs a probe at most once per minimum gap: the second ask gets 429 with Retry-After', async () => {
    const a = await start();
    expect((await fetch(`${a.url()}/-/probe/cloud_connector`, { method: 'POST' })).status).toBe(200);
    const again = await fetch(`${a.url()}/-/probe/cloud_connector`, { method: 'POST' });
    expect(again.status).toBe(429);
    const retryAfter = Number(again.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(10);
    expect(runs(a, 'cloud_connector')).toBe(2);
  });

  it('`all` runs every scheduled probe and lists the skipped ones with why; ?gitlab= picks an instance', async () => {
    const a = await start();
    const answer = (await (await fetch(`${a.url()}/-/probe/all?gitlab=lab`, { method: 'POST' })).json()) as { runs: Array<{ probe: string; status: string; why?: string }> };
    const byProbe = new Map(answer.runs.map((r) => [r.probe, r]));
    for (const probe of ['customers_portal', 'cloud_connector', 'duo_workflow_service']) expect(byProbe.get(probe)?.status).toBe('ran');
    expect(byProbe.get('proxy_env')).toMatchObject({ status: 'skipped', why: expect.stringContaining('disabled') });
    expect(byProbe.get('license')).toMatchObject({ status: 'skipped' });
    expect((await fetch(`${a.url()}/-/probe/all?gitlab=elsewhere`, { method: 'POST' })).status).toBe(404);
  });

  it('refuses other methods, unknown probes and cross-site requests; sends a browser back to the status page', async () => {
    const a = await start();
    expect((await fetch(`${a.url()}/-/probe/customers_portal`)).status).toBe(405);
    expect((await fetch(`${a.url()}/-/probe/nonsense`, { method: 'POST' })).status).toBe(404);
    expect((await fetch(`${a.url()}/-/probe/customers_portal`, { method: 'POST', headers: { origin: 'https://evil.example' } })).status).toBe(403);
    expect((await fetch(`${a.url()}/-/probe/customers_portal`, { method: 'POST', headers: { 'sec-fetch-site': 'cross-site' } })).status).toBe(403);
    expect(runs(a, 'customers_portal')).toBe(1);
    const host = new URL(a.url()).host;
    const form = await fetch(`${a.url()}/-/probe/customers_portal`, { method: 'POST', redirect: 'manual', headers: { accept: 'text/html', origin: `http://${host}`, 'sec-fetch-site': 'same-origin' } });
    expect(form.status).toBe(303);
    expect(form.headers.get('location')).toBe('/');
    expect(runs(a, 'customers_portal')).toBe(2);
    // The status page's button is that form; skipped probes have none.
    const page = await (await fetch(`${a.url()}/`)).text();
    expect(page).toContain('<form method="post" action="/-/probe/customers_portal?gitlab=lab"');
    expect(page).not.toContain('action="/-/probe/license?');
  });
});
