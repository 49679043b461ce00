import type { FailureReason } from '../core/errors.js';
import type { PlannedProbe } from '../runner/plan.js';
import type { ProbeResult } from '../runner/result.js';
import type { ResultStore } from '../runner/store.js';
import { scrubberFor } from './redact.js';

/** One past run as the status page shows it: already scrubbed, oldest first. */
export interface HistoryEntry {
  readonly at: string;
  readonly success: boolean;
  readonly reason?: FailureReason;
  readonly message: string;
  readonly durationSeconds: number;
  /** A failure kept after it aged out of the recent history (ResultStore.preservedFailures). */
  readonly preserved: boolean;
}

/**
 * The recent runs of one planned probe, oldest first (a timeline reads left to right): first the
 * preserved older failures, then the recent history. Messages go through the same scrubber as the
 * report's, since they reach the same page.
 */
export function probeHistory(planned: PlannedProbe, store: ResultStore): HistoryEntry[] {
  const state = store.get(planned.instance.name, planned.probe.name);
  if (!state) return [];
  const scrub = scrubberFor(planned);
  const entry =
    (preserved: boolean) =>
    (r: ProbeResult): HistoryEntry => ({
      at: new Date(r.finishedAt).toISOString(),
      success: r.success,
      ...(r.reason ? { reason: r.reason } : {}),
      message: scrub(r.message),
      durationSeconds: r.durationSeconds,
      preserved,
    });
  return [...state.preservedFailures.map(entry(true)).reverse(), ...state.history.map(entry(false)).reverse()];
}
