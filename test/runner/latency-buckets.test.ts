import { describe, expect, it } from 'vitest';
import { LATENCY_BUCKET_COUNT, latencyBuckets } from '../../src/runner/latency-buckets.js';

/** The latency histogram's buckets per probe timeout (metrics.md#latency-buckets). */

describe('latencyBuckets', () => {
  it.each([
    [10, [0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10]],
    [20, [0.1, 0.2, 0.5, 1, 2, 5, 10, 20]],
    [30, [0.2, 0.5, 1, 2, 5, 10, 20, 30]],
    [60, [0.2, 0.5, 1, 2, 5, 10, 20, 60]],
    [0.75, [0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 0.75]],
  ])('timeout %s s → %o', (timeout, buckets) => {
    expect(latencyBuckets(timeout)).toEqual(buckets);
  });

  it.each([0.001, 0.5, 1, 3, 7, 10, 45, 90, 600, 86_400])('timeout %s s: fewer than 12, rising, ending at the timeout, each at most 2.5× the one before (the top one 4×)', (timeout) => {
    const buckets = latencyBuckets(timeout);
    expect(buckets).toHaveLength(LATENCY_BUCKET_COUNT);
    expect(buckets.length).toBeLessThan(12);
    expect(buckets.at(-1)).toBe(timeout);
    for (let i = 1; i < buckets.length; i++) {
      expect(buckets[i]!).toBeGreaterThan(buckets[i - 1]!);
      // Between 1-2-5 neighbours 2.5 at most; the timeout sits 1.5× to 3.75× above the next one.
      expect(buckets[i]! / buckets[i - 1]!).toBeLessThanOrEqual(i === buckets.length - 1 ? 4 : 2.5);
    }
  });
});
