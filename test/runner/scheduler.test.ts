import { afterEach, describe, expect, it, vi } from 'vitest';
import { Limiter } from '../../src/runner/limiter.js';
import type { ProbeResult } from '../../src/runner/result.js';
import { Scheduler, secondRunAt, slotAtOrAfter, slotOffsetMs } from '../../src/runner/scheduler.js';
import { fakeProbe, plannedFake, silentLogger } from '../helpers/fake-probe.js';

interface Harness {
  scheduler: Scheduler;
  results: ProbeResult[];
  skipped: number;
}

function harness(planned: ReturnType<typeof plannedFake>[], options: { random?: () => number; limit?: number } = {}): Harness {
  const h: Harness = { scheduler: undefined as unknown as Scheduler, results: [], skipped: 0 };
  h.scheduler = new Scheduler(planned, {
    limiter: new Limiter(options.limit ?? 8),
    logger: silentLogger,
    random: options.random ?? (() => 0),
    onResult: (_p, r) => h.results.push(r),
    onSkip: () => h.skipped++,
  });
  return h;
}

type Planned = ReturnType<typeof plannedFake>;

const JAN_1 = Date.UTC(2026, 0, 1);

function intervalOf(planned: Planned): number {
  const { schedule } = planned.settings;
  if (schedule.kind !== 'every') throw new Error('a fixed-rate probe');
  return schedule.ms;
}

function offsetOf(planned: Planned): number {
  return slotOffsetMs(planned.instance.name, planned.probe.name, intervalOf(planned));
}

/**
 * A start time on one of the probe's own slots: with jitter 0 the first run sits on the grid, so
 * the next tick is exactly one interval later and the timing tests need no slot arithmetic.
 */
function onSlot(planned: Planned, after = JAN_1): number {
  return slotAtOrAfter(after, intervalOf(planned), offsetOf(planned));
}

/** Where a start time falls in the interval, in [0, interval). */
function phaseOf(t: number, intervalMs: number): number {
  return ((t % intervalMs) + intervalMs) % intervalMs;
}

