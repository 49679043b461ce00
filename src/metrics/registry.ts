import { collectDefaultMetrics, Gauge, Registry, type Metric, type OpenMetricsContentType, type PrometheusContentType, type RegistryContentType } from 'prom-client';
import { REVISION, VERSION } from '../core/version.js';
import { hasTextSeries } from './collected.js';
import { escapeLabelValue, escapeString, familyHeader, labelPairs, valueString, type LabelSet } from './exposition.js';
import { ProbeMetrics, type MetricsSource } from './probe-metrics.js';

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
 * prom-client's Registry, rendering the text format faster with the same output. Our own
 * families (CollectedMetric) hand over their lines as text, mostly cached; for the others
 * (default process metrics, build info) this replaces prom-client's per-series path, which builds
 * arrays and joins per line and flattens a fresh `sharedLabels` object per series (its cache never
 * hits): ~2 µs a series (docs/performance.md). Registries with default labels keep prom-client's
 * renderer.
 */
const NEWLINE = Buffer.from('\n');
const BLANK_LINE = Buffer.from('\n\n');
const OPENMETRICS_END = Buffer.from('\n# EOF\n');

export class ExpositionRegistry<T extends RegistryContentType> extends Registry<T> {
  readonly #shared = new WeakMap<LabelSet, string>();
  /** Set through the public setDefaultLabels; prom-client keeps its own copy private. */
  #defaultLabels = false;

  override setDefaultLabels(labels: object): void {
    this.#defaultLabels = Object.keys(labels).length > 0;
    super.setDefaultLabels(labels);
  }

  /**
   * The whole exposition as prom-client's metrics() would write it: families joined by a blank
   * line (Prometheus) or a newline and `# EOF` (OpenMetrics, counters without `_total` in their
   * family name). As chunks of bytes to write one after the other: the large ones are cached
   * families, handed to the socket without being copied into one 12 MB string or buffer.
   */
  async render(): Promise<Buffer[]> {
    if (this.#defaultLabels) return [Buffer.from(await this.#stockMetrics())];
    const openMetrics = this.contentType === Registry.OPENMETRICS_CONTENT_TYPE;
    const chunks: Buffer[] = [];
    for (const metric of this.getMetricsAsArray()) {
      const fields = metric as unknown as { name: string; help: string; type: string };
      if (chunks.length > 0) chunks.push(openMetrics ? NEWLINE : BLANK_LINE);
      if (hasTextSeries(metric)) {
        const family = familyName(fields.name, fields.type, openMetrics);
        chunks.push(Buffer.from(familyHeader(family, fields.help, fields.type)));
        metric.writeSeries(openMetrics && fields.type === 'counter' ? `${family}_total` : family, chunks);
      } else {
        chunks.push(Buffer.from(await this.#renderMetric(metric as unknown as Metric)));
      }
    }
    chunks.push(openMetrics ? OPENMETRICS_END : NEWLINE);
    return chunks;
  }

  override async metrics(): Promise<string> {
    return Buffer.concat(await this.render()).toString();
  }

  /**
   * prom-client's own metrics(), for registries with default labels. For OpenMetrics it renames
   * every counter in place (drops `_total`), and our two registries share their metric objects:
   * the names are put back, or the next text-format scrape would lose `_total` too.
   */
  async #stockMetrics(): Promise<string> {
    const metrics = this.getMetricsAsArray() as unknown as { name: string }[];
    const names = metrics.map((m) => m.name);
    try {
      return await super.metrics();
    } finally {
      metrics.forEach((m, i) => (m.name = names[i]!));
    }
  }

  /**
   * One family of prom-client's metric objects (process and Node.js metrics, build info), from its
   * public `get()`, written as prom-client's own renderer would write it.
   */
  async #renderMetric(metric: Metric): Promise<string> {
    const openMetrics = this.contentType === Registry.OPENMETRICS_CONTENT_TYPE;
    const exported = (await metric.get()) as unknown as ExportedMetric;
    const family = familyName(exported.name, exported.type, openMetrics);
    const name = escapeString(family);
    const lines = [familyHeader(family, exported.help, exported.type)];
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
        line += ` # {${labelPairs(item.exemplar.labelSet)}} ${valueString(item.exemplar.value)} ${item.exemplar.timestamp}`;
      }
      lines.push(line);
    }
    return lines.join('\n');
  }

  #flatten(labels: LabelSet): string {
    let flat = this.#shared.get(labels);
    if (flat === undefined) {
      flat = labelPairs(labels);
      this.#shared.set(labels, flat);
    }
    return flat;
  }
}

/**
 * A family's name in this registry's format: OpenMetrics names a counter family without `_total`
 * (its samples keep it), the text format keeps the name as registered. Computed per render, never
 * written back: both registries hold the same metric objects, and prom-client's own OpenMetrics
 * path, which renames in place, made every later text-format scrape lose `_total` (issue #12).
 */
function familyName(name: string, type: string, openMetrics: boolean): string {
  return openMetrics && type === 'counter' ? name.replace(/_total$/, '') : name;
}

export interface ExporterMetrics {
  /** Prometheus text format. */
  readonly prometheus: ExpositionRegistry<PrometheusContentType>;
  /** The same metrics in OpenMetrics, for scrapers that ask for it. */
  readonly openMetrics: ExpositionRegistry<OpenMetricsContentType>;
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
    help: 'The exporter build: version, source revision and Node.js version (value 1).',
    labelNames: ['version', 'revision', 'node_version'],
    registers,
  }).set({ version: VERSION, revision: REVISION, node_version: process.version }, 1);
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
