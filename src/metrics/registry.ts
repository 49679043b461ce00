import { collectDefaultMetrics, Gauge, Registry, type OpenMetricsContentType, type PrometheusContentType } from 'prom-client';
import { VERSION } from '../version.js';
import { ProbeMetrics, type MetricsSource } from './probe-metrics.js';

export interface ExporterMetrics {
  /** Prometheus text format. */
  readonly prometheus: Registry<PrometheusContentType>;
  /** The same metrics in OpenMetrics, for scrapers that ask for it. */
  readonly openMetrics: Registry<OpenMetricsContentType>;
  readonly probes: ProbeMetrics;
  reloaded(success: boolean): void;
}

/**
 * Both registries hold the same metric objects; prom-client chooses the format per registry,
 * so two registries let concurrent scrapes ask for different formats safely.
 */
export function createMetrics(source: MetricsSource): ExporterMetrics {
  const prometheus = new Registry<PrometheusContentType>();
  const openMetrics = new Registry<OpenMetricsContentType>();
  openMetrics.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
  const registers = [prometheus, openMetrics] as Registry[];
  for (const registry of registers) {
    collectDefaultMetrics({ register: registry });
    // prom-client also exports these gauges with a `_total` suffix, which promtool rightly flags;
    // the same values stay available without it (nodejs_active_handles, ...).
    for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) {
      registry.removeSingleMetric(name);
    }
  }

  new Gauge({
    name: 'gitlab_duo_exporter_build_info',
    help: 'The exporter build: version and Node.js version (value 1).',
    labelNames: ['version', 'node_version'],
    registers,
  }).set({ version: VERSION, node_version: process.version }, 1);
  const reloadOk = new Gauge({ name: 'gitlab_duo_exporter_config_last_reload_successful', help: 'Whether the last configuration load succeeded.', registers });
  const reloadAt = new Gauge({
    name: 'gitlab_duo_exporter_config_last_reload_success_timestamp_seconds',
    help: 'When the configuration was last loaded successfully (Unix seconds).',
    registers,
  });
  const probes = new ProbeMetrics(source, registers);
  return {
    prometheus,
    openMetrics,
    probes,
    reloaded(success: boolean) {
      reloadOk.set(success ? 1 : 0);
      if (success) reloadAt.set(Date.now() / 1000);
    },
  };
}