/** A seeded PRNG (mulberry32), so the randomised checks are the same on every run. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('scheduler', () => {
  it('never overlaps a probe with itself: a tick during a slow run is skipped and counted', async () => {
    let release!: () => void;
    const slow = fakeProbe(() => new Promise<void>((resolve) => (release = resolve)));
    const planned = plannedFake(slow, { kind: 'every', ms: 1000 }, 900);
    vi.useFakeTimers({ now: onSlot(planned) });
    const h = harness([planned]);
    h.scheduler.start();
    await vi.advanceTimersByTimeAsync(0); // first run starts at jitter 0
    await vi.advanceTimersByTimeAsync(3000); // three more ticks while it is still going
    expect(h.skipped).toBe(3);
    expect(h.results).toHaveLength(0);
    release();
    await vi.advanceTimersByTimeAsync(1000); // the 4 s tick finds it finished and starts a new run
    expect(h.results).toHaveLength(1);
    expect(h.skipped).toBe(3);
    release();
    await vi.advanceTimersByTimeAsync(1);
    expect(h.results).toHaveLength(2);
    await h.scheduler.stop(0);
  });

  it('starts the first run within the start jitter, then runs on the probe\'s slot at a fixed rate', async () => {
    const planned = plannedFake(fakeProbe(async () => undefined), { kind: 'every', ms: 10_000 }, 5000);
    // Start just after a slot, so the first run (jitter 5 s) is off the grid and the second moves onto it.
    vi.useFakeTimers({ now: onSlot(planned) + 1234 });
    const h = harness([planned], { random: () => 0.5 });
    h.scheduler.start();
    await vi.advanceTimersByTimeAsync(4999);
    expect(h.results).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(2);
    expect(h.results).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(30_000);
    const starts = h.results.map((r) => r.startedAt);
    // The first run is at slot + 6234; the second at the first slot ≥ 6234 + 5000 (timeout), slot + 20 000.
    expect(starts.map((t) => t - starts[0]!)).toEqual([0, 13_766, 23_766]);
    for (const t of starts.slice(1)) expect(phaseOf(t, 10_000)).toBe(offsetOf(planned));
    await h.scheduler.stop(0);
  });

  it('runs cron schedules on their expression', async () => {
    vi.useFakeTimers({ now: new Date('2026-01-01T00:00:30Z') });
    const h = harness([plannedFake(fakeProbe(async () => undefined), { kind: 'cron', expression: '*/2 * * * *' }, 5000)]);
    h.scheduler.start();
    await vi.advanceTimersByTimeAsync(10); // the start-up run
    expect(h.results).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(4 * 60_000);
    // 00:02 and 00:04 fired; nothing in between.
    expect(h.results.map((r) => new Date(r.startedAt).toISOString().slice(11, 16))).toEqual(['00:00', '00:02', '00:04']);
    await h.scheduler.stop(0);
  });

  it('defers the next run after a Retry-After', async () => {
    vi.useFakeTimers();
    const { ProbeError } = await import('../../src/core/errors.js');
    const limited = fakeProbe(async () => {
      throw new ProbeError('rate_limited', '429', { retryAfterSeconds: 25 });
    });
    const planned = plannedFake(limited, { kind: 'every', ms: 10_000 }, 5000);
    vi.setSystemTime(onSlot(planned));
    const h = harness([planned]);
    h.scheduler.start();
    await vi.advanceTimersByTimeAsync(21_000); // ticks at 10 s and 20 s fall inside the 25 s
    expect(h.results).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(10_000); // the 30 s tick runs
    expect(h.results).toHaveLength(2);
    await h.scheduler.stop(0);
  });

  it('caps concurrency across probes', async () => {
    vi.useFakeTimers();
    let inFlight = 0;
    let peak = 0;
    const releases: Array<() => void> = [];
    const probe = (name: string) =>
      fakeProbe(async () => {
        inFlight++;
        peak = Math.max(peak, inFlight);
        await new Promise<void>((resolve) => releases.push(resolve));
        inFlight--;
      }, name);
    const planned = ['a', 'b', 'c', 'd'].map((n) => plannedFake(probe(n), { kind: 'every', ms: 60_000 }, 30_000));
    const h = harness(planned, { limit: 2 });
    h.scheduler.start();
    await vi.advanceTimersByTimeAsync(1);
    expect(inFlight).toBe(2);
    while (releases.length > 0) {
      releases.shift()!();
      await vi.advanceTimersByTimeAsync(1);
    }
    expect(peak).toBe(2);
    expect(h.results).toHaveLength(4);
    await h.scheduler.stop(0);
  });

  it('stop() aborts runs still going after the grace period', async () => {
    let sawAbort = false;
    const hanging = fakeProbe(
      (ctx) =>
        new Promise<void>((_resolve, reject) => {
          ctx.signal.addEventListener('abort', () => {
            sawAbort = true;
            reject(new Error('aborted'));
          });
        }),
    );
    const h = harness([plannedFake(hanging, { kind: 'every', ms: 60_000 }, 50_000)]);
    h.scheduler.start();
    await new Promise((resolve) => setTimeout(resolve, 20));
    await h.scheduler.stop(10);
    expect(sawAbort).toBe(true);
  });
});

