import type { Aggregator, Metric, Registry } from 'prom-client';
import type { PlannedProbe } from '../runner/plan.js';
import { seriesLine, type LabelSet } from './exposition.js';

/** Adds one series; `suffix` names a histogram's `_bucket`, `_sum` or `_count` line. */
export type SetSeries = (labels: LabelSet, value: number, suffix?: string) => void;

/** Where a family's series come from at scrape time. */
export interface SeriesSource {
  /** Every series, for get(): prom-client's own renderer and anything else reading the metric. */
  each(set: SetSeries): void;
  /** Appends the series' text to `out`, each line preceded by a newline (ExpositionRegistry). */
  write(lineName: string, out: Buffer[]): void;
}

function linesOf(lineName: string, fill: (set: SetSeries) => void): string {
  let text = '';
  fill((labels, value, suffix = '') => {
    text += `\n${seriesLine(lineName + suffix, labels, value)}`;
  });
  return text;
}

/** A family computed afresh at every scrape (few series, or ones that depend on many probes). */
export function wholeFamily(fill: (set: SetSeries) => void): SeriesSource {
  return { each: fill, write: (lineName, out) => void out.push(Buffer.from(linesOf(lineName, fill))) };
}

/**
 * The probes a per-probe family covers at this moment, and a stamp for each. A view object is
 * replaced whenever a stamp or the probes change, and kept while none does: its identity tells a
 * family whether anything of it changed since it last rendered.
 */
export interface ProbeView {
  /** The same array for as long as the plan is the same: the cache is indexed by it. */
  readonly probes: readonly PlannedProbe[];
  /** Per probe, a stamp that changes whenever its series may have (never reused for other content). */
  readonly versions: readonly number[];
}

export interface PerProbeFamily {
  view(): ProbeView;
  /** The series of the view's i-th probe. */
  fill(p: PlannedProbe, i: number, set: SetSeries): void;
}

interface CachedLines {
  readonly version: number;
  readonly lineName: string;
  readonly text: string;
  readonly bytes: number;
}

/**
 * A family made of each planned probe's series, cached at two levels. Per probe, its lines as text
 * until the probe's version changes: probes run every 30 s to 1 h and Prometheus scrapes every 15 s
 * or so, so most probes' lines are unchanged between scrapes. Per family, one buffer until the view
 * changes: when nothing ran since the last scrape, the family is handed to the socket as it is. At
 * 200 instances that turns a scrape from formatting 130 000 lines into copying cached text, or into
 * nothing at all (docs/performance.md). The family buffer is written piece by piece from the
 * cached texts: joining 80 000 strings into one 12 MB string and encoding it costs more than the
 * formatting. The per-probe cache is indexed like the view's probe array and dropped when a reload
 * replaces that array.
 */
export function perProbeFamily(family: PerProbeFamily): SeriesSource {
  let cachedFor: readonly PlannedProbe[] | undefined;
  let cache: (CachedLines | undefined)[] = [];
  let body: { view: ProbeView; lineName: string; bytes: Buffer } | undefined;
  const probeLines = (view: ProbeView, lineName: string): CachedLines[] => {
    const { probes, versions } = view;
    if (probes !== cachedFor) {
      cachedFor = probes;
      cache = new Array<CachedLines | undefined>(probes.length);
    }
    const lines: CachedLines[] = [];
    for (let i = 0; i < probes.length; i++) {
      let cached = cache[i];
      if (cached === undefined || cached.version !== versions[i] || cached.lineName !== lineName) {
        const p = probes[i]!;
        const text = linesOf(lineName, (set) => family.fill(p, i, set));
        cached = { version: versions[i]!, lineName, text, bytes: Buffer.byteLength(text) };
        cache[i] = cached;
      }
      lines.push(cached);
    }
    return lines;
  };
  // One buffer per family, written piece by piece: no intermediate buffers or joined strings.
  const concat = (lines: readonly CachedLines[]): Buffer => {
    const bytes = Buffer.allocUnsafe(lines.reduce((sum, l) => sum + l.bytes, 0));
    let offset = 0;
    for (const l of lines) offset += bytes.write(l.text, offset);
    return bytes;
  };
  return {
    each(set) {
      family.view().probes.forEach((p, i) => family.fill(p, i, set));
    },
    write(lineName, out) {
      const view = family.view();
      if (body?.view !== view || body.lineName !== lineName) body = { view, lineName, bytes: concat(probeLines(view, lineName)) };
      if (body.bytes.length > 0) out.push(body.bytes);
    },
  };
}

/** A metric whose series ExpositionRegistry can take as text. */
export interface TextSeries {
  writeSeries(lineName: string, out: Buffer[]): void;
}

export function hasTextSeries(metric: object): metric is TextSeries {
  return typeof (metric as Partial<TextSeries>).writeSeries === 'function';
}

type Exported = { labels: LabelSet; value: number; metricName?: string };

export interface CollectedConfiguration {
  readonly name: string;
  readonly help: string;
  readonly type: 'gauge' | 'counter' | 'histogram';
  readonly labelNames: readonly string[];
  readonly registers: readonly Registry[];
}

/**
 * A gauge, counter or histogram whose series are computed from the result store at scrape time,
 * into get()'s answer (prom-client's renderer, Registry.merge) or straight into text (ours). The
 * usual prom-client way, `collect() { reset(); set(...) }`, hashes every label set into the metric's
 * map and reads it back: about half of a scrape at 200 instances. It has the fields prom-client's
 * registries read from their own metric classes (name, help, type, aggregator, get, reset).
 */
export class CollectedMetric implements TextSeries {
  // Not readonly: prom-client's stock OpenMetrics renderer (Registry.metrics) renames counters in place.
  name: string;
  readonly help: string;
  readonly type: 'gauge' | 'counter' | 'histogram';
  readonly labelNames: readonly string[];
  readonly aggregator: Aggregator = 'sum';
  readonly #source: SeriesSource;

  constructor(configuration: CollectedConfiguration, source: SeriesSource) {
    this.name = configuration.name;
    this.help = configuration.help;
    this.type = configuration.type;
    this.labelNames = configuration.labelNames;
    this.#source = source;
    // prom-client types registerMetric for its own four classes; it reads only the fields above.
    for (const registry of configuration.registers) registry.registerMetric(this as unknown as Metric);
  }

  async get(): Promise<{ name: string; help: string; type: string; aggregator: Aggregator; values: Exported[] }> {
    const values: Exported[] = [];
    this.#source.each((labels, value, suffix) => values.push(suffix === undefined ? { labels, value } : { labels, value, metricName: this.name + suffix }));
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  /** Nothing to reset: the series live in the result store. */
  reset(): void {}

  writeSeries(lineName: string, out: Buffer[]): void {
    this.#source.write(lineName, out);
  }
}
