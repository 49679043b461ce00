import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { renderStatusPage } from '../../src/http/status-page.js';
import { explainReason, fixAdvice, TOKEN_ADVICE } from '../../src/report/explain.js';
import { stripUserinfo } from '../../src/report/redact.js';
import { renderReport } from '../../src/report/render.js';
import { buildReport, REPORT_SCHEMA_VERSION, type Report } from '../../src/report/report.js';
import { ResultStore } from '../../src/runner/store.js';
import { VERSION } from '../../src/core/version.js';
import { PROXY_URL, result, SENTINELS, testPlan } from './helpers.js';

const NOW = new Date('2026-05-01T10:00:05Z');

/** A store where the probes' texts try every way a secret could leak into a report. */
function leakyStore(): ResultStore {
  const store = new ResultStore();
  store.record(result('lab', 'customers_portal', { reason: 'proxy', message: `proxy ${PROXY_URL} refused CONNECT customers.gitlab.com:443` }));
  store.record(result('lab', 'code_suggestions', { reason: 'auth', message: `401 for Bearer ${SENTINELS.duoToken}`, notes: [`sent PRIVATE-TOKEN ${SENTINELS.adminToken}`] }));
  store.record(result('lab', 'license', { message: 'online_cloud licence, synced 2 h ago', facts: [{ name: 'gitlab_duo_license_info', labels: { type: 'online_cloud', plan: 'ultimate' }, value: 1 }] }));
  store.record(result('lab', 'instance_settings', { reason: 'requirement_not_met', message: 'Silent Mode is on' }));
  return store;
}

const findProbe = (report: Report, instance: string, probe: string) => report.instances.find((i) => i.name === instance)!.probes.find((p) => p.name === probe)!;

const fixturePlan = await testPlan();