describe('scheduler slots (steady phase from a hash, not from the first run)', () => {
  /** stop() waits on timers (grace, deadline), so the fake clock must move while it does. */
  async function stopUnderFakeTimers(h: Harness): Promise<void> {
    const stopping = h.scheduler.stop(0);
    await vi.advanceTimersByTimeAsync(1000);
    await stopping;
  }

  /** Runs one Scheduler from `startAt` for `forMs` and returns each probe's run start times. */
  async function startsPerProbe(planned: Planned[], startAt: number, random: () => number, forMs: number): Promise<Map<string, number[]>> {
    vi.useFakeTimers({ now: startAt });
    const h = harness(planned, { random });
    h.scheduler.start();
    await vi.advanceTimersByTimeAsync(forMs);
    await stopUnderFakeTimers(h);
    vi.useRealTimers();
    const starts = new Map<string, number[]>();
    for (const r of h.results) starts.set(r.probe, [...(starts.get(r.probe) ?? []), r.startedAt]);
    return starts;
  }

  it('puts probes with the same interval on different slots, the same ones after a restart', async () => {
    const instant = async (): Promise<void> => undefined;
    const planned = ['websocket_cable', 'instance_http2'].map((name) => plannedFake(fakeProbe(instant, name), { kind: 'every', ms: 30_000 }, 10_000, 'gitlab-a'));
    // Two runs of the exporter: different start times, different start jitter.
    const before = await startsPerProbe(planned, JAN_1 + 1234, () => 0.1, 100_000);
    const after = await startsPerProbe(planned, JAN_1 + 7 * 60_000 + 29_876, () => 0.9, 100_000);
    const steadyPhases = (starts: Map<string, number[]>, probe: string): number[] => [...new Set(starts.get(probe)!.slice(1).map((t) => phaseOf(t, 30_000)))];

    for (const probe of ['websocket_cable', 'instance_http2']) {
      expect(before.get(probe)!.length, `${probe}: first run and steady runs`).toBeGreaterThanOrEqual(3);
      expect(steadyPhases(before, probe), `${probe}: one slot while running`).toHaveLength(1);
      expect(steadyPhases(after, probe), `${probe}: the same slot after a restart`).toEqual(steadyPhases(before, probe));
      expect(steadyPhases(before, probe)).toEqual([slotOffsetMs('gitlab-a', probe, 30_000)]);
    }
    expect(steadyPhases(before, 'websocket_cable')).not.toEqual(steadyPhases(before, 'instance_http2'));
  });

  it('keeps the slot stable: a pure function of instance, probe and interval', () => {
    expect(slotOffsetMs('gitlab-a', 'license', 300_000)).toBe(slotOffsetMs('gitlab-a', 'license', 300_000));
    expect(slotOffsetMs('gitlab-a', 'license', 300_000)).not.toBe(slotOffsetMs('gitlab-b', 'license', 300_000));
    // The separator keeps ("ab", "c") and ("a", "bc") apart.
    expect(slotOffsetMs('ab', 'c', 60_000)).not.toBe(slotOffsetMs('a', 'bc', 60_000));
    for (const interval of [1, 1000, 30_000, 2 ** 31 - 1]) {
      const offset = slotOffsetMs('gitlab-a', 'license', interval);
      expect(offset).toBeGreaterThanOrEqual(0);
      expect(offset).toBeLessThan(interval);
      expect(Number.isInteger(offset)).toBe(true);
    }
  });

  const fleets: Array<[string, (i: number) => [string, string]]> = [
    ['1000 instances, one probe', (i) => [`instance-${i}`, 'websocket_cable']],
    ['334 instances × three probes', (i) => [`gitlab-${Math.floor(i / 3)}.example.com`, ['ai_gateway', 'instance_http2', 'duo_workflow_service'][i % 3]!]],
  ];
  describe.each(fleets)('%s', (_name, probeAt) => {
    it.each([1000, 30_000, 60_000, 300_000, 3_600_000])('spreads 1000 offsets roughly evenly over a %i ms interval', (intervalMs) => {
      const buckets = new Array<number>(10).fill(0);
      for (let i = 0; i < 1000; i++) {
        const [instance, probe] = probeAt(i);
        buckets[Math.floor((slotOffsetMs(instance, probe, intervalMs) * 10) / intervalMs)]!++;
      }
      // Each tenth of the interval should get about 100: none more than twice, none less than half.
      expect(Math.max(...buckets), buckets.join(' ')).toBeLessThanOrEqual(200);
      expect(Math.min(...buckets), buckets.join(' ')).toBeGreaterThanOrEqual(50);
    });
  });

  it('moves onto the grid within the detection bound: timeout ≤ first→second gap < interval + timeout', () => {
    const random = seeded(42);
    const intervals = [1000, 2000, 30_000, 60_000, 300_000, 600_000, 3_600_000, 2 ** 31 - 1];
    const violations: string[] = [];
    for (let i = 0; i < 20_000; i++) {
      const intervalMs = intervals[i % intervals.length]!;
      const timeoutMs = 1 + Math.floor(random() * (intervalMs - 1));
      const offsetMs = slotOffsetMs(`instance-${i}`, 'probe', intervalMs);
      const firstAt = JAN_1 + Math.floor(random() * 365 * 86_400_000);
      const secondAt = secondRunAt(firstAt, intervalMs, offsetMs, timeoutMs);
      const gap = secondAt - firstAt;
      if (gap < timeoutMs || gap > intervalMs + timeoutMs || phaseOf(secondAt, intervalMs) !== offsetMs) {
        violations.push(`interval ${intervalMs}, timeout ${timeoutMs}, first ${firstAt}: gap ${gap}`);
      }
    }
    expect(violations).toEqual([]);
  });

  it('keeps the gap rule in the running scheduler, and a first run that uses its whole timeout is not counted as skipped', async () => {
    const random = seeded(7);
    for (let i = 0; i < 40; i++) {
      const intervalMs = [10_000, 30_000, 60_000][i % 3]!;
      const timeoutMs = 1000 + Math.floor(random() * (intervalMs - 1000));
      // Uses all of its deadline but one millisecond (fake time; the deadline itself is not faked).
      const slow = fakeProbe(() => new Promise<void>((resolve) => setTimeout(resolve, timeoutMs - 1)), `probe-${i}`);
      const planned = plannedFake(slow, { kind: 'every', ms: intervalMs }, timeoutMs, `gitlab-${i}`);
      vi.useFakeTimers({ now: JAN_1 + Math.floor(random() * 86_400_000) });
      const h = harness([planned], { random });
      h.scheduler.start();
      await vi.advanceTimersByTimeAsync(Math.min(intervalMs, 10_000) + intervalMs + 2 * timeoutMs);
      await stopUnderFakeTimers(h);
      vi.useRealTimers();
      const where = `interval ${intervalMs}, timeout ${timeoutMs}`;
      expect(h.results.length, where).toBeGreaterThanOrEqual(2);
      expect(h.skipped, where).toBe(0);
      const gap = h.results[1]!.startedAt - h.results[0]!.startedAt;
      expect(gap, where).toBeGreaterThanOrEqual(timeoutMs);
      expect(gap, where).toBeLessThanOrEqual(intervalMs + timeoutMs);
      expect(phaseOf(h.results[1]!.startedAt, intervalMs), where).toBe(offsetOf(planned));
    }
  });

  it('after a stall, runs once or twice instead of bursting, then stays on the grid', async () => {
    const planned = plannedFake(fakeProbe(async () => undefined), { kind: 'every', ms: 10_000 }, 5000);
    const start = onSlot(planned);
    vi.useFakeTimers({ now: start });
    const h = harness([planned]);
    h.scheduler.start();
    await vi.advanceTimersByTimeAsync(10_000); // runs at the slot and one interval later
    expect(h.results).toHaveLength(2);
    // The wall clock jumps 90 s (a suspended VM) while the next timer is pending; the fake clock
    // moves that timer by as much, so it fires 100 s late.
    vi.setSystemTime(start + 100_000);
    await vi.advanceTimersByTimeAsync(10_001);
    // The late tick, then the latest missed slot straight after (as before slots): two runs for
    // the nine missed slots, not nine.
    expect(h.results).toHaveLength(4);
    expect(h.results.slice(2).map((r) => Math.floor((r.startedAt - start) / 1000))).toEqual([110, 110]);
    await vi.advanceTimersByTimeAsync(19_999);
    const after = h.results.slice(4).map((r) => r.startedAt - start);
    expect(after).toEqual([120_000, 130_000]);
    for (const t of after) expect(phaseOf(start + t, 10_000)).toBe(offsetOf(planned));
    await h.scheduler.stop(0);
  });
});

