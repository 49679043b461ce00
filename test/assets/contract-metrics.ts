/**
 * The metric contract as the alert rules and dashboards see it, taken from the exporter itself:
 * the families its registry serves, the probe catalog and the failure reasons. A rule or panel
 * naming anything else fails the asset tests.
 */
import { parseConfigText } from '../../src/config/load.js';
import { FAILURE_REASONS } from '../../src/core/errors.js';
import { createMetrics } from '../../src/metrics/registry.js';
import { parseCloudflareRanges } from '../../src/net/cloudflare.js';
import { PROBES, PROBE_NAMES } from '../../src/probes/index.js';
import { declaredReasons } from '../../src/probes/types.js';
import { buildPlan } from '../../src/runner/plan.js';
import { ResultStore } from '../../src/runner/store.js';

export { FAILURE_REASONS, PROBE_NAMES };

/** The failure reasons each probe declares: its gitlab_duo_probe_failure_reason one-hot. */
export const REASONS_BY_PROBE: Readonly<Record<string, readonly string[]>> = Object.fromEntries(PROBES.map((p) => [p.name, declaredReasons(p)]));

/** Series that come from Prometheus itself, not from the exporter. */
export const EXTERNAL_SERIES: readonly string[] = [
  'up', // Prometheus, per scrape target
  'ALERTS', // Prometheus, per firing or pending alert (dashboard annotations)
];

/** Recording rules of alerts/gitlab-duo.rules.yml. */
export const RECORDING_RULES: readonly string[] = [
  'gitlab_probe:gitlab_duo_probe_latency_seconds:p50_30m',
  'gitlab_probe:gitlab_duo_probe_latency_seconds:p95_30m',
  'gitlab_probe:gitlab_duo_probe_runs:success_ratio_1h',
  'gitlab_probe:gitlab_duo_probe_success:passes_elsewhere',
  'probe:gitlab_duo_probe_latency_seconds:p95_threshold',
];

const HISTOGRAM_SUFFIXES = ['_bucket', '_sum', '_count'] as const;

/** Every series name a rule or dashboard may query: what the exporter's registry really serves. */
export async function knownSeriesNames(): Promise<Set<string>> {
  const plan = buildPlan(await parseConfigText('instances: [ { name: contract } ]', 'contract', { env: {} }), parseCloudflareRanges('1.0.0.0/8', 'contract'), {});
  const metrics = createMetrics({ store: new ResultStore(), plan: () => plan });
  const names = new Set<string>([...EXTERNAL_SERIES, ...RECORDING_RULES]);
  for (const family of await metrics.prometheus.getMetricsAsJSON()) {
    if (String(family.type) === 'histogram') for (const suffix of HISTOGRAM_SUFFIXES) names.add(family.name + suffix);
    else names.add(family.name);
  }
  return names;
}