describe('the readiness report', () => {
  const plan = fixturePlan;
  const report = buildReport(plan, leakyStore(), NOW);

  it('carries no token, no URL userinfo and no proxy credentials, in any format or on the status page', () => {
    const outputs = [renderReport(report, 'json'), renderReport(report, 'markdown'), renderReport(report, 'text'), renderStatusPage(plan, leakyStore(), NOW)];
    for (const output of outputs) {
      for (const secret of Object.values(SENTINELS)) expect(output).not.toContain(secret);
      expect(output).not.toMatch(/:\/\/[^\s/"'<>]*@/); // no URL with userinfo at all
    }
    expect(report.instances[0]!.url).toBe('https://gitlab.example.com');
    expect(findProbe(report, 'lab', 'customers_portal').message).toBe('proxy http://proxy.example:3128 refused CONNECT customers.gitlab.com:443');
    expect(findProbe(report, 'lab', 'code_suggestions').message).toBe('401 for Bearer <redacted>');
  });

  it('has a schema version, the exporter version and time, and a readiness summary per instance', () => {
    expect(report).toMatchObject({ schemaVersion: REPORT_SCHEMA_VERSION, exporterVersion: VERSION, generatedAt: NOW.toISOString(), ready: false });
    expect(REPORT_SCHEMA_VERSION).toBe(1);
    const lab = report.instances[0]!;
    expect(lab.ready).toBe(false);
    expect(lab.summary).toMatchObject({ passed: 1, failed: 3 });
    expect(lab.summary.blocking).toEqual(expect.arrayContaining(['customers_portal', 'code_suggestions', 'instance_settings', 'cloud_connector']));
    expect(lab.summary.text).toMatch(/^NOT ready: customers_portal, code_suggestions, instance_settings fail; waiting for the first run of /);
  });

  it('says what each probe tested and against what, and explains each failure with a fix', () => {
    const failing = findProbe(report, 'lab', 'instance_settings');
    expect(failing).toMatchObject({
      status: 'fail',
      reason: 'requirement_not_met',
      explanation: explainReason('requirement_not_met'),
      proves: expect.stringContaining('Silent Mode'),
      target: 'https://gitlab.example.com/api/v4/application/settings',
      token: 'admin',
      fix: fixAdvice('instance_settings', 'requirement_not_met', 'admin'),
    });
    expect(failing.fix!.docs.path).toBe('docs/probes.md#instance_settings');
    expect(failing.fix!.runbook?.path).toBe('docs/runbook.md#gitlabduosettingsprobefailed');
    expect(findProbe(report, 'lab', 'code_suggestions').fix!.advice).toContain('ai_features');
    const passing = findProbe(report, 'lab', 'license');
    expect(passing.status).toBe('pass');
    expect(passing).not.toHaveProperty('fix');
    expect(passing).not.toHaveProperty('explanation');
  });

  it('names what would enable each skipped probe', () => {
    expect(findProbe(report, 'bare', 'license')).toMatchObject({ status: 'skipped', token: 'admin', enableWith: expect.stringContaining(TOKEN_ADVICE.admin) });
    expect(findProbe(report, 'bare', 'code_suggestions').enableWith).toContain(TOKEN_ADVICE.duo_user);
    expect(findProbe(report, 'bare', 'composite_identity').enableWith).toBe('Set probes.composite_identity.enabled: true (the config turns it off).');
    expect(findProbe(report, 'bare', 'ai_gateway').enableWith).toContain('endpoints.ai_gateway');
    expect(findProbe(report, 'lab', 'proxy_env').enableWith).toContain('Omnibus');
    expect(report.instances[1]!.summary.text).toContain('skipped');
  });

  it('renders the explanation and fix of a failure in text and markdown', () => {
    const fix = fixAdvice('instance_settings', 'requirement_not_met', 'admin');
    const text = renderReport(report, 'text');
    expect(text).toContain(`reason: requirement_not_met: ${explainReason('requirement_not_met')}`);
    expect(text).toContain(`fix: ${fix.advice}`);
    expect(text).toContain('see: docs/probes.md#instance_settings, docs/runbook.md#gitlabduosettingsprobefailed');
    expect(text).toContain(`to enable: ${findProbe(report, 'bare', 'license').enableWith}`);
    const md = renderReport(report, 'markdown');
    expect(md).toContain('#### instance_settings: requirement_not_met');
    expect(md).toContain(`**Fix:** ${fix.advice} See [docs/probes.md#instance_settings](${fix.docs.url}), runbook [GitLabDuoSettingsProbeFailed](${fix.runbook!.url}).`);
    expect(md).toContain('### Skipped probes');
    expect(JSON.parse(renderReport(report, 'json'))).toEqual(JSON.parse(JSON.stringify(report)));
  });

  it('docs/report.md documents every field the JSON report has', () => {
    const doc = readFileSync(new URL('../../docs/report.md', import.meta.url), 'utf8');
    const documented = new Set([...doc.matchAll(/^\| `([a-zA-Z.[\]]+)`/gm)].map((m) => m[1]!));
    const missing = [...fieldPaths(JSON.parse(renderReport(report, 'json')), '')].filter((path) => !documented.has(path));
    expect(missing).toEqual([]);
  });
});

describe('stripUserinfo', () => {
  it('removes user:password@ from every URL, even with a raw @ in the password, and leaves other text alone', () => {
    expect(stripUserinfo('via http://u:p@ss@proxy:3128/x and https://a@b.example')).toBe('via http://proxy:3128/x and https://b.example');
    expect(stripUserinfo('mail me@example.com at https://host/path?q=a@b')).toBe('mail me@example.com at https://host/path?q=a@b');
  });
});

/** Every field path of a JSON value: `instances[].probes[].fix.advice`; phases and fact labels as a whole. */
function fieldPaths(value: unknown, prefix: string, out = new Set<string>()): Set<string> {
  if (Array.isArray(value)) {
    for (const item of value) fieldPaths(item, `${prefix}[]`, out);
  } else if (value !== null && typeof value === 'object') {
    for (const [key, child] of Object.entries(value)) {
      const path = prefix === '' ? key : `${prefix}.${key}`;
      out.add(path);
      // Phases and fact labels are maps with open keys, documented as a whole.
      if (!path.endsWith('.phases') && !path.endsWith('.labels')) fieldPaths(child, path, out);
    }
  }
  return out;
}
