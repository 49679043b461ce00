/** Shared helpers for the tests of the shipped monitoring assets (alerts/, dashboards/, docs/). */
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const RULES_FILE = 'alerts/gitlab-duo.rules.yml';
export const RULE_TESTS_DIR = 'alerts/tests';
export const RUNBOOK_FILE = 'docs/runbook.md';
export const RUNBOOK_URL = 'https://github.com/gitlab-duo-exporter/gitlab-duo-exporter/blob/main/docs/runbook.md';
export const DASHBOARD_FILES = ['dashboards/gitlab-duo-overview.json', 'dashboards/gitlab-duo-probe.json'] as const;
export const JOB_SELECTOR = 'job="gitlab-duo-exporter"';

export function readText(relativePath: string): string {
  return readFileSync(join(ROOT, relativePath), 'utf8');
}

export function readYaml(relativePath: string): unknown {
  return parse(readText(relativePath));
}

export interface ToolResult {
  readonly status: number;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs a command-line tool from the repository root. A missing tool is a failure naming the Debian
 * package that provides it, never a skip: the assets are only tested if the tools run.
 */
export function runTool(command: string, args: readonly string[], debianPackage: string): ToolResult {
  const result = spawnSync(command, args, { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  if (result.error) {
    const code = (result.error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new Error(`${command} was not found on PATH: install the Debian package "${debianPackage}" (apt-get install ${debianPackage})`);
    }
    throw result.error;
  }
  return { status: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
}

// ---------------------------------------------------------------------------------------------
// Prometheus rules
// ---------------------------------------------------------------------------------------------

export interface AlertRule {
  readonly alert: string;
  readonly expr: string;
  readonly for?: string;
  readonly keep_firing_for?: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly annotations?: Readonly<Record<string, string>>;
}

export interface RecordingRule {
  readonly record: string;
  readonly expr: string;
  readonly labels?: Readonly<Record<string, string>>;
}

interface RuleFile {
  readonly groups: readonly { readonly name: string; readonly rules: readonly (AlertRule | RecordingRule)[] }[];
}

export function loadRules(): RuleFile {
  const file = readYaml(RULES_FILE) as RuleFile;
  if (!file || !Array.isArray(file.groups)) throw new Error(`${RULES_FILE}: no groups`);
  return file;
}

export function alertRules(): AlertRule[] {
  return loadRules().groups.flatMap((g) => g.rules.filter((r): r is AlertRule => 'alert' in r));
}

export function recordingRules(): RecordingRule[] {
  return loadRules().groups.flatMap((g) => g.rules.filter((r): r is RecordingRule => 'record' in r));
}

/** One `alert_rule_test` entry of a promtool test file. */
export interface AlertCase {
  readonly file: string;
  readonly test: string;
  readonly evalTime: string;
  readonly alertname: string;
  readonly expAlerts: readonly {
    readonly exp_labels?: Readonly<Record<string, string>>;
    readonly exp_annotations?: Readonly<Record<string, string>>;
  }[];
}

interface PromtoolTestFile {
  readonly rule_files?: readonly string[];
  readonly tests?: readonly {
    readonly name?: string;
    readonly alert_rule_test?: readonly {
      readonly eval_time: string;
      readonly alertname: string;
      readonly exp_alerts?: AlertCase['expAlerts'] | null;
    }[];
  }[];
}

export function ruleTestFiles(): string[] {
  return readdirSync(join(ROOT, RULE_TESTS_DIR))
    .filter((f) => f.endsWith('.test.yml'))
    .sort()
    .map((f) => `${RULE_TESTS_DIR}/${f}`);
}

export function loadRuleTestFile(relativePath: string): PromtoolTestFile {
  return readYaml(relativePath) as PromtoolTestFile;
}

export function alertCases(): AlertCase[] {
  return ruleTestFiles().flatMap((file) =>
    (loadRuleTestFile(file).tests ?? []).flatMap((t) =>
      (t.alert_rule_test ?? []).map((c) => ({
        file,
        test: t.name ?? '(unnamed)',
        evalTime: c.eval_time,
        alertname: c.alertname,
        expAlerts: c.exp_alerts ?? [],
      })),
    ),
  );
}

// ---------------------------------------------------------------------------------------------
// PromQL
// ---------------------------------------------------------------------------------------------

const PROMQL_KEYWORDS = new Set([
  'and',
  'or',
  'unless',
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'bool',
  'offset',
  'atan2',
  'inf',
  'nan',
]);

/**
 * Series names a PromQL expression selects. Not a parser: it drops strings, label matchers, range
 * selectors, grouping label lists and Grafana variables, then keeps the identifiers that are not
 * keywords and not followed by `(` (functions and aggregations).
 */
export function metricNames(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\$\{?\w+\}?/g, ' ');
  const names = new Set<string>();
  for (const m of stripped.matchAll(/(\d+(?:\.\d+)?(?:e[+-]?\d+)?)|([A-Za-z_:][A-Za-z0-9_:]*)/gi)) {
    const id = m[2];
    if (id === undefined || PROMQL_KEYWORDS.has(id.toLowerCase())) continue;
    const after = stripped.slice((m.index ?? 0) + id.length);
    if (/^\s*\(/.test(after)) continue;
    names.add(id);
  }
  return [...names];
}

/**
 * The PromQL queries inside alert templates: `printf "<query>" ... | query`. A printf that only
 * formats a value (`printf "%.0f" $s.Value`, `value | printf "%.0f"`) is not piped to query.
 */
export function templateQueries(template: string): string[] {
  return [...template.matchAll(/printf\s+"((?:[^"\\]|\\.)*)"[^|}"]*\|\s*query\b/g)].map((m) =>
    (JSON.parse(`"${m[1] ?? ''}"`) as string).replace(/%q/g, '"x"'),
  );
}

