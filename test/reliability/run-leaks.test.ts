import { getEventListeners } from 'node:events';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { writeFigures } from '../../reliability/lib/figures.js';
import { runProbe } from '../../src/runner/run-probe.js';
import { fakeProbe, plannedFake, silentLogger } from '../helpers/fake-probe.js';

/**
 * The soak found the heap growing by ~60 bytes a probe run: run-probe combined each run's
 * deadline with the scheduler's long-lived cancel signal through AbortSignal.any(), which leaves
 * an entry on the long-lived signal for good (nodejs/node#55351). This pins the fix without
 * timing a GC: after many runs, nothing of them may stay attached to the long-lived signal.
 */

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const RUNS = 900;

/** Node's own set of signals following `signal` (what AbortSignal.any fills); 0 when absent. */
function dependants(signal: AbortSignal): number {
  const symbol = Object.getOwnPropertySymbols(signal).find((s) => s.toString() === 'Symbol(kDependantSignals)');
  const set = symbol === undefined ? undefined : (signal as unknown as Record<symbol, Set<unknown> | undefined>)[symbol];
  return set?.size ?? 0;
}

describe('probe runs leave nothing on the scheduler’s long-lived signal', () => {
  it(`${RUNS} runs (passing, failing, timing out), then no listener and no dependant signal remain`, async () => {
    const cancel = new AbortController();
    const outcomes = [
      fakeProbe(async () => undefined),
      fakeProbe(async () => {
        throw new Error('boom');
      }),
      // Waits for its deadline.
      fakeProbe((ctx) => new Promise((_resolve, reject) => ctx.signal.addEventListener('abort', () => reject(new Error('deadline')), { once: true }))),
    ];
    for (let i = 0; i < RUNS; i++) {
      const probe = outcomes[i % outcomes.length]!;
      const planned = plannedFake(probe, { kind: 'every', ms: 60_000 }, i % outcomes.length === 2 ? 2 : 1000);
      await runProbe({ probe, instance: planned.instance, settings: planned.settings, net: planned.net, logger: silentLogger, cancel: cancel.signal });
    }
    const listeners = getEventListeners(cancel.signal, 'abort').length;
    const following = dependants(cancel.signal);
    writeFigures(REPO, 'run-leaks', { part: 'run leaks', leaksFound: listeners + following, lines: [`${RUNS} probe runs against one long-lived cancel signal: ${listeners} listeners and ${following} dependant signals left on it`] });
    expect(listeners).toBe(0);
    expect(following).toBe(0);
  });

  it('cancelling still reaches a run in flight', async () => {
    const cancel = new AbortController();
    const probe = fakeProbe((ctx) => new Promise((_resolve, reject) => ctx.signal.addEventListener('abort', () => reject(new Error('cancelled')), { once: true })));
    const planned = plannedFake(probe, { kind: 'every', ms: 60_000 }, 10_000);
    const running = runProbe({ probe, instance: planned.instance, settings: planned.settings, net: planned.net, logger: silentLogger, cancel: cancel.signal });
    setTimeout(() => cancel.abort(), 20);
    const result = await running;
    expect(result.reason).toBe('timeout');
    expect(result.durationSeconds).toBeLessThan(1);
  });
});
