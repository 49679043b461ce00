/**
 * The metric contract as the alert rules and dashboards see it: every family of metrics.md, the
 * probe catalog and the failure reasons of architecture.md. A stand-in until the exporter's own
 * registry (src/metrics) can be imported here; replace the literal tables with it then.
 */

export type MetricType = 'gauge' | 'counter' | 'histogram';

/** Families of metrics.md (design v1), by name. */
export const CONTRACT_FAMILIES: Readonly<Record<string, MetricType>> = {
  // Per probe, owned by the runner.
  gitlab_duo_probe_success: 'gauge',
  gitlab_duo_probe_enabled: 'gauge',
  gitlab_duo_probe_duration_seconds: 'gauge',
  gitlab_duo_probe_phase_duration_seconds: 'gauge',
  gitlab_duo_probe_latency_seconds: 'histogram',
  gitlab_duo_probe_timeout_seconds: 'gauge',
  gitlab_duo_probe_last_run_timestamp_seconds: 'gauge',
  gitlab_duo_probe_last_success_timestamp_seconds: 'gauge',
  gitlab_duo_probe_runs_total: 'counter',
  gitlab_duo_probe_skipped_runs_total: 'counter',
  gitlab_duo_probe_failure_reason: 'gauge',
  // Probe facts.
  gitlab_duo_http_status_code: 'gauge',
  gitlab_duo_http_version: 'gauge',
  gitlab_duo_tls_cert_expiry_timestamp_seconds: 'gauge',
  gitlab_duo_cloudflare_addresses: 'gauge',
  gitlab_duo_grpc_status_code: 'gauge',
  gitlab_duo_grpc_serving_status: 'gauge',
  gitlab_duo_license_info: 'gauge',
  gitlab_duo_license_last_sync_timestamp_seconds: 'gauge',
  gitlab_duo_license_expiry_timestamp_seconds: 'gauge',
  gitlab_duo_health_check_success: 'gauge',
  gitlab_duo_health_check_probe_success: 'gauge',
  gitlab_duo_access_catalog_updated_timestamp_seconds: 'gauge',
  gitlab_duo_access_token_expiry_timestamp_seconds: 'gauge',
  gitlab_duo_silent_mode_enabled: 'gauge',
  gitlab_duo_features_enabled: 'gauge',
  gitlab_duo_availability: 'gauge',
  gitlab_duo_beta_features_enabled: 'gauge',
  gitlab_duo_agent_platform_enabled: 'gauge',
  gitlab_duo_composite_identity_enabled: 'gauge',
  gitlab_duo_gitlab_info: 'gauge',
  gitlab_duo_gitlab_version_supported: 'gauge',
  gitlab_duo_proxy_env_consistent: 'gauge',
  gitlab_duo_ready: 'gauge',
  // The exporter itself.
  gitlab_duo_exporter_build_info: 'gauge',
  gitlab_duo_exporter_config_last_reload_successful: 'gauge',
  gitlab_duo_exporter_config_last_reload_success_timestamp_seconds: 'gauge',
};

/**
 * Families the rules rely on that metrics.md v1 does not list yet.
 * `gitlab_duo_probe_interval_seconds{gitlab,probe}`: the probe's interval in seconds (absent for a
 * cron schedule), for GitLabDuoProbeNotRunning and the dashboards' staleness panel.
 */
export const PROPOSED_FAMILIES: Readonly<Record<string, MetricType>> = {
  gitlab_duo_probe_interval_seconds: 'gauge',
};

/** Series that come from Prometheus or from prom-client's default metrics, not from our families. */
export const EXTERNAL_SERIES: readonly string[] = [
  'up', // Prometheus, per scrape target
  'ALERTS', // Prometheus, per firing or pending alert (dashboard annotations)
  'process_start_time_seconds', // prom-client default metrics (metrics.md: process_*)
];

/** Recording rules of alerts/gitlab-duo.rules.yml. */
export const RECORDING_RULES: readonly string[] = [
  'gitlab_probe:gitlab_duo_probe_latency_seconds:p50_30m',
  'gitlab_probe:gitlab_duo_probe_latency_seconds:p95_30m',
  'gitlab_probe:gitlab_duo_probe_runs:success_ratio_1h',
  'probe:gitlab_duo_probe_latency_seconds:p95_threshold',
];

/** The probe catalog (architecture.md): `probe` label values and their group. */
export const PROBES = {
  customers_portal: 'network',
  cloud_connector: 'network',
  duo_workflow_service: 'network',
  ai_gateway: 'network',
  websocket_cable: 'inbound',
  instance_http2: 'inbound',
  license: 'sync',
  health_check: 'sync',
  code_suggestions: 'exchange',
  duo_workflow_tools: 'exchange',
  instance_settings: 'settings',
  composite_identity: 'settings',
  version: 'settings',
  proxy_env: 'node',
} as const;

export type ProbeName = keyof typeof PROBES;
export const PROBE_NAMES = Object.keys(PROBES) as ProbeName[];

/** The closed set of `reason` label values (metrics.md). */
export const FAILURE_REASONS: readonly string[] = [
  'dns',
  'connect',
  'timeout',
  'tls',
  'proxy',
  'http_status',
  'http2_not_negotiated',
  'grpc',
  'websocket_upgrade',
  'websocket_protocol',
  'auth',
  'forbidden',
  'rate_limited',
  'unexpected_response',
  'requirement_not_met',
  'internal',
];

const HISTOGRAM_SUFFIXES = ['_bucket', '_sum', '_count'] as const;

/** Every series name a rule or dashboard may query. */
export function knownSeriesNames(): Set<string> {
  const names = new Set<string>([...EXTERNAL_SERIES, ...RECORDING_RULES]);
  for (const [name, type] of Object.entries({ ...CONTRACT_FAMILIES, ...PROPOSED_FAMILIES })) {
    if (type === 'histogram') {
      for (const suffix of HISTOGRAM_SUFFIXES) names.add(name + suffix);
    } else {
      names.add(name);
    }
  }
  return names;
}
