import type { Registry } from 'prom-client';
import { CAPABILITY_NAMES, type InstanceEnvironment } from '../gitlab/deployment.js';
import { declaredReasons } from '../probes/types.js';
import { type Fact, type Phase } from '../core/run.js';
import { scheduled, type Plan, type PlannedProbe } from '../runner/plan.js';
import type { ProbeResult } from '../runner/result.js';
import { currentVersion, type ProbeState, type ResultStore } from '../runner/store.js';
import { CollectedMetric, perProbeFamily, wholeFamily, type ProbeView, type SetSeries } from './collected.js';
import { FACT_FAMILIES, FACT_NAMES, type FactName } from '../core/facts.js';

type Labels = Record<string, string>;
/** One probe's series of a family, from its plan entry and its state in the store. */
type ProbeFill = (p: PlannedProbe, state: ProbeState | undefined, set: SetSeries) => void;

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

const PROBE_LABELS = ['gitlab', 'probe'] as const;

const probeLabels = (p: PlannedProbe): Labels => ({ gitlab: p.instance.name, probe: p.probe.name });

const exportedPhases = new WeakMap<PlannedProbe, readonly Phase[]>();

/**
 * The phases a planned probe has on its instance: its declared ones, but `proxy_connect` only
 * where a proxy is configured (without one no run can ever enter it). Each is pre-set to 0.
 */
function phasesOf(p: PlannedProbe): readonly Phase[] {
  let phases = exportedPhases.get(p);
  if (!phases) {
    phases = p.net.proxy ? p.probe.phases : p.probe.phases.filter((phase) => phase !== 'proxy_connect');
    exportedPhases.set(p, phases);
  }
  return phases;
}

/** A view whose series depend on the plan alone: one stamp (0) for as long as the plan lasts. */
const planOnly = (probes: readonly PlannedProbe[]): ProbeView => ({ probes, versions: probes.map(() => 0) });

/** What every family reads at a scrape, taken once for as long as nothing changes. */
interface Snapshot {
  readonly plan: Plan;
  readonly stamp: number;
  /** Every planned probe, scheduled or not; plan-only stamps (0). */
  readonly all: ProbeView;
  /** Scheduled probes with plan-only stamps. */
  readonly planned: ProbeView;
  /** Scheduled probes with their store states' stamps. */
  readonly states: ProbeView;
  /** Those states, in the same order. */
  readonly stateList: readonly (ProbeState | undefined)[];
}

/**
 * The per-probe families of metrics.md, computed at scrape time from the plan and the result store
 * (so a scrape does no I/O and probes removed by a reload disappear), each probe's lines kept as
 * text until its state changes. The latency histogram's counts are the store's too (runner/latency.ts).
 */
export class ProbeMetrics {
  readonly #registers: readonly Registry[];
  #snapshot: Snapshot | undefined;

