import { existsSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { describe, it, expect } from 'vitest';
import { FAILURE_REASONS, PROBE_NAMES, REASONS_BY_PROBE, RECORDING_RULES } from './contract-metrics.js';
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
  metricNames,
  readText,
  readYaml,
  recordingRules,
  ruleTestFiles,
  type AlertRule,
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

  it('a failure_reason selector pinning probes asks only for reasons those probes declare', () => {
    const exprs = [...alerts, ...recordingRules()].map((r) => r.expr);
    const templates = alerts.flatMap((a) => Object.values(a.annotations ?? {}));
    let checked = 0;
    for (const text of [...exprs, ...templates]) {
      for (const [selector] of text.matchAll(/gitlab_duo_probe_failure_reason\{[^}]*\}/g)) {
        const probes = labelValues(selector, 'probe');
        const reasons = labelValues(selector, 'reason');
        for (const probe of probes) for (const reason of reasons) expect(REASONS_BY_PROBE[probe], `${probe}: ${reason} in ${selector}`).toContain(reason);
        checked += probes.length * reasons.length;
      }
    }
    // GitLabDuoHTTP2Downgraded pins instance_http2 and http2_not_negotiated.
    expect(checked).toBeGreaterThan(0);
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

/**
 * Issue 13: gitlab_duo_probe_success (and everything derived from a run's failure) holds the LAST
 * run for the probe's whole interval, so `for` cannot tell one failed run from an outage. Every
 * alert on a probe's failure pages on a failure confirmed by a re-check:
 * gitlab_duo_probe_consecutive_failures >= 2.
 */
const FAILURE_SERIES = ['gitlab_duo_probe_success', 'gitlab_duo_probe_failure_reason', 'gitlab_duo_ready', 'gitlab_duo_health_check_probe_success'];
const CONFIRMED = /\band on \(job, instance, gitlab(?:, probe)?\)\s+\(?\s*gitlab_duo_probe_consecutive_failures(?:\{[^}]*\})? >= 2\b/;
const isConfirmed = (a: AlertRule): boolean => CONFIRMED.test(a.expr);

describe('confirmed failures (re-check before paging)', () => {
  const failureAlerts = alerts.filter((a) => metricNames(a.expr).some((n) => FAILURE_SERIES.includes(n)) && a.alert !== 'GitLabDuoProbeFlapping');

  it('the alerts on a probe failure are the expected set', () => {
    expect([...new Set(failureAlerts.map((a) => a.alert))].sort()).toEqual(
      [
        'GitLabDuoExchangeProbeFailed',
        'GitLabDuoHTTP2Downgraded',
        'GitLabDuoHealthCheckFailed',
        'GitLabDuoInstanceUnreachable',
        'GitLabDuoNetworkProbeFailed',
        'GitLabDuoNodeProbeFailed',
        'GitLabDuoNotReady',
        'GitLabDuoProbeFailedOnSomeNodes',
        'GitLabDuoSettingsProbeFailed',
        'GitLabDuoSyncProbeFailed',
        'GitLabDuoWebSocketCableBlocked',
        'GitLabDuoChatNotAnswering',
      ].sort(),
    );
  });

  it.each(failureAlerts.map((a) => [`${a.alert} (${a.labels?.severity})`, a] as const))('%s requires consecutive_failures >= 2', (_name, a) => {
    expect(a.expr).toMatch(CONFIRMED);
    // Joined with `and` at the top level: inside an `or` branch it would confirm only that branch.
    const top = a.expr.replace(/\([^()]*(?:\([^()]*(?:\([^()]*\)[^()]*)*\)[^()]*)*\)/g, '(…)');
    expect(top, 'no top-level `or`: it would bypass the confirmation').not.toMatch(/\bor\b/);
  });

  it.each(failureAlerts.map((a) => [`${a.alert} (${a.labels?.severity})`, a] as const))(
    '%s says what it measures: failed runs in a row, confirmed by a re-check',
    (_name, a) => {
      const d = a.annotations?.description ?? '';
      expect(d).toContain('confirmed by a re-check');
      expect(d).toContain('gitlab_duo_probe_consecutive_failures');
      expect(d, 'no "for N minutes": the condition is a confirmed failure, not a duration').not.toMatch(/\bfor \d+ minutes\b|failing for \d+/);
    },
  );

  it('GitLabDuoProbeFlapping, the signal for intermittent failures, does not require a confirmation', () => {
    const flapping = alerts.filter((a) => a.alert === 'GitLabDuoProbeFlapping');
    expect(flapping).toHaveLength(1);
    for (const a of flapping) expect(isConfirmed(a)).toBe(false);
  });

  it('a duration a description states is the rule\'s `for`', () => {
    for (const a of alerts) {
      for (const m of (a.annotations?.description ?? '').matchAll(/\bfor (\d+) minutes\b/g)) {
        expect(`${m[1]}m`, a.alert).toBe(a.for);
      }
    }
  });
});

interface Matcher {
  readonly label: string;
  readonly op: string;
  readonly value: string;
}

interface InhibitRule {
  readonly source_matchers?: readonly string[];
  readonly target_matchers?: readonly string[];
  readonly equal?: readonly string[];
}

function parseMatcher(text: string): Matcher {
  const m = /^\s*(\w+)\s*(=~|!~|!=|=)\s*"(.*)"\s*$/.exec(text);
  if (!m) throw new Error(`cannot parse matcher ${text}`);
  return { label: m[1] ?? '', op: m[2] ?? '', value: m[3] ?? '' };
}

/** Whether a static label value satisfies the Alertmanager matchers on that label (anchored regexes). */
function matches(matchers: readonly Matcher[], label: string, value: string | undefined): boolean {
  return matchers
    .filter((m) => m.label === label)
    .every((m) => {
      const v = value ?? '';
      if (m.op === '=') return v === m.value;
      if (m.op === '!=') return v !== m.value;
      const re = new RegExp(`^(?:${m.value})$`);
      return m.op === '=~' ? re.test(v) : !re.test(v);
    });
}

/** The probes an alert can carry: its static probe label, or the probes its selectors pin. */
function probesOf(a: AlertRule): readonly string[] | undefined {
  if (a.labels?.probe !== undefined) return [a.labels.probe];
  const pinned = labelValues(a.expr, 'probe');
  return pinned.length > 0 ? pinned : undefined;
}

const seconds = (d: string | undefined): number => {
  const m = /^(\d+)([smhd])$/.exec(d ?? '0s');
  return Number(m?.[1] ?? 0) * { s: 1, m: 60, h: 3600, d: 86400 }[(m?.[2] ?? 's') as 's' | 'm' | 'h' | 'd'];
};

/**
 * The `for` ladder: along every inhibit rule of alertmanager.example.yml, the alert that mutes
 * must be firing before the one it mutes. A fact counts from the run that read it, a confirmed
 * failure from its confirmation, one run (R > 0) later; recheck_after is 1m by default.
 */
describe('the `for` ladder keeps the example\'s inhibitions working', () => {
  const RECHECK_S = 60;
  const inhibitRules = (readYaml('alerts/alertmanager.example.yml') as { inhibit_rules: InhibitRule[] }).inhibit_rules;
  const pairs: { rule: number; source: AlertRule; target: AlertRule }[] = [];
  inhibitRules.forEach((rule, i) => {
    const source = (rule.source_matchers ?? []).map(parseMatcher);
    const target = (rule.target_matchers ?? []).map(parseMatcher);
    // Rules 1-2 (the exporter is gone) mute stale data, whatever its timing; rule 3 pairs two
    // severities of one alert.
    if (!source.some((m) => m.label === 'alertname') || !target.some((m) => m.label === 'alertname')) return;
    if (source.some((m) => m.label === 'alertname' && /Exporter/.test(m.value))) return;
    for (const s of alerts) {
      if (!matches(source, 'alertname', s.alert) || !matches(source, 'severity', s.labels?.severity)) continue;
      for (const t of alerts) {
        if (t.alert === s.alert || !matches(target, 'alertname', t.alert) || !matches(target, 'severity', t.labels?.severity)) continue;
        if (rule.equal?.includes('severity') && s.labels?.severity !== t.labels?.severity) continue;
        const [ps, pt] = [probesOf(s), probesOf(t)];
        if (rule.equal?.includes('probe') && ps && pt && !ps.some((p) => pt.includes(p))) continue;
        pairs.push({ rule: i + 1, source: s, target: t });
      }
    }
  });

  it('covers the inhibitions between specific alerts', () => {
    expect(pairs.length).toBeGreaterThan(30);
    const names = new Set(pairs.flatMap((p) => [p.source.alert, p.target.alert]));
    for (const n of ['GitLabDuoSilentModeEnabled', 'GitLabDuoHealthCheckFailed', 'GitLabDuoInstanceUnreachable', 'GitLabDuoWebSocketCableBlocked', 'GitLabDuoNotReady']) {
      expect(names, n).toContain(n);
    }
    // GitLabDuoNotReady last: every critical alert that explains it (rule 8) comes first.
    expect(pairs.filter((p) => p.target.alert === 'GitLabDuoNotReady').length).toBeGreaterThanOrEqual(15);
  });

  it('the muting alert fires first', () => {
    const wrong: string[] = [];
    const show = (a: AlertRule) => `${a.alert} (${a.labels?.severity}, for ${a.for}${isConfirmed(a) ? ' after the re-check' : ''})`;
    for (const { rule, source, target } of pairs) {
      // When only the target waits for a confirmation, equal `for`s are enough: it is a run later.
      const firstAnyway = !isConfirmed(source) && isConfirmed(target);
      const s = seconds(source.for) + (isConfirmed(source) ? RECHECK_S : 0);
      const t = seconds(target.for) + (isConfirmed(target) ? RECHECK_S : 0);
      const ok = firstAnyway ? seconds(source.for) <= seconds(target.for) : s < t;
      if (!ok) wrong.push(`inhibit rule ${rule}: ${show(source)} does not fire before ${show(target)}`);
    }
    expect(wrong).toEqual([]);
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
