import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { describe, it, expect } from 'vitest';
import type { Dashboard, Panel, Variable } from './helpers.js';
import {
  DASHBOARD_FILES,
  RUNBOOK_FILE,
  RUNBOOK_URL,
  allPanels,
  dashboardQueries,
  loadDashboard,
  markdownAnchors,
  readText,
  readYaml,
  runTool,
  withoutGrafanaVariables,
} from './helpers.js';

const EXPECTED_UIDS: Record<(typeof DASHBOARD_FILES)[number], string> = {
  'dashboards/gitlab-duo-overview.json': 'gitlab-duo-overview',
  'dashboards/gitlab-duo-probe.json': 'gitlab-duo-probe',
};
const DS_UID = '${datasource}';
const GRAFANA_BUILTINS = new Set(['__rate_interval', '__interval', '__range', '__url_time_range', '__field', '__data', '__value']);
const runbookAnchors = markdownAnchors(readText(RUNBOOK_FILE));

function panelLinks(p: Panel): string[] {
  const urls = [...(p.links ?? []), ...(p.fieldConfig?.defaults?.links ?? [])].map((l) => l.url ?? '');
  for (const o of p.fieldConfig?.overrides ?? []) {
    for (const prop of o.properties ?? []) {
      if (prop.id === 'links' && Array.isArray(prop.value)) urls.push(...(prop.value as { url?: string }[]).map((l) => l.url ?? ''));
    }
  }
  return urls;
}