// A reload or re-detection re-plans every probe. Before issue #12 it restarted every schedule:
// a page on another origin posting /-/reload once a second ran each probe once a second.
describe('scheduler re-plans', () => {
  it('keeps an unchanged probe on its slot: a re-plan between runs adds no run', async () => {
    const probe = fakeProbe(async () => undefined);
    const planned = plannedFake(probe, { kind: 'every', ms: 10_000 }, 5000);
    vi.useFakeTimers({ now: onSlot(planned) });
    const h = harness([planned]);
    h.scheduler.start();
    await vi.advanceTimersByTimeAsync(1);
    expect(h.results).toHaveLength(1);
    for (let i = 0; i < 5; i++) {
      await vi.advanceTimersByTimeAsync(1000);
      // A new but equal plan, as a reload of the same file makes.
      expect(await h.scheduler.update([plannedFake(probe, { kind: 'every', ms: 10_000 }, 5000)])).toEqual({ kept: 1, started: 0 });
    }
    await vi.advanceTimersByTimeAsync(5000); // to 10 s: the next slot
    expect(h.results.map((r) => r.startedAt - h.results[0]!.startedAt)).toEqual([0, 10_000]);
    await h.scheduler.stop(0);
  });

  it('lets a run in flight of an unchanged probe finish and report', async () => {
    let release!: () => void;
    const slow = fakeProbe(() => new Promise<void>((resolve) => (release = resolve)));
    const planned = plannedFake(slow, { kind: 'every', ms: 10_000 }, 5000);
    vi.useFakeTimers({ now: onSlot(planned) });
    const h = harness([planned]);
    h.scheduler.start();
    await vi.advanceTimersByTimeAsync(1);
    await h.scheduler.update([plannedFake(slow, { kind: 'every', ms: 10_000 }, 5000)]);
    release();
    await vi.advanceTimersByTimeAsync(1);
    expect(h.results.map((r) => r.success)).toEqual([true]);
    await h.scheduler.stop(0);
  });

  it('starts a changed probe afresh, and stops a removed one without reporting its aborted run', async () => {
    let aborted = false;
    const slow = fakeProbe(
      (ctx) =>
        new Promise<void>((_resolve, reject) =>
          ctx.signal.addEventListener('abort', () => {
            aborted = true;
            reject(new Error('aborted'));
          }),
        ),
      'slow',
    );
    const quick = fakeProbe(async () => undefined, 'quick');
    const plannedQuick = plannedFake(quick, { kind: 'every', ms: 10_000 }, 5000);
    vi.useFakeTimers({ now: onSlot(plannedQuick) });
    const h = harness([plannedQuick, plannedFake(slow, { kind: 'every', ms: 10_000 }, 5000)]);
    h.scheduler.start();
    await vi.advanceTimersByTimeAsync(1);
    expect(h.results.map((r) => r.probe)).toEqual(['quick']);
    // quick's timeout changes; slow (its run still going) is removed.
    const counts = await h.scheduler.update([plannedFake(quick, { kind: 'every', ms: 10_000 }, 4000)]);
    expect(counts).toEqual({ kept: 0, started: 1 });
    expect(aborted).toBe(true);
    await vi.advanceTimersByTimeAsync(1); // jitter 0: the changed probe runs at once
    expect(h.results.map((r) => r.probe)).toEqual(['quick', 'quick']);
    expect(h.results[1]!.timeoutSeconds).toBe(4);
    await vi.advanceTimersByTimeAsync(30_000);
    expect(h.results.filter((r) => r.probe === 'slow')).toEqual([]);
    await h.scheduler.stop(0);
  });

  it('a re-plan before start() arms nothing; start() then arms the new plan', async () => {
    const probe = fakeProbe(async () => undefined);
    const planned = plannedFake(probe, { kind: 'every', ms: 10_000 }, 5000);
    vi.useFakeTimers({ now: onSlot(planned) });
    const h = harness([]);
    await h.scheduler.update([planned]);
    await vi.advanceTimersByTimeAsync(20_000);
    expect(h.results).toHaveLength(0);
    h.scheduler.start();
    await vi.advanceTimersByTimeAsync(1);
    expect(h.results).toHaveLength(1);
    await h.scheduler.stop(0);
  });
});

