import { describe, it, expect } from 'vitest';
import { knownSeriesNames } from './contract-metrics.js';
import { DASHBOARD_FILES, alertRules, dashboardQueries, loadDashboard, metricNames, recordingRules, templateQueries } from './helpers.js';

const known = await knownSeriesNames();

describe('metricNames()', () => {
  it.each([
    ['up{job="x"} == 0', ['up']],
    ['absent(up{job="x"})', ['up']],
    [
      'histogram_quantile(0.95, sum by (gitlab, probe, le) (rate(gitlab_duo_probe_latency_seconds_bucket{gitlab=~"$gitlab"}[$window])))',
      ['gitlab_duo_probe_latency_seconds_bucket'],
    ],
    ['a > on (probe) group_left () b:c:d', ['a', 'b:c:d']],
    ['time() - x > 26 * 3600 unless on (job) y{type!="online_cloud"} == 1', ['x', 'y']],
    ['max without (reason) (z == 1) or vector(1e3)', ['z']],
  ])('%s → %o', (expr, names) => {
    expect(metricNames(expr).sort()).toEqual([...names].sort());
  });
});

describe('templateQueries()', () => {
  it.each([
    ['{{ with printf "x_total{job=%q}" $labels.job | query }}{{ . | first | value }}{{ end }}', ['x_total{job="x"}']],
    // a printf that formats a number is not a query
    ['{{ with printf "y{a=%q}" $labels.a | query }}{{ . | first | value | printf "%.0f" }}{{ end }}', ['y{a="x"}']],
    ['{{ range $i, $s := printf "z{a=%q}" $labels.a | query }}{{ printf "%.0f" $s.Value }}{{ end }}', ['z{a="x"}']],
    ['{{ with printf "w{probe=\\"health_check\\"}" | query }}{{ end }}', ['w{probe="health_check"}']],
  ])('%s → %o', (template, queries) => {
    expect(templateQueries(template)).toEqual(queries);
  });
});

describe('every series a rule or dashboard queries is in the metric contract', () => {
  const rules = [
    ...recordingRules().map((r) => ({ where: `record ${r.record}${JSON.stringify(r.labels ?? {})}`, expr: r.expr })),
    ...alertRules().flatMap((a) => [
      { where: `alert ${a.alert} expr`, expr: a.expr },
      ...Object.entries(a.annotations ?? {}).flatMap(([k, v]) =>
        templateQueries(v).map((q) => ({ where: `alert ${a.alert} annotation ${k}`, expr: q })),
      ),
    ]),
  ];

  it.each(rules.map((r) => [r.where, r.expr] as const))('%s', (_where, expr) => {
    const names = metricNames(expr);
    for (const n of names) expect(known, `unknown series ${n} in: ${expr}`).toContain(n);
  });

  for (const file of DASHBOARD_FILES) {
    const queries = dashboardQueries(loadDashboard(file));
    it(`${file}: ${queries.length} queries`, () => {
      expect(queries.length).toBeGreaterThan(0);
      for (const q of queries) {
        const names = metricNames(q.expr);
        expect(names.length, `${q.where}: no series in ${q.expr}`).toBeGreaterThan(0);
        for (const n of names) expect(known, `${q.where}: unknown series ${n} in ${q.expr}`).toContain(n);
      }
    });
  }
});