/** Label values a selector pins, e.g. probe="x" or probe=~"a|b" → [x] / [a, b]. */
export function labelValues(expr: string, label: string): string[] {
  const re = new RegExp(`\\b${label}\\s*(=~|!~|=|!=)\\s*"([^"]*)"`, 'g');
  return [...expr.matchAll(re)].flatMap((m) => (m[2] ?? '').split('|')).filter((v) => v !== '' && !v.startsWith('$'));
}

// ---------------------------------------------------------------------------------------------
// Markdown
// ---------------------------------------------------------------------------------------------

/** GitHub's anchor for a Markdown heading. */
export function githubAnchor(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

export function markdownAnchors(markdown: string): Set<string> {
  const withoutCode = markdown.replace(/```[\s\S]*?```/g, '');
  return new Set([...withoutCode.matchAll(/^#{1,6}\s+(.+)$/gm)].map((m) => githubAnchor(m[1] ?? '')));
}

export function markdownHeadings(markdown: string, level: number): string[] {
  const withoutCode = markdown.replace(/```[\s\S]*?```/g, '');
  const re = new RegExp(`^#{${level}}\\s+(.+)$`, 'gm');
  return [...withoutCode.matchAll(re)].map((m) => (m[1] ?? '').trim());
}

/** The fenced yaml blocks of the `## <heading>` section of a Markdown page (up to the next `## `). */
export function yamlBlocksOf(markdown: string, heading: string): string[] {
  const start = markdown.indexOf(`\n## ${heading}\n`);
  if (start < 0) throw new Error(`no section "## ${heading}"`);
  const next = markdown.indexOf('\n## ', start + 1);
  const section = markdown.slice(start, next < 0 ? undefined : next);
  return [...section.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1] ?? '');
}

/** Targets of inline links: `[text](target)`. */
export function markdownLinks(markdown: string): string[] {
  const withoutCode = markdown.replace(/```[\s\S]*?```/g, '').replace(/`[^`\n]*`/g, '');
  return [...withoutCode.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1] ?? '');
}

// ---------------------------------------------------------------------------------------------
// Grafana dashboards
// ---------------------------------------------------------------------------------------------

export interface DataSourceRef {
  readonly type?: string;
  readonly uid?: string;
}

export interface Target {
  readonly expr?: string;
  readonly refId?: string;
  readonly datasource?: DataSourceRef;
}

export interface Panel {
  readonly id?: number;
  readonly type?: string;
  readonly title?: string;
  readonly datasource?: DataSourceRef;
  readonly targets?: readonly Target[];
  readonly panels?: readonly Panel[];
  readonly gridPos?: { readonly x: number; readonly y: number; readonly w: number; readonly h: number };
  readonly links?: readonly { readonly url?: string }[];
  readonly fieldConfig?: {
    readonly defaults?: { readonly unit?: string; readonly links?: readonly { readonly url?: string }[] };
    readonly overrides?: readonly { readonly properties?: readonly { readonly id: string; readonly value: unknown }[] }[];
  };
}

export interface Variable {
  readonly name: string;
  readonly type: string;
  readonly query?: unknown;
  readonly datasource?: DataSourceRef;
}

export interface Dashboard {
  readonly uid?: string;
  readonly title?: string;
  readonly schemaVersion?: number;
  readonly tags?: readonly string[];
  readonly panels?: readonly Panel[];
  readonly templating?: { readonly list?: readonly Variable[] };
  readonly annotations?: { readonly list?: readonly { readonly expr?: string; readonly datasource?: DataSourceRef }[] };
  readonly links?: readonly { readonly url?: string }[];
}

export function loadDashboard(relativePath: string): Dashboard {
  return JSON.parse(readText(relativePath)) as Dashboard;
}

/** Every panel, including those inside collapsed rows. */
export function allPanels(dashboard: Dashboard): Panel[] {
  return (dashboard.panels ?? []).flatMap((p) => [p, ...(p.panels ?? [])]);
}

/** Every PromQL expression of a dashboard: panel targets, annotations and query variables. */
export function dashboardQueries(dashboard: Dashboard): { where: string; expr: string }[] {
  const queries: { where: string; expr: string }[] = [];
  for (const panel of allPanels(dashboard)) {
    for (const t of panel.targets ?? []) {
      if (t.expr !== undefined) queries.push({ where: `panel ${panel.id} "${panel.title}" ${t.refId}`, expr: t.expr });
    }
  }
  for (const a of dashboard.annotations?.list ?? []) {
    if (a.expr !== undefined) queries.push({ where: 'annotation', expr: a.expr });
  }
  for (const v of dashboard.templating?.list ?? []) {
    if (v.type !== 'query' || typeof v.query !== 'string') continue;
    const labelValuesCall = /^label_values\((.*),\s*\w+\)$/.exec(v.query);
    queries.push({ where: `variable ${v.name}`, expr: labelValuesCall ? (labelValuesCall[1] ?? '') : v.query });
  }
  return queries;
}

/** Replaces Grafana variables with values PromQL accepts, for syntax checks. */
export function withoutGrafanaVariables(expr: string): string {
  return expr
    .replace(/\$__rate_interval|\$__interval|\$__range|\$window/g, '5m')
    .replace(/\$\{?\w+\}?/g, '.+');
}
