import { describe, expect, it } from 'vitest';
import { FAILURE_REASONS, type FailureReason } from '../../src/core/errors.js';
import { FACT_FAMILIES, type FactName } from '../../src/core/facts.js';
import { PROBE_NAMES, findProbe } from '../../src/probes/index.js';
import { CAUSAL_GRAPH, GITLAB_CHECKS, type CausalEdge } from '../../src/report/causes.js';
import { alertRules, metricNames, readYaml, type AlertRule } from './helpers.js';

/**
 * Issue 13: the report's causal graph (src/report/causes.ts) and Alertmanager's inhibit rules
 * (alerts/alertmanager.example.yml) must not disagree. From the graph and the alert rules this test
 * derives which alert must mute which, and checks the example's inhibit_rules both ways:
 *
 * - For an edge whose paging is `cause only`, when an alert that names the cause fires together with
 *   every probe-failure alert of its effects, Alertmanager suppresses those failure alerts (directly,
 *   or through a more specific alert of the same probe that fires with them, rule 4) and not the cause.
 * - For an edge whose paging is `both`, the cause's alert mutes none of them.
 * - Every inhibition the file makes between alerts of two different probes is such a derived one.
 *
 * Alerts map to the graph through their expressions: the probes are the expression's `probe`
 * selectors (or the alert's `probe` label), or every catalog probe for a failure alert that starts
 * from a per-probe result and pins none (GitLabDuoProbeFailedOnSomeNodes, a fleet's node failing
 * any required probe); an alert whose expression starts with a fact the probe
 * exports names a cause (failure reason requirement_not_met, the fact being its subject); a
 * failure reason selector narrows the reasons (`unless` one excludes it). Only alerts that read the
 * probe's result (gitlab_duo_probe_success, gitlab_duo_probe_consecutive_failures) say "probe X
 * fails" and can be muted; an alert that names a cause always pages. Same-probe inhibitions (a fact
 * mutes the failure of the probe that reads it, latency and flapping) and the exporter-wide ones
 * (exporter down, GitLabDuoNotReady) are not about the graph and are left to the other tests.
 */

interface Matcher {
  readonly label: string;
  readonly op: '=' | '!=' | '=~' | '!~';
  readonly value: string;
}

interface InhibitRule {
  readonly source_matchers?: readonly string[];
  readonly target_matchers?: readonly string[];
  readonly equal?: readonly string[];
}

interface ParsedRule {
  readonly index: number;
  readonly source: readonly Matcher[];
  readonly target: readonly Matcher[];
  readonly equal: readonly string[];
}

/** One alert as Alertmanager would receive it, with what it says in the graph's terms. */
interface AlertInstance {
  readonly labels: Readonly<Record<string, string>>;
  readonly probe: string;
  readonly severity: string;
  /** The failure reasons of the probe this alert can fire for. */
  readonly reasons: readonly FailureReason[];
  /** The fact the expression is about, for an alert that names a cause. */
  readonly subject: FactName | undefined;
  /** It says "the probe fails": a probe-failure alert, which a cause may mute. */
  readonly failure: boolean;
  /**
   * It fires only where the probe fails on every node of the fleet (`unless … passes_elsewhere`).
   * With such a cause, the effect fails on every node too, so the effect's fleet alert (which needs a
   * node where it passes) cannot fire with it and need not be muted by it.
   */
  readonly everywhere: boolean;
}

const COMMON = { job: 'gitlab-duo-exporter', instance: 'gitlab-node-1:10420', gitlab: 'gitlab-prod' };

