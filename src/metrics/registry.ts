import { collectDefaultMetrics, Gauge, Registry, type Metric, type OpenMetricsContentType, type PrometheusContentType, type RegistryContentType } from 'prom-client';
import { VERSION } from '../version.js';
import { ProbeMetrics, type MetricsSource } from './probe-metrics.js';

type LabelSet = Readonly<Record<string, string | number | undefined>>;

interface ExportedValue {
  readonly value: number;
  readonly labels?: LabelSet;
  readonly metricName?: string;
  readonly sharedLabels?: LabelSet;
  readonly exemplar?: { readonly labelSet: LabelSet; readonly value: number; readonly timestamp: number } | null;
}

interface ExportedMetric {
  readonly name: string;
  readonly help: string;
  readonly type: string;
  readonly values?: readonly ExportedValue[];
}

/**
 * prom-client's Registry, rendering the text format faster with the same output. Its own
 * per-series path builds arrays and joins per line and flattens a fresh `sharedLabels` object
 * per series (its cache never hits): ~2 µs a series, most of a scrape at 200 instances
 * (docs/performance.md). Registries with default labels keep prom-client's renderer.
 */
class ExpositionRegistry<T extends RegistryContentType> extends Registry<T> {
  readonly #shared = new WeakMap<LabelSet, string>();

  // Replaces prom-client's (undeclared) per-metric renderer, which metrics() calls for each metric.
  async getMetricsAsString(metric: Metric & { getForPromString?: () => Promise<ExportedMetric> }): Promise<string> {
    if (Object.keys((this as unknown as { _defaultLabels: object })._defaultLabels).length > 0) {
      return (Registry.prototype as unknown as { getMetricsAsString(m: Metric): Promise<string> }).getMetricsAsString.call(this, metric);
    }
    const exported = (typeof metric.getForPromString === 'function' ? await metric.getForPromString() : await metric.get()) as unknown as ExportedMetric;
    const name = escapeString(exported.name);
    const lines = [`# HELP ${name} ${escapeString(exported.help)}`, `# TYPE ${name} ${exported.type}`];
    const openMetrics = this.contentType === Registry.OPENMETRICS_CONTENT_TYPE;
    const suffix = openMetrics && exported.type === 'counter' ? '_total' : '';
    for (const item of exported.values ?? []) {
      const shared = item.sharedLabels;
      let labels = '';
      const own = item.labels ?? {};
      for (const key of Object.keys(own)) {
        if (shared && Object.prototype.hasOwnProperty.call(shared, key)) continue;
        labels += `${labels ? ',' : ''}${key}="${escapeLabelValue(own[key])}"`;
      }
      if (shared) {
        const flat = this.#flatten(shared);
        if (flat) labels += `${labels ? ',' : ''}${flat}`;
      }
      let line = `${item.metricName ?? name}${suffix}${labels ? `{${labels}}` : ''} ${valueString(item.value)}`;
      if (item.exemplar && openMetrics) {
        const exemplar = Object.entries(item.exemplar.labelSet).map(([k, v]) => `${k}="${escapeLabelValue(v)}"`);
        line += ` # {${exemplar.join(',')}} ${valueString(item.exemplar.value)} ${item.exemplar.timestamp}`;
      }
      lines.push(line);
    }
    return lines.join('\n');
  }

  #flatten(labels: LabelSet): string {
    let flat = this.#shared.get(labels);
    if (flat === undefined) {
      flat = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabelValue(v)}"`).join(',');
      this.#shared.set(labels, flat);
    }
    return flat;
  }
}

// The escaping and number formatting of prom-client's renderer, unchanged.
function escapeString(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

// Almost no label value needs escaping; one test is cheaper than three replaces per series.
const NEEDS_ESCAPE = /[\\\n"]/;

function escapeLabelValue(value: string | number | undefined): string | number | undefined {
  if (typeof value !== 'string' || !NEEDS_ESCAPE.test(value)) return value;
  return escapeString(value).replace(/"/g, '\\"');
}

function valueString(value: number): string {
  if (Number.isNaN(value)) return 'Nan';
  if (!Number.isFinite(value)) return value < 0 ? '-Inf' : '+Inf';
  return `${value}`;
}

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
  const prometheus = new ExpositionRegistry<PrometheusContentType>();
  const openMetrics = new ExpositionRegistry<OpenMetricsContentType>();
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
