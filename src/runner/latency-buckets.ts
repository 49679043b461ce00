/**
 * The buckets of gitlab_duo_probe_latency_seconds, per probe: derived from the timeout its runs
 * get, because a run lasts at most that long. The top bucket is the timeout itself, so every run
 * that ended in time is counted in a finite bucket and one cut off by its deadline lands above it
 * (`le="+Inf"` minus `le="<timeout>"` counts those). Below it, the 1-2-5 series from two thirds
 * of the timeout down (…, 0.5, 1, 2, 5, 10, 20, …): a roughly geometric spread over two to three
 * decades, on round values, with the alert rules' thresholds (1, 2 and 5 s) among them for every
 * default timeout.
 */
export const LATENCY_BUCKET_COUNT = 8;

const MANTISSAS = [5, 2, 1] as const;
// A 1-2-5 value just under the timeout (50 s under 60 s) would split the top decade for nothing.
const HEADROOM = 1.5;
// Timeouts are config durations: a handful of distinct values. The bound is for safety only.
const MAX_CACHED = 64;

const cache = new Map<number, readonly number[]>();

/** Ascending upper bounds, LATENCY_BUCKET_COUNT of them, the last one `timeoutSeconds`. */
export function latencyBuckets(timeoutSeconds: number): readonly number[] {
  let buckets = cache.get(timeoutSeconds);
  if (!buckets) {
    buckets = [...oneTwoFiveUpTo(timeoutSeconds / HEADROOM, LATENCY_BUCKET_COUNT - 1), timeoutSeconds];
    if (cache.size >= MAX_CACHED) cache.clear();
    cache.set(timeoutSeconds, buckets);
  }
  return buckets;
}

/** The `count` largest values of the 1-2-5 series not above `limit`, ascending. */
function oneTwoFiveUpTo(limit: number, count: number): number[] {
  const values: number[] = [];
  // Config timeouts are at least 1 ms; a non-positive one would have no series to walk.
  if (!(limit > 0)) return values;
  // Built from the decimal text ("5e-2"), so each bound is exactly the number its label shows.
  for (let exponent = Math.ceil(Math.log10(limit)); values.length < count; exponent--) {
    for (const mantissa of MANTISSAS) {
      const value = Number(`${mantissa}e${exponent}`);
      if (value <= limit && values.length < count) values.push(value);
    }
  }
  return values.reverse();
}
