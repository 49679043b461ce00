import { countRun, type LatencyCounts } from './latency.js';
import type { ProbeResult } from './result.js';

export const HISTORY_LIMIT = 20;
export const PRESERVED_FAILURES_LIMIT = 10;

/** The state of one probe on one instance, as the runner has seen it. */
export interface ProbeState {
  last: ProbeResult | undefined;
  lastSuccessAt: number | undefined;
  runs: { success: number; failure: number };
  /** Failed runs in a row, re-checks included; 0 after a success. */
  consecutiveFailures: number;
  skipped: number;
  /** Newest first. */
  history: ProbeResult[];
  /** Failures that aged out of `history`, newest first: recent trouble stays visible. */
  preservedFailures: ProbeResult[];
  /** Every run's wall time, as the latency histogram's buckets; undefined before the first run. */
  latency: LatencyCounts | undefined;
  /** Changes with every write to this state; /metrics keeps a probe's lines until it does. */
  version: number;
}

let lastVersion = 0;

/** A stamp never handed out before in this process, so a recreated state cannot match a stale cache. */
export const nextVersion = (): number => ++lastVersion;

/** The last stamp handed out: unchanged means nothing was written since. */
export const currentVersion = (): number => lastVersion;

export const stateKey = (instance: string, probe: string): string => `${instance}\u0000${probe}`;

/**
 * Last result, bounded history and the latency histogram's counts per instance × probe: the one
 * owner of a run's result. The runner writes; metrics, the status page and the report read.
 * Nothing here does I/O.
 */
export class ResultStore {
  readonly #states = new Map<string, ProbeState>();

  get(instance: string, probe: string): ProbeState | undefined {
    return this.#states.get(stateKey(instance, probe));
  }

  /** get() by a key made once with stateKey (PlannedProbe.key): /metrics asks per series. */
  byKey(key: string): ProbeState | undefined {
    return this.#states.get(key);
  }

  entries(): IterableIterator<[string, ProbeState]> {
    return this.#states.entries();
  }

  record(result: ProbeResult): ProbeState {
    const state = this.#ensure(result.instance, result.probe);
    state.version = nextVersion();
    state.last = result;
    state.latency = countRun(state.latency, result);
    if (result.success) {
      state.lastSuccessAt = result.finishedAt;
      state.runs.success++;
      state.consecutiveFailures = 0;
    } else {
      state.runs.failure++;
      state.consecutiveFailures++;
    }
    state.history.unshift(result);
    const aged = state.history.splice(HISTORY_LIMIT);
    for (const old of aged) {
      if (!old.success) state.preservedFailures.unshift(old);
    }
    state.preservedFailures.splice(PRESERVED_FAILURES_LIMIT);
    return state;
  }

  countSkipped(instance: string, probe: string): void {
    const state = this.#ensure(instance, probe);
    state.version = nextVersion();
    state.skipped++;
  }

  /** Drops every probe not in `keep` (a reload removed it), so its series vanish. */
  retain(keep: ReadonlySet<string>): string[] {
    const dropped: string[] = [];
    nextVersion();
    for (const key of this.#states.keys()) {
      if (!keep.has(key)) {
        this.#states.delete(key);
        dropped.push(key);
      }
    }
    return dropped;
  }

  #ensure(instance: string, probe: string): ProbeState {
    const key = stateKey(instance, probe);
    let state = this.#states.get(key);
    if (!state) {
      state = { last: undefined, lastSuccessAt: undefined, runs: { success: 0, failure: 0 }, consecutiveFailures: 0, skipped: 0, history: [], preservedFailures: [], latency: undefined, version: nextVersion() };
      this.#states.set(key, state);
    }
    return state;
  }
}
