import { latencyBuckets } from './latency-buckets.js';
import type { ProbeResult } from './result.js';

/**
 * A probe's latency histogram: per-bucket (not cumulative) counts, as prom-client keeps them, with
 * the bounds they were counted against (latency-buckets.ts: from the runs' timeout). The store
 * keeps it with the rest of the probe's state; /metrics renders it.
 */
export interface LatencyCounts {
  readonly timeoutSeconds: number;
  readonly bounds: readonly number[];
  readonly buckets: number[];
  sum: number;
  count: number;
}

/**
 * Counts one run. The buckets follow the run's timeout: a run under another timeout than the
 * series was counted with (a reload changed it) starts the series afresh, so each series keeps one
 * set of buckets all its life and Prometheus sees a counter reset, never buckets whose counts mean
 * different things.
 */
export function countRun(counts: LatencyCounts | undefined, result: ProbeResult): LatencyCounts {
  let current = counts;
  if (current?.timeoutSeconds !== result.timeoutSeconds) {
    const bounds = latencyBuckets(result.timeoutSeconds);
    current = { timeoutSeconds: result.timeoutSeconds, bounds, buckets: bounds.map(() => 0), sum: 0, count: 0 };
  }
  // A value on a bound counts in that bucket (le = "less or equal"), as in prom-client.
  const bucket = current.bounds.findIndex((bound) => result.durationSeconds <= bound);
  if (bucket >= 0) current.buckets[bucket]!++;
  current.sum += result.durationSeconds;
  current.count++;
  return current;
}
