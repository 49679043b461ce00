import { Counter, Gauge, Histogram, type Aggregator, type CounterConfiguration, type GaugeConfiguration, type MetricType, type Registry } from 'prom-client';
import { FAILURE_REASONS } from '../errors.js';
import type { Fact } from '../probes/types.js';
import type { Plan, PlannedProbe } from '../runner/plan.js';
import type { ProbeResult } from '../runner/result.js';
import type { ProbeState, ResultStore } from '../runner/store.js';
import { FACT_FAMILIES, FACT_NAMES, type FactName } from './facts.js';

type Labels = Record<string, string>;
type Fill = (set: (labels: Labels, value: number) => void) => void;
type GaugeAnswer = Awaited<ReturnType<Gauge<string>['get']>>;
type CounterAnswer = Awaited<ReturnType<Counter<string>['get']>>;

/** Fields prom-client's constructors set on every metric but its type declarations leave out. */
interface MetricFields {
  readonly name: string;
  readonly help: string;
  readonly type: MetricType;
  readonly aggregator: Aggregator;
}

/** What get() answers: the metric's description and the series just computed. */
function answer(metric: object, values: { labels: Labels; value: number }[]): { name: string; help: string; type: MetricType; aggregator: Aggregator; values: typeof values } {
  // Read at every scrape: the OpenMetrics registry renames counters (drops `_total`) in place.
  const { name, help, type, aggregator } = metric as MetricFields;
  return { name, help, type, aggregator, values };
}

/**
 * A gauge whose series are computed at scrape time straight into get()'s answer. The usual way,
 * `collect() { reset(); set(...) }`, hashes every label set into prom-client's per-metric map and
 * reads it back: about half of a scrape at 200 instances (docs/performance.md).
 */
class CollectedGauge extends Gauge<string> {
  readonly #fill: Fill;

  constructor(configuration: GaugeConfiguration<string>, fill: Fill) {
    super(configuration);
    this.#fill = fill;
  }

  override async get(): Promise<GaugeAnswer> {
    const values: { labels: Labels; value: number }[] = [];
    this.#fill((labels, value) => values.push({ labels, value }));
    return answer(this, values) as GaugeAnswer;
  }
}

/** The same for counters whose totals live in the result store. */
class CollectedCounter extends Counter<string> {
  readonly #fill: Fill;

  constructor(configuration: CounterConfiguration<string>, fill: Fill) {
    super(configuration);
    this.#fill = fill;
  }

  override async get(): Promise<CounterAnswer> {
    const values: { labels: Labels; value: number }[] = [];
    this.#fill((labels, value) => values.push({ labels, value }));
    return answer(this, values) as CounterAnswer;
  }
}

// Each fact family looks up its facts in every probe's last result; grouped once per result.
const factsByName = new WeakMap<ProbeResult, Map<FactName, Fact[]>>();

function factsOf(result: ProbeResult, name: FactName): readonly Fact[] {
  let grouped = factsByName.get(result);
  if (!grouped) {
    grouped = new Map();
    for (const fact of result.facts) {
      const list = grouped.get(fact.name);
      if (list) list.push(fact);
      else grouped.set(fact.name, [fact]);
    }
    factsByName.set(result, grouped);
  }
  return grouped.get(name) ?? [];
}

export interface MetricsSource {
  readonly store: ResultStore;
  plan(): Plan;
}

export const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

const PROBE_LABELS = ['gitlab', 'probe'] as const;

/**
 * The per-probe families of metrics.md. Gauges are rendered at scrape time from the result store
 * (prom-client `collect`), so a scrape does no I/O and probes removed by a reload disappear. Only
 * the latency histogram is fed as runs finish, because its buckets accumulate.
 */
export class ProbeMetrics {
  readonly #latency: Histogram<'gitlab' | 'probe'>;

