import { afterEach, describe, expect, it, vi } from 'vitest';
import { Limiter } from '../../src/runner/limiter.js';
import type { ProbeResult } from '../../src/runner/result.js';
import { Scheduler } from '../../src/runner/scheduler.js';
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

afterEach(() => {
  vi.useRealTimers();
});

describe('scheduler', () => {
  it('never overlaps a probe with itself: a tick during a slow run is skipped and counted', async () => {
    vi.useFakeTimers();
    let release!: () => void;
    const slow = fakeProbe(() => new Promise<void>((resolve) => (release = resolve)));
    const h = harness([plannedFake(slow, { kind: 'every', ms: 1000 }, 900)]);
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

  it('spreads first runs by the start jitter, then keeps a fixed rate', async () => {
    vi.useFakeTimers();
    const h = harness([plannedFake(fakeProbe(async () => undefined), { kind: 'every', ms: 10_000 }, 5000)], { random: () => 0.5 });
    h.scheduler.start();
    await vi.advanceTimersByTimeAsync(4999);
    expect(h.results).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(2);
    expect(h.results).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(20_000);
    expect(h.results).toHaveLength(3);
    const starts = h.results.map((r) => r.startedAt - h.results[0]!.startedAt);
    expect(starts).toEqual([0, 10_000, 20_000]);
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
    const { ProbeError } = await import('../../src/errors.js');
    const limited = fakeProbe(async () => {
      throw new ProbeError('rate_limited', '429', { retryAfterSeconds: 25 });
    });
    const h = harness([plannedFake(limited, { kind: 'every', ms: 10_000 }, 5000)]);
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
