import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { runCheck } from '../../src/check.js';
import { parseConfigText } from '../../src/config/load.js';
import { renderReport } from '../../src/report/render.js';
import type { InstanceReport, Report } from '../../src/report/report.js';
import { SCENARIOS, startSimulator, type ScenarioName, type Simulator } from '../../src/simulator/index.js';
import { EXPECTED } from '../helpers/scenario-reasons.js';

/**
 * Issue 13: `check` (detection, plan, every probe once, the report) against the simulator, every
 * scenario in turn. Where one fault fails several probes, the report names ONE root cause, the
 * right one, lists the other failures under it and gives its fix to all of them.
 */

// As test/scenarios.test.ts: code_suggestions_slow makes the completion time out (5 s < 8 s), and
// GitLab's end_to_end_probe (3 s) too.
const SLOW_DELAY_MS = 8000;
const silent = pino({ level: 'silent' });

/** The root cause of every scenario that fails more than one probe, and words its summary must have. */
const ROOTS: Partial<Record<ScenarioName, { readonly root: string; readonly summary: RegExp; readonly alert?: string }>> = {
  silent_mode_on: { root: 'instance_settings', summary: /Silent Mode is on/, alert: 'GitLabDuoSilentModeEnabled' },
  duo_never_on: { root: 'instance_settings', summary: /GitLab Duo is turned off and locked/, alert: 'GitLabDuoFeaturesDisabled' },
  // exporter_tokens reads the token's scopes: the missing one is the cause of the 403s.
  admin_token_without_admin_mode: { root: 'exporter_tokens', summary: /admin token lacks a scope/, alert: 'GitLabDuoExporterTokenScopeMissing' },
  duo_token_without_read_api: { root: 'exporter_tokens', summary: /Duo user's token lacks a scope/, alert: 'GitLabDuoExporterTokenScopeMissing' },
  token_scope_missing: { root: 'exporter_tokens', summary: /Duo user's token lacks a scope/, alert: 'GitLabDuoExporterTokenScopeMissing' },
  offline_license: { root: 'license', summary: /not an online cloud licence/, alert: 'GitLabDuoLicenseNotOnlineCloud' },
  legacy_license: { root: 'license', summary: /not an online cloud licence/, alert: 'GitLabDuoLicenseNotOnlineCloud' },
  sync_stale: { root: 'license', summary: /not synchronised for more than 72 h/, alert: 'GitLabDuoLicenseSyncStale' },
  token_expired: { root: 'health_check', summary: /Cloud Connector access token has expired/, alert: 'GitLabDuoAccessTokenExpired' },
  customers_portal_down: { root: 'customers_portal', summary: /customers\.gitlab\.com cannot be reached/ },
  cloud_connector_down: { root: 'cloud_connector', summary: /cloud\.gitlab\.com cannot be reached/ },
  dws_no_h2: { root: 'duo_workflow_service', summary: /Duo Workflow Service/ },
  code_suggestions_slow: { root: 'code_suggestions', summary: /completions time out/ },
  // Duo Chat's answers come over the same /-/cable: the cable's failure is the chat's.
  cable_upgrade_stripped: { root: 'websocket_cable', summary: /\/-\/cable cannot be opened/, alert: 'GitLabDuoWebSocketCableBlocked' },
  cable_bad_origin: { root: 'websocket_cable', summary: /\/-\/cable cannot be opened/, alert: 'GitLabDuoWebSocketCableBlocked' },
};

let sim: Simulator;
let dir: string;

beforeAll(async () => {
  sim = await startSimulator({ slowDelayMs: SLOW_DELAY_MS });
  dir = mkdtempSync(join(tmpdir(), 'gde-root-causes-'));
  writeFileSync(join(dir, 'ca.pem'), sim.caPem);
});

afterAll(async () => {
  await sim?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** `check` with one instance pointed at the simulator; `url` replaces the instance's URL. */
async function check(url = sim.gitlabUrl): Promise<Report> {
  const yaml = stringify({
    instances: [
      {
        name: 'sim',
        url,
        admin_token: sim.adminToken,
        duo_user_token: sim.duoUserToken,
        agent_platform_token: sim.agentPlatformToken,
        tls: { ca_file: join(dir, 'ca.pem') },
        resolve: sim.resolve,
        endpoints: {
          customers_portal: sim.customersPortalUrl,
          cloud_connector: sim.cloudConnectorUrl,
          duo_workflow_service: sim.duoWorkflowService,
          ai_gateway: sim.aiGatewayUrl,
        },
        probes: { code_suggestions: { timeout: '5s' }, health_check: { timeout: '10s' }, duo_chat: { timeout: '5s' } },
      },
    ],
  });
  return runCheck({ config: await parseConfigText(yaml, 'root-causes.yaml', { env: {} }), probes: [], logger: silent, env: {} });
}

const failing = (instance: InstanceReport) => instance.probes.filter((p) => p.status === 'fail');

describe('the table covers the simulator', () => {
  it('names a root cause for exactly the scenarios that fail several probes', () => {
    const multi = SCENARIOS.filter((s) => Object.keys(EXPECTED[s.name]).length > 1).map((s) => s.name);
    expect(Object.keys(ROOTS).sort()).toEqual([...multi].sort());
  });
});

describe.each(SCENARIOS.filter((s) => s.affects.length > 0).map((s) => [s.name] as const))('scenario %s', (name) => {
  it('reports one root cause, and every other failure under it with its fix', async () => {
    sim.setScenario(name);
    const report = await check();
    const instance = report.instances[0]!;
    const failed = failing(instance);
    const shown = JSON.stringify({ causes: instance.causes, failed: failed.map((p) => [p.name, p.reason, p.rootCause]) }, null, 2);
    // The same failures as the scenario test expects: the diagnosis runs on the real ones.
    expect(failed.map((p) => p.name).sort(), shown).toEqual(Object.keys(EXPECTED[name]).sort());
    expect(instance.causes, shown).toHaveLength(1);
    const cause = instance.causes[0]!;
    const expected = ROOTS[name];
    const root = expected?.root ?? failed[0]!.name;
    expect(cause.probe, shown).toBe(root);
    const rootProbe = failed.find((p) => p.name === root)!;
    expect(rootProbe.rootCause, shown).toBeUndefined();
    // The root probe's docs; the advice and runbook of the alert that pages for the cause where the
    // graph names one (Silent Mode: GitLabDuoSilentModeEnabled), else the root probe's own.
    expect(cause.fix.docs).toEqual(rootProbe.fix!.docs);
    expect(cause.fix.runbook?.alert).toBe(expected?.alert ?? rootProbe.fix!.runbook?.alert);
    expect(cause.affected.map((a) => a.probe).sort(), shown).toEqual(failed.map((p) => p.name).filter((n) => n !== root).sort());
    if (expected) expect(cause.summary).toMatch(expected.summary);
    for (const p of failed.filter((f) => f.name !== root)) {
      expect(p.rootCause, `${p.name}: ${shown}`).toMatchObject({ probe: root, reason: rootProbe.reason, summary: cause.summary });
      // The root cause's fix, not the probe's own generic advice (Workhorse's proxy for Silent Mode).
      expect(p.fix, p.name).toEqual(cause.fix);
    }
    // check's text leads with the root cause, once, with its fix; the other failures point to it.
    const text = renderReport(report, 'text');
    expect(text.indexOf(`  * ${root}: `)).toBeGreaterThan(-1);
    expect(text.indexOf(`  * ${root}: `)).toBeLessThan(text.indexOf('  [PASS]'));
    expect(text.match(/^ {6}fix: /gm), text).toHaveLength(1);
    for (const p of failed.filter((f) => f.name !== root)) expect(text).toContain(`${p.reason}, caused by ${root}`);
  });
});

describe('a wrong GITLAB_URL', () => {
  it('is one root cause, the instance that cannot be reached, not one failure per probe', async () => {
    sim.setScenario('healthy');
    const report = await check(`https://127.0.0.1:${await closedPort()}`);
    const instance = report.instances[0]!;
    const failed = failing(instance);
    // Every probe of the instance's URL fails the same way; the network probes still pass.
    expect(failed.length).toBeGreaterThanOrEqual(7);
    expect(new Set(failed.map((p) => p.reason))).toEqual(new Set(['connect']));
    expect(instance.causes).toHaveLength(1);
    expect(instance.causes[0]).toMatchObject({ probe: 'instance_http2', reason: 'connect', summary: "GitLab's external URL cannot be reached from the exporter" });
    expect(instance.causes[0]!.affected.map((a) => a.probe).sort()).toEqual(failed.map((p) => p.name).filter((n) => n !== 'instance_http2').sort());
    expect(instance.causes[0]!.fix.runbook?.alert).toBe('GitLabDuoInstanceUnreachable');
    const text = renderReport(report, 'text');
    expect(text.match(/^ {6}message: /gm)).toHaveLength(1);
    expect(text).toContain(`also failing because of it (${failed.length - 1}): `);
  });
});

describe('a URL that does not lead to GitLab\'s API (issue 14)', () => {
  it('puts the URL first: one root cause, the version probe\'s "no GitLab API", not the licence query\'s 404', async () => {
    sim.setScenario('healthy');
    // GitLab is served at the root; a relative URL root it does not have gets its 404 pages.
    const report = await check(`${sim.gitlabUrl}/gitlab`);
    const instance = report.instances[0]!;
    const failed = failing(instance);
    const shown = JSON.stringify({ causes: instance.causes, failed: failed.map((p) => [p.name, p.reason, p.message]) }, null, 2);
    expect(failed.map((p) => p.name), shown).toEqual(expect.arrayContaining(['version', 'license', 'health_check', 'instance_settings', 'code_suggestions']));
    expect(instance.causes, shown).toHaveLength(1);
    const cause = instance.causes[0]!;
    expect(cause).toMatchObject({ probe: 'version', reason: 'http_status', summary: "the instance URL does not lead to GitLab's API: check the URL" });
    expect(cause.message).toMatch(/^no GitLab API at https:\/\/\S+\/gitlab\/api\/v4: GET \/gitlab\/api\/v4\/metadata and \/gitlab\/api\/v4\/version answered 404 with a page, not JSON: check the instance URL/);
    expect(cause.affected.map((a) => a.probe).sort(), shown).toEqual(failed.map((p) => p.name).filter((n) => n !== 'version').sort());
    expect(cause.fix.advice).toMatch(/external URL/);
    for (const p of failed.filter((f) => f.name !== 'version')) expect(p.rootCause, p.name).toMatchObject({ probe: 'version', summary: cause.summary });
    // What a user reads first under the instance's lines is the URL.
    const text = renderReport(report, 'text');
    const causes = text.slice(text.indexOf('  Root cause:'));
    expect(causes.split('\n').slice(0, 2), text).toEqual(['  Root cause:', "  * version: http_status: the instance URL does not lead to GitLab's API: check the URL"]);
    expect(causes).toMatch(/^ {6}message: no GitLab API at /m);
  });
});

/** A loopback port nothing listens on: connecting is refused at once. */
async function closedPort(): Promise<number> {
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
