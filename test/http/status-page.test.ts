import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApp, type App } from '../../src/app.js';
import { parseConfigText } from '../../src/config/load.js';
import { renderStatusPage } from '../../src/http/status-page.js';
import { PROBES } from '../../src/probes/index.js';
import { explainReason, fixAdvice } from '../../src/report/explain.js';
import { ResultStore } from '../../src/runner/store.js';
import { exporterInstanceConfig, startSimulator, type Simulator } from '../../src/simulator/index.js';
import { silentLogger } from '../helpers/fake-probe.js';
import { result, testPlan } from '../report/helpers.js';

// Debian's Chromium, driven by playwright-core: the page is checked the way a person sees it.
const CHROMIUM = '/usr/bin/chromium';
const OUTPUT = new URL('../../test-output/', import.meta.url).pathname;
const INSTANCE = 'simulator';

let simulator: Simulator;
let app: App;
let browser: Browser;
let dir: string;

async function waitFor(predicate: () => boolean, what: string, limitMs = 30_000): Promise<void> {
  const until = Date.now() + limitMs;
  while (!predicate()) {
    if (Date.now() > until) throw new Error(`gave up waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const lastOf = (probe: string) => app.store.get(INSTANCE, probe)?.last;

/** Opens `/` with JavaScript off (the page must not need it) and records every URL it loads. */
async function openStatusPage(): Promise<{ page: Page; requested: string[] }> {
  const context = await browser.newContext({ javaScriptEnabled: false, viewport: { width: 1400, height: 900 } });
  const page = await context.newPage();
  const requested: string[] = [];
  page.on('request', (req) => requested.push(req.url()));
  const response = await page.goto(`${app.url()}/`);
  expect(response?.status()).toBe(200);
  return { page, requested };
}

const probeRow = (page: Page, probe: string) => page.locator(`tbody#${INSTANCE}-${probe}`);

describe('the status page in Chromium', () => {
  beforeAll(async () => {
    // Never a skip: a missing browser is a failure that names the package to install.
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found: install the Debian package "chromium" (apt-get install chromium)`);
    simulator = await startSimulator({ logger: silentLogger });
    dir = mkdtempSync(join(tmpdir(), 'gde-status-page-'));
    const caFile = join(dir, 'ca.pem');
    writeFileSync(caFile, simulator.caPem);
    // Every probe every 3 s, so a scenario switch shows within seconds; the timeout leaves room for a
    // loaded CI machine, so that a healthy run does not flap while the page is read.
    const fast = Object.fromEntries(PROBES.map((p) => [p.name, { interval: '3s', timeout: '2500ms' }]));
    const yaml = stringify({ instances: [exporterInstanceConfig(simulator, caFile, INSTANCE)], defaults: { probes: fast }, web: { listen_address: '127.0.0.1:0' } });
    app = await startApp({ config: await parseConfigText(yaml, 'test', { env: {} }), configPath: undefined, logger: silentLogger, env: {}, maxStartJitterMs: 200 });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    mkdirSync(OUTPUT, { recursive: true });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await app?.stop();
    await simulator?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('shows a healthy instance as ready, each probe passing, and how to enable the skipped proxy_env', async () => {
    const enabled = app.plan().probes.filter((p) => p.skippedBecause === undefined).map((p) => p.probe.name);
    // Two runs each, so the history has marks to show.
    await waitFor(() => enabled.every((p) => (app.store.get(INSTANCE, p)?.history.length ?? 0) >= 2 && lastOf(p)?.success === true), 'every probe to have run twice and passed');
    const { page, requested } = await openStatusPage();

    await expect(page.locator('h1').innerText()).resolves.toBe('GitLab Duo is ready');
    await expect(page.locator('meta[http-equiv="refresh"]').getAttribute('content')).resolves.toBe('30');
    for (const probe of enabled) await expect(probeRow(page, probe).locator('.badge').innerText()).resolves.toBe('pass');
    const proxyEnv = await probeRow(page, 'proxy_env').innerText();
    expect(proxyEnv).toContain('skipped');
    expect(proxyEnv).toContain('To enable:');
    expect(proxyEnv).toContain('Run the exporter on an Omnibus GitLab node');
    // Phases and history are drawn for a network probe.
    const cloud = probeRow(page, 'cloud_connector');
    expect(await cloud.locator('.bar span').count()).toBeGreaterThan(0);
    expect(await cloud.locator('.m.pass').count()).toBeGreaterThanOrEqual(2);
    for (const link of ['metrics', 'report.json', 'report.md']) expect(await page.locator(`nav a[href="${link}"]`).count()).toBe(1);

    expect(requested).toEqual([`${app.url()}/`]); // no external resource, not even a favicon from elsewhere
    const text = await page.locator('body').innerText();
    for (const token of [simulator.adminToken, simulator.duoUserToken]) expect(text).not.toContain(token);
    await page.screenshot({ path: join(OUTPUT, 'status-page-healthy.png'), fullPage: true });
    await page.context().close();
  }, 60_000);

  it('shows a failing instance as NOT ready, with the failing probe, its reason in plain words and the fix', async () => {
    simulator.setScenario('silent_mode_on');
    const switched = Date.now();
    await waitFor(() => {
      const settings = lastOf('instance_settings');
      const suggestions = lastOf('code_suggestions');
      return settings !== undefined && !settings.success && settings.startedAt > switched && suggestions !== undefined && !suggestions.success;
    }, 'instance_settings and code_suggestions to fail');
    const { page, requested } = await openStatusPage();

    await expect(page.locator('h1').innerText()).resolves.toBe('GitLab Duo is NOT ready');
    await expect(page.locator('header').innerText()).resolves.toContain('instance_settings');
    const row = probeRow(page, 'instance_settings');
    const text = await row.innerText();
    expect(await row.locator('.badge').innerText()).toBe('FAIL');
    expect(text).toContain(explainReason('requirement_not_met'));
    expect(text).toContain('Silent Mode is on');
    const fix = fixAdvice('instance_settings', 'requirement_not_met', 'admin');
    expect(text).toContain(fix.advice);
    expect(await row.locator(`a[href="${fix.docs.url}"]`).innerText()).toBe('docs/probes.md#instance_settings');
    expect(await row.locator(`a[href="${fix.runbook!.url}"]`).innerText()).toBe('GitLabDuoSettingsProbeFailed');
    // The history shows the switch: earlier passes, then the failure.
    expect(await row.locator('.m.pass').count()).toBeGreaterThan(0);
    expect(await row.locator('.m.fail').count()).toBeGreaterThan(0);
    await expect(probeRow(page, 'proxy_env').innerText()).resolves.toContain('To enable:');

    expect(requested).toEqual([`${app.url()}/`]);
    await page.screenshot({ path: join(OUTPUT, 'status-page-failing.png'), fullPage: true });
    await page.context().close();
  }, 60_000);
});

describe('the status page HTML', () => {
  const now = Date.parse('2026-05-01T10:00:00Z');

  it('escapes everything that comes from a probe, and loads nothing', async () => {
    const store = new ResultStore();
    store.record(result('lab', 'instance_settings', { reason: 'requirement_not_met', message: '<img src=x onerror=alert(1)> & "quoted"', at: now }));
    const page = renderStatusPage(await testPlan(), store, new Date(now + 5000));
    expect(page).toContain('&lt;img src=x onerror=alert(1)&gt; &amp; &quot;quoted&quot;');
    expect(page).not.toMatch(/<(img|script|link|iframe|object|embed)\b/i);
    expect(page).not.toMatch(/\s(src|srcset)="/i);
  });

  it('draws the history oldest first, and marks the failures kept after they aged out', async () => {
    const store = new ResultStore();
    // 3 failures, then 20 passes push them out of the recent history into preservedFailures.
    for (let n = 0; n < 23; n++) store.record(result('lab', 'license', n < 3 ? { reason: 'auth', at: now + n * 1000 } : { at: now + n * 1000 }));
    const page = renderStatusPage(await testPlan(), store, new Date(now + 30_000));
    const row = page.slice(page.indexOf('id="lab-license"'), page.indexOf('id="lab-health_check"'));
    expect(row.match(/class="m fail kept"/g)).toHaveLength(3);
    expect(row.match(/class="m pass"/g)).toHaveLength(20);
    expect(row).toContain('3 earlier failures kept');
    expect(row.indexOf('m fail kept')).toBeLessThan(row.indexOf('m pass'));
    expect(row).toContain('10:00:00 → 10:00:22');
  });
});