  constructor(
    private readonly source: MetricsSource,
    registers: Registry[],
  ) {
    const perRun = (name: string, help: string, value: (state: ProbeState, p: PlannedProbe) => number | undefined): void => {
      this.#gauge(name, help, [...PROBE_LABELS], registers, (set) =>
        this.#eachScheduled((p, state) => {
          const v = state ? value(state, p) : undefined;
          if (v !== undefined) set({ gitlab: p.instance.name, probe: p.probe.name }, v);
        }),
      );
    };
    perRun('gitlab_duo_probe_success', 'Whether the last run of the probe succeeded (1) or failed (0).', (s) => (s.last ? Number(s.last.success) : undefined));
    perRun('gitlab_duo_probe_duration_seconds', 'Wall time of the last run of the probe.', (s) => s.last?.durationSeconds);
    perRun('gitlab_duo_probe_last_run_timestamp_seconds', 'When the last run of the probe finished (Unix seconds); probes run on a schedule, not on scrape.', (s) =>
      s.last ? s.last.finishedAt / 1000 : undefined,
    );
    perRun('gitlab_duo_probe_last_success_timestamp_seconds', 'When a run of the probe last succeeded (Unix seconds; 0 if never).', (s) =>
      s.last ? (s.lastSuccessAt ?? 0) / 1000 : undefined,
    );
    this.#gauge('gitlab_duo_probe_enabled', 'Whether the probe is scheduled (1) or skipped for lack of a token or endpoint (0).', [...PROBE_LABELS], registers, (set) => {
      for (const p of this.source.plan().probes) set({ gitlab: p.instance.name, probe: p.probe.name }, p.skippedBecause === undefined ? 1 : 0);
    });
    this.#gauge('gitlab_duo_probe_timeout_seconds', 'The deadline applied to each run of the probe.', [...PROBE_LABELS], registers, (set) =>
      this.#eachScheduled((p) => set({ gitlab: p.instance.name, probe: p.probe.name }, p.settings.timeoutMs / 1000)),
    );
    this.#gauge('gitlab_duo_probe_interval_seconds', 'The interval between runs of the probe (absent for cron schedules).', [...PROBE_LABELS], registers, (set) =>
      this.#eachScheduled((p) => {
        if (p.settings.schedule.kind === 'every') set({ gitlab: p.instance.name, probe: p.probe.name }, p.settings.schedule.ms / 1000);
      }),
    );
    this.#phaseGauge(registers);
    this.#reasonGauge(registers);
    this.#counters(registers);
    this.#factGauges(registers);
    this.#readyGauge(registers);
    this.#latency = new Histogram({
      name: 'gitlab_duo_probe_latency_seconds',
      help: 'Wall time of every run of the probe, for percentiles over time.',
      labelNames: PROBE_LABELS,
      buckets: LATENCY_BUCKETS,
      registers,
    });
  }

  /** Feeds the histogram; everything else is read from the store at scrape time. */
  observe(result: ProbeResult): void {
    this.#latency.observe({ gitlab: result.instance, probe: result.probe }, result.durationSeconds);
  }

  /** Drops histogram series of probes a reload removed (the store drops the rest). */
  forget(instance: string, probe: string): void {
    this.#latency.remove({ gitlab: instance, probe });
  }

  #eachScheduled(fn: (p: PlannedProbe, state: ProbeState | undefined) => void): void {
    for (const p of this.source.plan().probes) {
      if (p.skippedBecause === undefined) fn(p, this.source.store.byKey(p.key));
    }
  }

  #gauge(name: string, help: string, labelNames: string[], registers: Registry[], fill: Fill): void {
    new CollectedGauge({ name, help, labelNames, registers }, fill);
  }

  #phaseGauge(registers: Registry[]): void {
    this.#gauge('gitlab_duo_probe_phase_duration_seconds', "Time the last run spent in each phase of the probe (0 for phases it did not reach).", ['gitlab', 'probe', 'phase'], registers, (set) =>
      this.#eachScheduled((p, state) => {
        if (!state?.last) return;
        for (const phase of p.probe.phases) set({ gitlab: p.instance.name, probe: p.probe.name, phase }, state.last.phases[phase] ?? 0);
      }),
    );
  }

  #reasonGauge(registers: Registry[]): void {
    this.#gauge('gitlab_duo_probe_failure_reason', 'Why the last run failed: 1 for its reason, 0 for the others (all 0 after a success).', ['gitlab', 'probe', 'reason'], registers, (set) =>
      this.#eachScheduled((p, state) => {
        if (!state?.last) return;
        for (const reason of FAILURE_REASONS) set({ gitlab: p.instance.name, probe: p.probe.name, reason }, state.last.reason === reason ? 1 : 0);
      }),
    );
  }

  #counters(registers: Registry[]): void {
    new CollectedCounter({ name: 'gitlab_duo_probe_runs_total', help: 'Runs of the probe, by result.', labelNames: ['gitlab', 'probe', 'result'], registers }, (set) =>
      this.#eachScheduled((p, state) => {
        for (const result of ['success', 'failure'] as const) set({ gitlab: p.instance.name, probe: p.probe.name, result }, state?.runs[result] ?? 0);
      }),
    );
    new CollectedCounter(
      {
        name: 'gitlab_duo_probe_skipped_runs_total',
        help: 'Scheduled runs not started because the previous run of the probe was still going.',
        labelNames: [...PROBE_LABELS],
        registers,
      },
      (set) => this.#eachScheduled((p, state) => set({ gitlab: p.instance.name, probe: p.probe.name }, state?.skipped ?? 0)),
    );
  }

  #factGauges(registers: Registry[]): void {
    for (const name of FACT_NAMES) {
      const family = FACT_FAMILIES[name];
      const labelNames = ['gitlab', ...(family.perProbe ? ['probe'] : []), ...family.labels];
      this.#gauge(name, family.help, labelNames, registers, (set) => this.#eachScheduled((p, state) => this.#emitFacts(name, p, state, set)));
    }
  }

  #emitFacts(name: FactName, p: PlannedProbe, state: ProbeState | undefined, set: (labels: Labels, value: number) => void): void {
    const family = FACT_FAMILIES[name];
    if (!state?.last) return;
    for (const fact of factsOf(state.last, name)) {
      const base: Labels = family.perProbe ? { gitlab: p.instance.name, probe: p.probe.name } : { gitlab: p.instance.name };
      const labels: Labels = { ...base };
      for (const label of family.labels) labels[label] = fact.labels?.[label] ?? '';
      set(labels, fact.value);
    }
  }

  #readyGauge(registers: Registry[]): void {
    this.#gauge('gitlab_duo_ready', 'Whether every required, enabled probe of the instance succeeded on its last run.', ['gitlab'], registers, (set) => {
      const ready = new Map<string, boolean>();
      for (const p of this.source.plan().probes) {
        const name = p.instance.name;
        if (!ready.has(name)) ready.set(name, true);
        if (p.skippedBecause !== undefined || !p.settings.required) continue;
        if (!this.source.store.get(name, p.probe.name)?.last?.success) ready.set(name, false);
      }
      for (const [gitlab, ok] of ready) set({ gitlab }, ok ? 1 : 0);
    });
  }
}