  constructor(
    private readonly source: MetricsSource,
    registers: Registry[],
  ) {
    this.#registers = registers;
    const perRun = (name: string, help: string, value: (state: ProbeState) => number | undefined): void =>
      this.#perProbe('gauge', name, help, [...PROBE_LABELS], (p, state, set) => {
        const v = state ? value(state) : undefined;
        if (v !== undefined) set(probeLabels(p), v);
      });
    perRun('gitlab_duo_probe_success', 'Whether the last run of the probe succeeded (1) or failed (0).', (s) => (s.last ? Number(s.last.success) : undefined));
    perRun('gitlab_duo_probe_duration_seconds', 'Wall time of the last run of the probe.', (s) => s.last?.durationSeconds);
    perRun('gitlab_duo_probe_last_run_timestamp_seconds', 'When the last run of the probe finished (Unix seconds); probes run on a schedule, not on scrape.', (s) =>
      s.last ? s.last.finishedAt / 1000 : undefined,
    );
    perRun('gitlab_duo_probe_last_success_timestamp_seconds', 'When a run of the probe last succeeded (Unix seconds; 0 if never).', (s) =>
      s.last ? (s.lastSuccessAt ?? 0) / 1000 : undefined,
    );
    this.#planGauges();
    this.#phaseGauge();
    this.#reasonGauge();
    this.#counters();
    this.#factGauges();
    this.#readyGauge();
    this.#environmentGauges();
    this.#latencyHistogram();
  }

  /**
   * The probes and their stamps, re-read only after a write to the store or a reload: every
   * family of a scrape shares one look-up per probe instead of one per family and probe.
   */
  #view(): Snapshot {
    const plan = this.source.plan();
    const stamp = currentVersion();
    const last = this.#snapshot;
    if (last?.plan === plan && last.stamp === stamp) return last;
    const { store } = this.source;
    const samePlan = last?.plan === plan;
    const all = samePlan ? last.all : planOnly(plan.probes);
    const planned = samePlan ? last.planned : planOnly(scheduled(plan));
    const { probes } = planned;
    // A view is kept while its stamps are unchanged: the families render from cache when it is.
    const keep = (previous: ProbeView | undefined, versions: number[]): ProbeView =>
      previous?.probes === probes && versions.every((v, i) => v === previous.versions[i]) ? previous : { probes, versions };
    const stateList = probes.map((p) => store.byKey(p.key));
    this.#snapshot = {
      plan,
      stamp,
      all,
      planned,
      stateList,
      states: keep(last?.states, stateList.map((state) => state?.version ?? 0)),
    };
    return this.#snapshot;
  }

  /** A family with series from every scheduled probe, cached per probe until its state changes. */
  #perProbe(type: 'gauge' | 'counter', name: string, help: string, labelNames: string[], fill: ProbeFill): void {
    const source = perProbeFamily({ view: () => this.#view().states, fill: (p, i, set) => fill(p, this.#view().stateList[i], set) });
    new CollectedMetric({ type, name, help, labelNames, registers: this.#registers }, source);
  }

  /** Families that depend on the plan alone: cached until a reload replaces the plan. */
  #planGauges(): void {
    const planGauge = (name: string, help: string, all: boolean, fill: (p: PlannedProbe, set: SetSeries) => void): void => {
      const source = perProbeFamily({ view: () => (all ? this.#view().all : this.#view().planned), fill: (p, _i, set) => fill(p, set) });
      new CollectedMetric({ type: 'gauge', name, help, labelNames: [...PROBE_LABELS], registers: this.#registers }, source);
    };
    planGauge('gitlab_duo_probe_enabled', 'Whether the probe is scheduled (1) or skipped for lack of a token or endpoint (0).', true, (p, set) =>
      set(probeLabels(p), p.skippedBecause === undefined ? 1 : 0),
    );
    planGauge('gitlab_duo_probe_required', 'Whether the probe counts in gitlab_duo_ready for this instance (from the deployment profile, capabilities and config).', true, (p, set) =>
      set(probeLabels(p), p.required ? 1 : 0),
    );
    planGauge('gitlab_duo_probe_timeout_seconds', 'The deadline applied to each run of the probe.', false, (p, set) => set(probeLabels(p), p.settings.timeoutMs / 1000));
    planGauge('gitlab_duo_probe_interval_seconds', 'The interval between runs of the probe (absent for cron schedules).', false, (p, set) => {
      if (p.settings.schedule.kind === 'every') set(probeLabels(p), p.settings.schedule.ms / 1000);
    });
  }

  #phaseGauge(): void {
    this.#perProbe('gauge', 'gitlab_duo_probe_phase_duration_seconds', 'Time the last run spent in each phase of the probe (0 for phases it did not reach).', ['gitlab', 'probe', 'phase'], (p, state, set) => {
      if (!state?.last) return;
      for (const phase of phasesOf(p)) set({ gitlab: p.instance.name, probe: p.probe.name, phase }, state.last.phases[phase] ?? 0);
    });
  }

  #reasonGauge(): void {
    const help = 'Why the last run failed: 1 for its reason, 0 for the other reasons the probe can fail with (all 0 after a success).';
    this.#perProbe('gauge', 'gitlab_duo_probe_failure_reason', help, ['gitlab', 'probe', 'reason'], (p, state, set) => {
      if (!state?.last) return;
      // Only the reasons this probe declares: run-probe.ts reports any other as `internal`.
      for (const reason of declaredReasons(p.probe)) set({ gitlab: p.instance.name, probe: p.probe.name, reason }, state.last.reason === reason ? 1 : 0);
    });
  }

  #counters(): void {
    this.#perProbe('counter', 'gitlab_duo_probe_runs_total', 'Runs of the probe, by result.', ['gitlab', 'probe', 'result'], (p, state, set) => {
      for (const result of ['success', 'failure'] as const) set({ gitlab: p.instance.name, probe: p.probe.name, result }, state?.runs[result] ?? 0);
    });
    this.#perProbe('gauge', 'gitlab_duo_probe_consecutive_failures', 'Failed runs of the probe in a row, re-checks included (0 after a success); alerts page on 2, a failure confirmed by a re-check.', [...PROBE_LABELS], (p, state, set) => {
      if (state?.last) set(probeLabels(p), state.consecutiveFailures);
    });
    this.#perProbe('counter', 'gitlab_duo_probe_skipped_runs_total', 'Scheduled runs not started because the previous run of the probe was still going.', [...PROBE_LABELS], (p, state, set) =>
      set(probeLabels(p), state?.skipped ?? 0),
    );
  }

  #factGauges(): void {
    for (const name of FACT_NAMES) {
      const family = FACT_FAMILIES[name];
      const labelNames = ['gitlab', ...(family.perProbe ? ['probe'] : []), ...family.labels];
      this.#perProbe('gauge', name, family.help, labelNames, (p, state, set) => {
        // Most probes never report a given fact: skip them before looking at their results.
        if (!state?.last || !p.probe.facts.includes(name)) return;
        for (const fact of factsOf(state.last, name)) {
          const labels: Labels = family.perProbe ? probeLabels(p) : { gitlab: p.instance.name };
          for (const label of family.labels) labels[label] = fact.labels?.[label] ?? '';
          set(labels, fact.value);
        }
      });
    }
  }

  /** Depends on every probe of an instance, and has one series per instance: computed per scrape. */
  #readyGauge(): void {
    const fill = (set: SetSeries): void => {
      const ready = new Map<string, boolean>();
      for (const p of this.source.plan().probes) {
        const name = p.instance.name;
        if (!ready.has(name)) ready.set(name, true);
        if (!p.required) continue;
        if (!this.source.store.byKey(p.key)?.last?.success) ready.set(name, false);
      }
      for (const [gitlab, ok] of ready) set({ gitlab }, ok ? 1 : 0);
    };
    const help = 'Whether every required, enabled probe of the instance succeeded on its last run.';
    new CollectedMetric({ type: 'gauge', name: 'gitlab_duo_ready', help, labelNames: ['gitlab'], registers: this.#registers }, wholeFamily(fill));
  }

  /** What each GitLab offers and how Duo is deployed there: from the plan, one look per scrape. */
  #environmentGauges(): void {
    const perInstance = (name: string, help: string, labelNames: string[], fill: (gitlab: string, env: InstanceEnvironment, set: SetSeries) => void): void => {
      const source = wholeFamily((set) => {
        for (const [gitlab, env] of this.source.plan().environments) fill(gitlab, env, set);
      });
      new CollectedMetric({ type: 'gauge', name, help, labelNames, registers: this.#registers }, source);
    };
    perInstance('gitlab_duo_gitlab_capability', "What this GitLab offers, as detected (1/0; absent while unknown).", ['gitlab', 'capability'], (gitlab, env, set) => {
      for (const capability of CAPABILITY_NAMES) {
        const value = env.flags[capability];
        if (value !== undefined) set({ gitlab, capability }, value ? 1 : 0);
      }
    });
    perInstance('gitlab_duo_deployment_info', 'The deployment profile the probes follow, and where it came from (value 1).', ['gitlab', 'deployment', 'source'], (gitlab, env, set) =>
      set({ gitlab, deployment: env.deployment, source: env.deploymentSource }, 1),
    );
  }

  /** prom-client's histogram lines: cumulative `_bucket`s with `le` first, `+Inf`, `_sum`, `_count`. */
  #latencyHistogram(): void {
    const source = perProbeFamily({
      view: () => this.#view().states,
      fill: (p, i, set) => {
        const counts = this.#view().stateList[i]?.latency;
        if (!counts) return;
        const labels = probeLabels(p);
        let cumulative = 0;
        counts.bounds.forEach((le, i) => {
          cumulative += counts.buckets[i]!;
          set({ le, ...labels }, cumulative, '_bucket');
        });
        set({ le: '+Inf', ...labels }, counts.count, '_bucket');
        set(labels, counts.sum, '_sum');
        set(labels, counts.count, '_count');
      },
    });
    const help = 'Wall time of every run of the probe, for percentiles over time.';
    new CollectedMetric({ type: 'histogram', name: 'gitlab_duo_probe_latency_seconds', help, labelNames: [...PROBE_LABELS], registers: this.#registers }, source);
  }
}
