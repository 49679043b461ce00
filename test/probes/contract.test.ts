import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseDuration } from '../../src/config/duration.js';
import { FAILURE_REASONS } from '../../src/core/errors.js';
import { FACT_FAMILIES } from '../../src/core/facts.js';
import { PHASES } from '../../src/core/run.js';
import { TOKEN_DESCRIPTIONS } from '../../src/gitlab/availability.js';
import { TOKEN_SETTINGS } from '../../src/probes/exporter-tokens.js';
import { PROBES } from '../../src/probes/index.js';
import { declaredReasons, type ProbeDefinition } from '../../src/probes/types.js';
import { alertRules } from '../assets/helpers.js';

/**
 * The one place where each probe's declaration (`defineProbe`) is held to what it promises the
 * rest of the exporter: its facts, phases, alerts, docs section, token scopes and schedule.
 *
 * Promises checked elsewhere, not again here:
 * - advice and per-reason alerts only for reasons the probe declares: defineProbe refuses any other
 *   when the catalog loads (test/probes/define-probe.test.ts proves the refusal);
 * - a runbook section per alert: test/assets/rules.test.ts holds docs/runbook.md's `GitLabDuo…`
 *   headings to the rules file's alerts, so an alert found in the rules file here has one;
 * - the declared reasons against what each probe really produces: test/probes/declared-reasons.test.ts;
 * - the latency buckets table of docs/metrics.md per default timeout: test/docs.test.ts;
 * - fix advice, docs and runbook links per probe and reason in the report: test/report/explain.test.ts.
 */

const doc = (name: string): string => readFileSync(new URL(`../../docs/${name}`, import.meta.url), 'utf8');
const probesDoc = doc('probes.md');
const metricsDoc = doc('metrics.md');
const documentedFamilies = new Set([...metricsDoc.matchAll(/^\| `(gitlab_duo_[a-z_]+)`/gm)].map((m) => m[1]!));
const ruleAlerts = new Set(alertRules().map((a) => a.alert));

/** The probe's `## \`name\`` section of docs/probes.md (empty when there is none). */
function section(name: string): string {
  const start = probesDoc.indexOf(`\n## \`${name}\`\n`);
  if (start < 0) return '';
  const next = probesDoc.indexOf('\n## ', start + 1);
  return probesDoc.slice(start, next < 0 ? undefined : next);
}

/** The value cell of a `| key | value |` row. */
function row(text: string, key: string): string | undefined {
  return new RegExp(`^\\| ${key} \\| (.*) \\|$`, 'm').exec(text)?.[1];
}

const allAlerts = (probe: ProbeDefinition): string[] => [probe.alerts.failing, ...Object.values(probe.alerts.byReason ?? {})];

it('docs/probes.md has a section for every probe, in catalog order, and no other', () => {
  const headings = [...probesDoc.matchAll(/^## `([a-z0-9_]+)`$/gm)].map((m) => m[1]);
  expect(headings).toEqual(PROBES.map((p) => p.name));
});

describe.each(PROBES.map((p) => [p.name, p] as const))('%s keeps its declaration', (name, probe) => {
  it('its facts are families of core/facts.ts, each documented in docs/metrics.md', () => {
    for (const fact of probe.facts) {
      expect(Object.keys(FACT_FAMILIES), fact).toContain(fact);
      expect(documentedFamilies.has(fact), `docs/metrics.md has no row for ${fact}`).toBe(true);
    }
  });

  it('its phases are phases of core/run.ts, each once', () => {
    for (const phase of probe.phases) expect(PHASES, phase).toContain(phase);
    expect(new Set(probe.phases).size).toBe(probe.phases.length);
  });

  it('its alerts are alerts of alerts/gitlab-duo.rules.yml (and so have a runbook section)', () => {
    for (const alert of allAlerts(probe)) expect(ruleAlerts.has(alert), `${alert} is not in the rules file`).toBe(true);
  });

  it("its docs/probes.md summary row and section table match the declaration", () => {
    const summary = new RegExp(`^\\| \\[\`${name}\`\\]\\(#${name}\\) \\| (\\w+) \\| .* \\| (\\S+) / (\\S+) \\| (yes|no)`, 'm').exec(probesDoc);
    expect(summary, `summary row of ${name}`).not.toBeNull();
    expect(summary!.slice(1)).toEqual([probe.group, probe.defaultInterval, probe.defaultTimeout, probe.required ? 'yes' : 'no']);

    const text = section(name);
    expect(row(text, 'group')).toBe(probe.group);
    expect(row(text, 'phases')).toBe(probe.phases.length > 0 ? probe.phases.join(', ') : 'none');
    expect(row(text, 'facts')).toBe(probe.facts.map((f) => `\`${f}\``).join(', '));
    expect(row(text, 'reasons'), 'the reasons row: the declared set, timeout and internal included').toBe(declaredReasons(probe).map((r) => `\`${r}\``).join(', '));
    const token = row(text, 'token') ?? '';
    if (probe.token) expect(token).toContain(TOKEN_DESCRIPTIONS[probe.token]);
    else expect(token).toMatch(/^none/);
  });

  it('its docs/probes.md table of reasons explains only reasons it can fail with', () => {
    // The first cell of each row of the "| reason | meaning and fix |" table, e.g. `dns`, `connect`.
    const table = section(name).split('| reason | meaning and fix |')[1]?.split('\n\n')[0] ?? '';
    const named = [...table.matchAll(/^\| ([^|]*) \|/gm)].flatMap((m) => [...m[1]!.matchAll(/`([a-z0-9_]+)`/g)].map((r) => r[1]!));
    for (const reason of named.filter((r) => (FAILURE_REASONS as readonly string[]).includes(r))) expect(declaredReasons(probe), reason).toContain(reason);
  });

  it('its token and scopes name token kinds the config holds (and exporter_tokens checks), each scope one GitLab accepts', () => {
    const kinds = Object.keys(TOKEN_SETTINGS);
    if (probe.token) expect(kinds).toContain(probe.token);
    for (const need of probe.scopes ?? []) {
      expect(kinds, `${need.scope} of ${need.token}`).toContain(need.token);
      expect(need.accepted, `${need.token} ${need.scope}`).toContain(need.scope);
    }
  });

  it('its default timeout is shorter than its default interval', () => {
    const timeoutMs = parseDuration(probe.defaultTimeout);
    const intervalMs = parseDuration(probe.defaultInterval);
    expect(timeoutMs, probe.defaultTimeout).toBeGreaterThan(0);
    expect(intervalMs, probe.defaultInterval).toBeGreaterThan(0);
    expect(timeoutMs!).toBeLessThan(intervalMs!);
  });
});
