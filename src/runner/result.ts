import type { FailureReason } from '../core/errors.js';
import type { Fact, Phase } from '../core/run.js';

/** Everything one run of one probe on one instance produced. Immutable once built. */
export interface ProbeResult {
  readonly instance: string;
  readonly probe: string;
  readonly success: boolean;
  readonly reason: FailureReason | undefined;
  /** Human text: what failed and why, or what was seen. Never contains a token. */
  readonly message: string;
  readonly notes: readonly string[];
  readonly target: string;
  /** Unix ms. */
  readonly startedAt: number;
  readonly finishedAt: number;
  /** How late the run started against its schedule (ms): waiting for a concurrency slot, timer lag. */
  readonly startLagMs: number;
  readonly durationSeconds: number;
  readonly timeoutSeconds: number;
  readonly phases: Readonly<Partial<Record<Phase, number>>>;
  readonly facts: readonly Fact[];
  readonly retryAfterSeconds: number | undefined;
  /** Why the run happened when it did: absent for a scheduled run. */
  readonly trigger?: RunTrigger;
}

/** `recheck`: the re-check after a first failure (recheck_after); `manual`: asked for over HTTP. */
export type RunTrigger = 'recheck' | 'manual';
