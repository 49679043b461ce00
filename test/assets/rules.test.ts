import { existsSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { describe, it, expect } from 'vitest';
import { FAILURE_REASONS, PROBE_NAMES, RECORDING_RULES } from './contract-metrics.js';
import {
  JOB_SELECTOR,
  ROOT,
  RULES_FILE,
  RUNBOOK_FILE,
  RUNBOOK_URL,
  alertCases,
  alertRules,
  githubAnchor,
  labelValues,
  markdownAnchors,
  markdownHeadings,
  markdownLinks,
  readText,
  recordingRules,
  ruleTestFiles,
} from './helpers.js';

const alerts = alertRules();
const alertNames = [...new Set(alerts.map((a) => a.alert))];
const SEVERITIES = ['critical', 'warning', 'info'];

describe('alert rules', () => {
  it('exist', () => {
    expect(alerts.length).toBeGreaterThan(20);
  });

  it.each(alerts.map((a) => [`${a.alert} (${a.labels?.severity})`, a] as const))('%s has the required fields', (_name, a) => {
    expect(a.alert).toMatch(/^GitLabDuo[A-Z][A-Za-z0-9]+$/);
    expect(a.for, 'for').toMatch(/^\d+[smhd]$/);
    expect(SEVERITIES).toContain(a.labels?.severity);
    const ann = a.annotations ?? {};
    expect(ann.summary, 'summary').toBeTruthy();
    expect(ann.summary, 'summary must be static').not.toContain('{{');
    expect(ann.summary).toMatch(/^[A-Z].*\.$/);
    expect(ann.description, 'description').toBeTruthy();
    expect(ann.description, 'description must be templated').toContain('{{');
    expect(ann.runbook_url).toBe(`${RUNBOOK_URL}#${a.alert.toLowerCase()}`);
    if (ann.dashboard_url !== undefined) {
      expect(ann.dashboard_url).toMatch(/^https:\/\/grafana\.example\.com\/d\/gitlab-duo-(overview|probe)\//);
    }
    for (const [k, v] of Object.entries(a.labels ?? {})) {
      expect(v, `label ${k} must be static`).not.toMatch(/\{\{|\$value/);
    }
  });

  it('per-probe alerts name the gitlab and the probe in their description', () => {
    for (const a of alerts) {
      const d = a.annotations?.description ?? '';
      if (a.alert.startsWith('GitLabDuoExporter')) continue;
      expect(d, a.alert).toContain('{{ $labels.gitlab }}');
      if (/ProbeFailed|Unreachable|Blocked|Downgraded|Latency|Slow|Flapping|NotRunning|Certificate|Cloudflare/.test(a.alert)) {
        expect(d, a.alert).toContain('{{ $labels.probe }}');
      }
      if (/ProbeFailed|Unreachable|Blocked/.test(a.alert)) {
        expect(d, `${a.alert} shows the failure reason`).toContain('gitlab_duo_probe_failure_reason');
      }
    }
  });

  it('an alert name with two rules has one rule per severity', () => {
    for (const name of alertNames) {
      const severities = alerts.filter((a) => a.alert === name).map((a) => a.labels?.severity);
      expect(new Set(severities).size, name).toBe(severities.length);
    }
  });

  it('select probes and reasons from the closed sets only', () => {
    for (const rule of [...alerts, ...recordingRules()]) {
      for (const probe of labelValues(rule.expr, 'probe')) expect(PROBE_NAMES as string[], rule.expr).toContain(probe);
      for (const reason of labelValues(rule.expr, 'reason')) expect(FAILURE_REASONS, rule.expr).toContain(reason);
      const staticProbe = rule.labels?.probe;
      if (staticProbe !== undefined) expect(PROBE_NAMES as string[]).toContain(staticProbe);
    }
  });

  it('every catalog probe failing is covered by exactly one failure rule', () => {
    const failureAlerts = alerts.filter((a) => /gitlab_duo_probe_success\{/.test(a.expr));
    for (const probe of PROBE_NAMES) {
      const covering = failureAlerts.filter((a) => labelValues(a.expr, 'probe').includes(probe));
      expect(covering.map((a) => a.alert), probe).toHaveLength(1);
    }
  });

  it('use one scrape-job selector, which the unit tests use too', () => {
    const withoutComments = readText(RULES_FILE).replace(/^\s*#.*$/gm, '');
    const selectors = [...withoutComments.matchAll(/job\s*(=|=~|!=|!~)\s*"[^"]*"/g)].map((m) => m[0]);
    expect(selectors.length).toBeGreaterThan(0);
    for (const s of selectors) expect(s).toBe(JOB_SELECTOR);
    expect(alerts.filter((a) => a.expr.includes('job=')).map((a) => a.alert).sort()).toEqual([
      'GitLabDuoExporterAbsent',
      'GitLabDuoExporterDown',
    ]);
    // The sed line of docs/alerts.md renames the job in the rules and in every test file at once.
    for (const file of ruleTestFiles()) expect(readText(file), file).toContain(JOB_SELECTOR);
  });

  it('recording rules are the ones the contract module lists', () => {
    expect([...new Set(recordingRules().map((r) => r.record))].sort()).toEqual([...RECORDING_RULES].sort());
  });

  it('every latency threshold belongs to a catalog probe, and every catalog probe has one', () => {
    const thresholds = recordingRules().filter((r) => r.record === 'probe:gitlab_duo_probe_latency_seconds:p95_threshold');
    expect(thresholds.map((r) => r.labels?.probe).sort()).toEqual([...PROBE_NAMES].sort());
  });
});

describe('promtool unit tests', () => {
  const cases = alertCases();

  it.each(alertNames)('%s fires in a test and stays silent in another', (name) => {
    const mine = cases.filter((c) => c.alertname === name);
    expect(mine.some((c) => c.expAlerts.length > 0), `${name}: no case where it fires`).toBe(true);
    expect(mine.some((c) => c.expAlerts.length === 0), `${name}: no case where it stays silent`).toBe(true);
  });

  it.each(alerts.map((a) => [`${a.alert} (${a.labels?.severity})`, a] as const))(
    '%s is asserted with this severity and its full annotations',
    (_name, a) => {
      const firing = alertCases()
        .filter((c) => c.alertname === a.alert)
        .flatMap((c) => c.expAlerts)
        .filter((e) => e.exp_labels?.severity === a.labels?.severity);
      expect(firing.length, 'no firing case for this severity').toBeGreaterThan(0);
      const keys = Object.keys(a.annotations ?? {}).sort();
      for (const e of firing) {
        expect(Object.keys(e.exp_annotations ?? {}).sort()).toEqual(keys);
        for (const [k, v] of Object.entries(a.labels ?? {})) expect(e.exp_labels?.[k], k).toBe(v);
      }
    },
  );

  it('load the shipped rules file', () => {
    for (const file of ruleTestFiles()) {
      expect(readText(file), file).toMatch(/rule_files:\s*\n\s*- \.\.\/gitlab-duo\.rules\.yml/);
    }
  });
});

describe('runbook', () => {
  const runbook = readText(RUNBOOK_FILE);
  const anchors = markdownAnchors(runbook);

  it.each(alertNames)('has a section for %s', (name) => {
    expect(anchors.has(name.toLowerCase())).toBe(true);
    expect(githubAnchor(name)).toBe(name.toLowerCase());
  });

  it('has no section for an alert that does not exist', () => {
    const sections = markdownHeadings(runbook, 2).filter((h) => h.startsWith('GitLabDuo'));
    expect(sections.sort()).toEqual([...alertNames].sort());
  });

  it.each(['docs/runbook.md', 'docs/alerts.md'])('%s has no broken relative link or anchor', (file) => {
    const text = readText(file);
    for (const link of markdownLinks(text)) {
      if (/^[a-z]+:/.test(link)) continue;
      const [path = '', anchor] = link.split('#');
      const target = path === '' ? file : normalize(join(dirname(file), path));
      expect(existsSync(join(ROOT, target)), `${file}: ${link}`).toBe(true);
      if (anchor !== undefined && target.endsWith('.md')) {
        expect(markdownAnchors(readText(target)).has(anchor), `${file}: ${link}`).toBe(true);
      }
    }
  });

  it('docs/alerts.md lists every alert', () => {
    const doc = readText('docs/alerts.md');
    for (const name of alertNames) expect(doc, name).toContain(`[${name}](runbook.md#${name.toLowerCase()})`);
  });
});