describe('limiter resize', () => {
  it('admits waiters when the limit grows, and gives up slots above a smaller one', async () => {
    const limiter = new Limiter(1);
    const releases: Array<() => void> = [];
    const started: number[] = [];
    const task = (i: number) => () =>
      new Promise<void>((resolve) => {
        started.push(i);
        releases[i] = resolve;
      });
    const runs = [0, 1, 2, 3].map((i) => limiter.run(task(i)));
    await Promise.resolve();
    expect(started).toEqual([0]);
    limiter.resize(3);
    await Promise.resolve();
    expect(started).toEqual([0, 1, 2]);
    limiter.resize(1);
    releases[0]!();
    releases[1]!();
    await new Promise((resolve) => setImmediate(resolve));
    expect(started).toEqual([0, 1, 2]); // 2 still runs: one slot, taken
    expect(limiter.active).toBe(1);
    releases[2]!();
    await new Promise((resolve) => setImmediate(resolve));
    expect(started).toEqual([0, 1, 2, 3]);
    releases[3]!();
    await Promise.all(runs);
    expect(limiter.active).toBe(0);
  });
});

// One failed run is not an outage: it is run again `recheck_after` later, once, and alerts page
// on a failure the re-check confirmed (gitlab_duo_probe_consecutive_failures ≥ 2).
describe('scheduler re-checks', () => {
  function withRecheck(planned: Planned, recheckMs: number): Planned {
    return { ...planned, instance: { ...planned.instance, recheck_after: recheckMs } };
  }

  function flaky(outcomes: boolean[]) {
    return fakeProbe(async () => {
      const ok = outcomes.shift() ?? true;
      if (!ok) {
        const { ProbeError } = await import('../../src/core/errors.js');
        throw new ProbeError('connect', 'refused');
      }
    });
  }

  it('runs a failed probe again after recheck_after, once, and marks that run as the re-check', async () => {
    const planned = withRecheck(plannedFake(flaky([false, false, false]), { kind: 'every', ms: 300_000 }, 10_000), 60_000);
    vi.useFakeTimers({ now: onSlot(planned) });
    const h = harness([planned]);
    h.scheduler.start();
    await vi.advanceTimersByTimeAsync(1);
    expect(h.results.map((r) => r.success)).toEqual([false]);
    await vi.advanceTimersByTimeAsync(59_998);
    expect(h.results).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(2);
    expect(h.results.map((r) => [r.success, r.trigger])).toEqual([
      [false, undefined],
      [false, 'recheck'],
    ]);
    // Confirmed: no further re-check; the next run is the scheduled one, 5 min after the first.
    await vi.advanceTimersByTimeAsync(239_000);
    expect(h.results).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1000);
    expect(h.results.map((r) => r.trigger)).toEqual([undefined, 'recheck', undefined]);
    await h.scheduler.stop(0);
  });

  it('a passing re-check clears the failure, and the next first failure is re-checked again', async () => {
    const planned = withRecheck(plannedFake(flaky([false, true, false, true]), { kind: 'every', ms: 300_000 }, 10_000), 60_000);
    vi.useFakeTimers({ now: onSlot(planned) });
    const h = harness([planned]);
    h.scheduler.start();
    await vi.advanceTimersByTimeAsync(600_001);
    expect(h.results.map((r) => [r.success, r.trigger ?? 'schedule'])).toEqual([
      [false, 'schedule'],
      [true, 'recheck'],
      [false, 'schedule'],
      [true, 'recheck'],
      [true, 'schedule'],
    ]);
    await h.scheduler.stop(0);
  });

  it('never later than the next scheduled run: a scheduled run that comes first is the re-check', async () => {
    const planned = withRecheck(plannedFake(flaky([false, false]), { kind: 'every', ms: 30_000 }, 10_000), 60_000);
    vi.useFakeTimers({ now: onSlot(planned) });
    const h = harness([planned]);
    h.scheduler.start();
    await vi.advanceTimersByTimeAsync(90_001);
    expect(h.results.map((r) => r.trigger ?? 'schedule')).toEqual(['schedule', 'schedule', 'schedule', 'schedule']);
    await h.scheduler.stop(0);
  });

  it('waits for a Retry-After before re-checking', async () => {
    const { ProbeError } = await import('../../src/core/errors.js');
    const outcomes = [() => new ProbeError('rate_limited', '429', { retryAfterSeconds: 120 })];
    const limited = fakeProbe(async () => {
      const next = outcomes.shift();
      if (next) throw next();
    });
    const planned = withRecheck(plannedFake(limited, { kind: 'every', ms: 600_000 }, 10_000), 60_000);
    vi.useFakeTimers({ now: onSlot(planned) });
    const h = harness([planned]);
    h.scheduler.start();
    await vi.advanceTimersByTimeAsync(119_000);
    expect(h.results).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1_002);
    expect(h.results.map((r) => [r.success, r.trigger])).toEqual([
      [false, undefined],
      [true, 'recheck'],
    ]);
    await h.scheduler.stop(0);
  });

  it('recheck_after 0s turns re-checks off', async () => {
    const planned = withRecheck(plannedFake(flaky([false]), { kind: 'every', ms: 300_000 }, 10_000), 0);
    vi.useFakeTimers({ now: onSlot(planned) });
    const h = harness([planned]);
    h.scheduler.start();
    await vi.advanceTimersByTimeAsync(299_000);
    expect(h.results).toHaveLength(1);
    await h.scheduler.stop(0);
  });
});