function parseMatcher(text: string): Matcher {
  const m = /^\s*([A-Za-z_]\w*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*$/.exec(text) ?? /^\s*([A-Za-z_]\w*)\s*(=~|!~|!=|=)\s*([^"\s]*)\s*$/.exec(text);
  if (!m) throw new Error(`cannot parse matcher ${text}`);
  return { label: m[1]!, op: m[2] as Matcher['op'], value: m[3]! };
}

/** Alertmanager's semantics: every matcher holds, a missing label is the empty string, regexes anchored. */
function matchesAll(matchers: readonly Matcher[], labels: Readonly<Record<string, string>>): boolean {
  return matchers.every((m) => {
    const v = labels[m.label] ?? '';
    if (m.op === '=') return v === m.value;
    if (m.op === '!=') return v !== m.value;
    const re = new RegExp(`^(?:${m.value})$`);
    return m.op === '=~' ? re.test(v) : !re.test(v);
  });
}

const RULES: readonly ParsedRule[] = (readYaml('alerts/alertmanager.example.yml') as { inhibit_rules: InhibitRule[] }).inhibit_rules.map((r, i) => ({
  index: i + 1,
  source: (r.source_matchers ?? []).map(parseMatcher),
  target: (r.target_matchers ?? []).map(parseMatcher),
  equal: r.equal ?? [],
}));

/** The rules by which `source` firing suppresses `target`. */
function inhibitedBy(source: AlertInstance, target: AlertInstance): ParsedRule[] {
  return RULES.filter(
    (r) => matchesAll(r.source, source.labels) && matchesAll(r.target, target.labels) && r.equal.every((l) => (source.labels[l] ?? '') === (target.labels[l] ?? '')),
  );
}

/** Label values an expression pins with `=` or `=~` (a `!=` selector pins nothing). */
function pinned(expr: string, label: string): string[] {
  return [...expr.matchAll(new RegExp(`\\b${label}\\s*(=~|=)\\s*"([^"]*)"`, 'g'))].flatMap((m) => (m[2] ?? '').split('|')).filter((v) => v !== '');
}

/** The failure reasons an alert's expression lets through. */
function reasonsOf(expr: string, subject: FactName | undefined): FailureReason[] {
  const only: FailureReason[] = [];
  const excluded: FailureReason[] = [];
  for (const m of expr.matchAll(/gitlab_duo_probe_failure_reason\{[^}]*\breason\s*=\s*"([^"]+)"[^}]*\}/g)) {
    // The set operator that brings the selector in: the last one before it.
    const before = expr.slice(0, m.index).match(/\b(unless|and|or)\b/g) ?? [];
    (before[before.length - 1] === 'unless' ? excluded : only).push(...(m[1]!.split('|') as FailureReason[]));
  }
  if (only.length > 0) return only;
  if (subject) return ['requirement_not_met'];
  return FAILURE_REASONS.filter((r) => !excluded.includes(r));
}

/** Per-probe results: an alert reading one of them says "probe X fails". */
const RESULT_SERIES = ['gitlab_duo_probe_success', 'gitlab_duo_probe_consecutive_failures'];

function instancesOf(rule: AlertRule): AlertInstance[] {
  const names = metricNames(rule.expr);
  const failure = names.some((n) => RESULT_SERIES.includes(n));
  const named = [...new Set([...pinned(rule.expr, 'probe'), ...(rule.labels?.probe ? [rule.labels.probe] : [])])];
  // GitLabDuoNotReady starts from gitlab_duo_ready (no probe label): exporter-wide, not expanded.
  const anyProbe = named.length === 0 && failure && RESULT_SERIES.includes(names[0] ?? '');
  const probes = anyProbe ? [...PROBE_NAMES] : named;
  const severity = rule.labels?.severity ?? '';
  return probes.flatMap((probe) => {
    const first = names[0] as FactName | undefined;
    const subject = first !== undefined && first in FACT_FAMILIES && (findProbe(probe)?.facts ?? []).includes(first) ? first : undefined;
    const reasons = reasonsOf(rule.expr, subject);
    const base = { ...COMMON, alertname: rule.alert, severity, probe };
    // GitLab's health-check results: one alert per check GitLab ran.
    const perCheck = subject !== undefined && (FACT_FAMILIES[subject].labels as readonly string[]).includes('check');
    const labelSets = perCheck ? GITLAB_CHECKS.map((check): Record<string, string> => ({ ...base, check, target: '' })) : [base];
    const everywhere = rule.expr.includes('passes_elsewhere') && rule.alert !== FLEET_ALERT;
    return labelSets.map((labels) => ({ labels, probe, severity, reasons, subject, failure, everywhere }));
  });
}

const FLEET_ALERT = 'GitLabDuoProbeFailedOnSomeNodes';
const ALERTS: readonly AlertInstance[] = alertRules().flatMap(instancesOf);

const show = (a: AlertInstance): string => `${a.labels.alertname}{probe="${a.probe}"${a.labels.check ? `,check="${a.labels.check}"` : ''},severity="${a.severity}"}`;

/** Alerts that name the edge's cause: critical, of the cause's probe, implying its reasons and facts. */
function sourcesOf(edge: CausalEdge): AlertInstance[] {
  const causeFacts = (edge.cause.facts ?? []).map((f) => f.name);
  return ALERTS.filter(
    (a) =>
      a.severity === 'critical' &&
      a.probe === edge.cause.probe &&
      a.reasons.every((r) => (edge.cause.reasons ?? FAILURE_REASONS).includes(r)) &&
      (causeFacts.length === 0 || (a.subject !== undefined && causeFacts.includes(a.subject))),
  );
}

/** The probe-failure alerts of the edge's effects that can fire for the reasons (and GitLab checks) it explains. */
function targetsOf(edge: CausalEdge): AlertInstance[] {
  return ALERTS.filter((a) => {
    if (!a.failure) return false;
    const effect = edge.effects.find((e) => e.probe === a.probe);
    if (!effect) return false;
    if (!a.reasons.some((r) => (effect.reasons ?? FAILURE_REASONS).includes(r))) return false;
    return !a.labels.check || !effect.checks || (effect.checks as readonly string[]).includes(a.labels.check);
  });
}

/** Alerts naming the effects' own facts, which fire with them (LicenseSyncStale under Silent Mode). */
function effectFactAlertsOf(edge: CausalEdge): AlertInstance[] {
  return ALERTS.filter((a) => a.severity === 'critical' && !a.failure && edge.effects.some((e) => e.probe === a.probe && (e.facts ?? []).some((f) => f.name === a.subject)));
}

describe('the alert rules as the graph sees them', () => {
  it('finds the alerts that name each cause the graph gives an alert for', () => {
    for (const edge of CAUSAL_GRAPH.filter((e) => e.fix?.alert !== undefined)) {
      const alert = edge.fix!.alert!;
      expect(ALERTS.map((a) => a.labels.alertname), `${edge.id}: ${alert}`).toContain(alert);
      // For a cause that a fact names, the alert on that fact is the one that pages.
      if (edge.cause.facts) expect([...new Set(sourcesOf(edge).map((a) => a.labels.alertname))], edge.id).toEqual([alert]);
    }
    expect(sourcesOf(CAUSAL_GRAPH.find((e) => e.id === 'instance_unreachable')!).map(show)).toEqual(['GitLabDuoInstanceUnreachable{probe="instance_http2",severity="critical"}']);
  });

  it('reads the probes, reasons and facts of the alerts right', () => {
    const one = (name: string, probe: string) => ALERTS.find((a) => a.labels.alertname === name && a.probe === probe)!;
    expect(one('GitLabDuoInstanceUnreachable', 'instance_http2').reasons).not.toContain('http2_not_negotiated');
    expect(one('GitLabDuoHTTP2Downgraded', 'instance_http2').reasons).toEqual(['http2_not_negotiated']);
    expect(one('GitLabDuoSilentModeEnabled', 'instance_settings')).toMatchObject({ subject: 'gitlab_duo_silent_mode_enabled', failure: false });
    expect(one('GitLabDuoHealthCheckFailed', 'health_check')).toMatchObject({ subject: 'gitlab_duo_health_check_probe_success', failure: true, reasons: ['requirement_not_met'] });
    expect(one('GitLabDuoExchangeProbeFailed', 'duo_workflow_tools')).toMatchObject({ failure: true, reasons: FAILURE_REASONS });
    expect(ALERTS.filter((a) => a.labels.alertname === 'GitLabDuoProbeLatencyHigh')).toEqual([]);
    // The fleet alert stands for every probe; the exporter-wide catch-all for none.
    expect(ALERTS.filter((a) => a.labels.alertname === 'GitLabDuoProbeFailedOnSomeNodes').map((a) => a.probe).sort()).toEqual([...PROBE_NAMES].sort());
    expect(one('GitLabDuoProbeFailedOnSomeNodes', 'code_suggestions')).toMatchObject({ failure: true, reasons: FAILURE_REASONS, subject: undefined });
    expect(ALERTS.filter((a) => a.labels.alertname === 'GitLabDuoNotReady')).toEqual([]);
  });
});

describe.each(CAUSAL_GRAPH.filter((e) => sourcesOf(e).length > 0).map((e) => [e.id, e] as const))('edge %s', (_id, edge) => {
  const sources = sourcesOf(edge);
  const targets = targetsOf(edge);

  if (edge.paging === 'cause only') {
    it('pages once: the alert naming the cause mutes the failure alerts of what it breaks', () => {
      const wrong: string[] = [];
      for (const source of sources) {
        const incident = [source, ...targets, ...effectFactAlertsOf(edge)];
        const suppressed = (a: AlertInstance) => incident.some((other) => other !== a && inhibitedBy(other, a).length > 0);
        const together = targets.filter((t) => !(source.everywhere && t.labels.alertname === FLEET_ALERT));
        for (const target of together) if (!suppressed(target)) wrong.push(`${show(source)} fires, ${show(target)} still pages`);
        if (suppressed(source)) wrong.push(`${show(source)}, the cause, is muted`);
      }
      expect(targets.length).toBeGreaterThan(0);
      expect(wrong).toEqual([]);
    });
  } else {
    it(`pages both (${edge.paging.both})`, () => {
      const wrong = sources.flatMap((s) => targets.filter((t) => inhibitedBy(s, t).length > 0).map((t) => `${show(s)} mutes ${show(t)}`));
      expect(wrong).toEqual([]);
    });
  }
});

describe('alertmanager.example.yml', () => {
  it('mutes a failure of one probe for an alert of another only where the graph says the one causes the other', () => {
    const unexplained: string[] = [];
    for (const source of ALERTS) {
      for (const target of ALERTS.filter((t) => t.failure && t.probe !== source.probe)) {
        const rules = inhibitedBy(source, target);
        if (rules.length === 0) continue;
        const justified = CAUSAL_GRAPH.some((e) => e.paging === 'cause only' && sourcesOf(e).includes(source) && targetsOf(e).includes(target));
        if (!justified) unexplained.push(`rule ${rules.map((r) => r.index).join(', ')}: ${show(source)} mutes ${show(target)}`);
      }
    }
    expect(unexplained).toEqual([]);
  });
});
