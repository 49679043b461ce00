import { describe, expect, it } from 'vitest';
import { RunCounter } from '../../reliability/lib/exporter.js';
import { ResultStore, stateKey } from '../../src/runner/store.js';
import type { ProbeResult } from '../../src/runner/result.js';

function result(instance: string, probe: string, success: boolean): ProbeResult {
  const now = Date.now();
  return { instance, probe, success, reason: success ? undefined : 'timeout', message: 'm', notes: [], target: 't', startedAt: now, finishedAt: now, startLagMs: 0, durationSeconds: 0.01, timeoutSeconds: 1, phases: {}, facts: [], retryAfterSeconds: undefined };
}

describe("the soak's run counter", () => {
  it('only goes up when the store drops a probe and counts it afresh', () => {
    const store = new ResultStore();
    const counter = new RunCounter({ store });
    for (let i = 0; i < 5; i++) store.record(result('a', 'license', i % 2 === 0));
    store.record(result('a', 'version', true));
    expect(counter.read()).toBe(6);
    // A re-detection unschedules license: the store forgets its 5 runs.
    store.retain(new Set([stateKey('a', 'version')]));
    store.record(result('a', 'version', true));
    expect(counter.read()).toBe(7);
    // license comes back from zero; its new runs count, its old ones are not taken back.
    store.record(result('a', 'license', true));
    store.record(result('a', 'license', false));
    expect(counter.read()).toBe(9);
    expect(counter.read()).toBe(9);
  });
});