describe('scheduler run-now', () => {
  it('runs at once, keeps the slot, joins a run in flight and keeps the minimum gap and a Retry-After', async () => {
    let release: (() => void) | undefined;
    let calls = 0;
    const probe = fakeProbe(async () => {
      calls++;
      if (calls === 3) await new Promise<void>((resolve) => (release = resolve));
    });
    const planned = plannedFake(probe, { kind: 'every', ms: 300_000 }, 10_000);
    vi.useFakeTimers({ now: onSlot(planned) });
    const h = harness([planned]);
    expect(await h.scheduler.runNow(planned.key, 10_000)).toEqual({ kind: 'not_scheduled' });
    h.scheduler.start();
    await vi.advanceTimersByTimeAsync(1);
    expect(await h.scheduler.runNow(planned.key, 10_000)).toMatchObject({ kind: 'ran', result: { success: true, trigger: 'manual' } });
    expect(await h.scheduler.runNow(planned.key, 10_000)).toEqual({ kind: 'too_soon', retryAfterMs: 10_000 });
    await vi.advanceTimersByTimeAsync(10_000);
    const third = h.scheduler.runNow(planned.key, 10_000);
    await vi.advanceTimersByTimeAsync(1);
    const joined = h.scheduler.runNow(planned.key, 10_000);
    release!();
    expect(await third).toMatchObject({ kind: 'ran' });
    expect(await joined).toMatchObject({ kind: 'joined', result: { trigger: 'manual' } });
    // The slot is unchanged: the next scheduled run is still 5 minutes after the first.
    await vi.advanceTimersByTimeAsync(300_000 - 10_002);
    expect(h.results.map((r) => r.trigger ?? 'schedule')).toEqual(['schedule', 'manual', 'manual', 'schedule']);
    expect(await h.scheduler.runNow('nope', 10_000)).toEqual({ kind: 'not_scheduled' });
    await h.scheduler.stop(0);
  });

  it('waits out a Retry-After from GitLab', async () => {
    const { ProbeError } = await import('../../src/core/errors.js');
    const limited = fakeProbe(async () => {
      throw new ProbeError('rate_limited', '429', { retryAfterSeconds: 120 });
    });
    const planned = plannedFake(limited, { kind: 'every', ms: 600_000 }, 10_000);
    vi.useFakeTimers({ now: onSlot(planned) });
    const h = harness([planned]);
    h.scheduler.start();
    await vi.advanceTimersByTimeAsync(1);
    expect(await h.scheduler.runNow(planned.key, 10_000)).toMatchObject({ kind: 'too_soon', retryAfterMs: expect.any(Number) });
    await h.scheduler.stop(0);
  });
});