describe.each(DASHBOARD_FILES.map((f) => [f] as const))('%s', (file) => {
  let dashboard: Dashboard = {};
  let parseError: unknown;
  try {
    dashboard = loadDashboard(file);
  } catch (err) {
    parseError = err;
  }

  it('is valid JSON with a fixed uid, schema 39 and tags', () => {
    expect(parseError).toBeUndefined();
    expect(dashboard.uid).toBe(EXPECTED_UIDS[file]);
    expect(dashboard.schemaVersion).toBe(39);
    expect(dashboard.title).toMatch(/^GitLab Duo \//);
    expect(dashboard.tags).toContain('gitlab-duo');
  });

  it('has a Prometheus datasource variable and a gitlab variable', () => {
    const vars = dashboard.templating?.list ?? [];
    const ds = vars.find((v) => v.name === 'datasource');
    expect(ds?.type).toBe('datasource');
    expect(ds?.query).toBe('prometheus');
    const gitlab = vars.find((v) => v.name === 'gitlab');
    expect(gitlab?.type).toBe('query');
    expect(gitlab?.query).toBe('label_values(gitlab_duo_probe_success, gitlab)');
    for (const v of vars.filter((x) => x.type === 'query')) expect(v.datasource?.uid, v.name).toBe(DS_UID);
    if (file.endsWith('probe.json')) expect(vars.map((v) => v.name)).toContain('probe');
  });

  it('has job and instance variables for fleets, chained from the gitlab variable, with All', () => {
    const vars = dashboard.templating?.list ?? [];
    const names = vars.map((v) => v.name);
    expect(names.indexOf('job'), 'job after gitlab').toBe(names.indexOf('gitlab') + 1);
    expect(names.indexOf('instance'), 'instance after job').toBe(names.indexOf('job') + 1);
    const chained = {
      job: 'label_values(gitlab_duo_probe_success{gitlab=~"$gitlab"}, job)',
      instance: 'label_values(gitlab_duo_probe_success{gitlab=~"$gitlab",job=~"$job"}, instance)',
    };
    for (const [name, query] of Object.entries(chained)) {
      const v = vars.find((x) => x.name === name) as (Variable & Record<string, unknown>) | undefined;
      expect(v, name).toMatchObject({ type: 'query', query, definition: query, multi: true, includeAll: true, allValue: '.+', refresh: 2 });
    }
  });

  it('filters every exporter series by $job and every query by $instance', () => {
    for (const q of dashboardQueries(dashboard).filter((x) => !x.where.startsWith('variable'))) {
      const selectors = [...q.expr.matchAll(/\b(gitlab_duo_\w+|up|ALERTS)\{([^}]*)\}/g)];
      for (const [, name, matchers] of selectors) expect(matchers, `${q.where}: ${name}`).toContain('job=~"$job"');
      if (selectors.length > 0) expect(q.expr, q.where).toContain('instance=~"$instance"');
    }
  });

  it('has unique panel ids and non-overlapping panels', () => {
    const panels = allPanels(dashboard);
    const ids = panels.map((p) => p.id);
    expect(ids.every((id) => typeof id === 'number')).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    const boxes = panels.map((p) => ({ id: p.id, ...p.gridPos }));
    for (const [i, a] of boxes.entries()) {
      expect(a.w, `panel ${a.id} gridPos`).toBeGreaterThan(0);
      expect((a.x ?? 0) + (a.w ?? 0), `panel ${a.id} wider than 24`).toBeLessThanOrEqual(24);
      for (const b of boxes.slice(i + 1)) {
        const overlap =
          (a.x ?? 0) < (b.x ?? 0) + (b.w ?? 0) && (b.x ?? 0) < (a.x ?? 0) + (a.w ?? 0) &&
          (a.y ?? 0) < (b.y ?? 0) + (b.h ?? 0) && (b.y ?? 0) < (a.y ?? 0) + (a.h ?? 0);
        expect(overlap, `panels ${a.id} and ${b.id} overlap`).toBe(false);
      }
    }
  });

  it('reads every panel, target and annotation through the datasource variable', () => {
    for (const p of allPanels(dashboard).filter((x) => x.type !== 'row')) {
      expect(p.title, `panel ${p.id}`).toBeTruthy();
      expect(p.datasource, `panel ${p.id} "${p.title}"`).toEqual({ type: 'prometheus', uid: DS_UID });
      expect(p.targets?.length, `panel ${p.id} "${p.title}" has no query`).toBeGreaterThan(0);
      for (const t of p.targets ?? []) expect(t.datasource, `panel ${p.id} ${t.refId}`).toEqual({ type: 'prometheus', uid: DS_UID });
    }
    for (const a of dashboard.annotations?.list ?? []) {
      if (a.expr !== undefined) expect(a.datasource?.uid).toBe(DS_UID);
    }
    expect(JSON.stringify(dashboard)).not.toMatch(/"uid":\s*"(?!\$\{datasource\}|-- Grafana --|gitlab-duo)[^"]*"/);
  });

  it('gives stat, bar gauge and time series panels a unit', () => {
    for (const p of allPanels(dashboard).filter((x) => ['stat', 'timeseries', 'bargauge'].includes(x.type ?? ''))) {
      expect(p.fieldConfig?.defaults?.unit, `panel ${p.id} "${p.title}"`).toBeTruthy();
    }
  });

  it('filters every query by a dashboard variable and uses only defined variables', () => {
    const defined = new Set((dashboard.templating?.list ?? []).map((v) => v.name));
    for (const q of dashboardQueries(dashboard)) {
      if (q.where.startsWith('variable')) continue;
      expect(q.expr, q.where).toMatch(/\$(gitlab|job|probe)\b/);
      for (const m of q.expr.matchAll(/\$\{?(\w+)/g)) {
        const name = m[1] ?? '';
        expect(defined.has(name) || GRAFANA_BUILTINS.has(name), `${q.where}: $${name}`).toBe(true);
      }
    }
  });

  it('links to runbook sections that exist', () => {
    const links = [...(dashboard.links ?? []).map((l) => l.url ?? ''), ...allPanels(dashboard).flatMap(panelLinks)];
    expect(links.some((l) => l.startsWith(RUNBOOK_URL))).toBe(true);
    for (const url of links.filter((l) => l.startsWith(`${RUNBOOK_URL}#`))) {
      expect(runbookAnchors.has(url.slice(RUNBOOK_URL.length + 1)), url).toBe(true);
    }
    for (const url of links.filter((l) => l.startsWith('/d/'))) {
      expect(Object.values(EXPECTED_UIDS).some((uid) => url.startsWith(`/d/${uid}/`)), url).toBe(true);
    }
  });

  it('has PromQL that Prometheus parses', () => {
    // promtool has no expression checker; a throwaway rules file with one recording rule per
    // query gets every expression through Prometheus's parser.
    const rules = dashboardQueries(dashboard).map((q, i) => ({ record: `dashboard:query:${i}`, expr: withoutGrafanaVariables(q.expr) }));
    const dir = mkdtempSync(join(tmpdir(), 'gitlab-duo-dash-'));
    try {
      const path = join(dir, 'queries.rules.yml');
      writeFileSync(path, stringify({ groups: [{ name: 'dashboard', rules }] }));
      const r = runTool('promtool', ['check', 'rules', path], 'prometheus');
      expect(r.status, `${r.stdout}${r.stderr}\n${JSON.stringify(rules, null, 2)}`).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('Grafana provisioning examples', () => {
  it('dashboards.yml provisions a file provider', () => {
    const p = readYaml('dashboards/provisioning/dashboards.yml') as { apiVersion: number; providers: { type: string; options: { path: string } }[] };
    expect(p.apiVersion).toBe(1);
    expect(p.providers[0]?.type).toBe('file');
    expect(p.providers[0]?.options.path).toBeTruthy();
  });

  it('datasources.yml provisions a Prometheus data source', () => {
    const p = readYaml('dashboards/provisioning/datasources.yml') as { apiVersion: number; datasources: { type: string; url: string }[] };
    expect(p.apiVersion).toBe(1);
    expect(p.datasources[0]?.type).toBe('prometheus');
    expect(p.datasources[0]?.url).toMatch(/^https?:\/\//);
  });
});
