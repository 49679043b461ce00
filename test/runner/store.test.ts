import { describe, expect, it } from 'vitest';
import type { ProbeResult } from '../../src/runner/result.js';
import { ResultStore } from '../../src/runner/store.js';

function result(success: boolean, at: number, trigger?: 'recheck'): ProbeResult {
  return {
    instance: 'lab',
    probe: 'license',
    success,
    reason: success ? undefined : 'timeout',
    message: success ? 'ok' : 'no answer',
    notes: [],
    target: 'https://gitlab.example.com',
    startedAt: at,
    finishedAt: at + 10,
    startLagMs: 0,
    durationSeconds: 0.01,
    timeoutSeconds: 10,
    phases: {},
    facts: [],
    retryAfterSeconds: undefined,
    ...(trigger ? { trigger } : {}),
  };
}

describe('result store', () => {
  it('counts failed runs in a row, re-checks included, back to 0 after a success', () => {
    const store = new ResultStore();
    const seen = [false, false, true, false, false, false].map((ok, i) => store.record(result(ok, i * 1000, i === 1 ? 'recheck' : undefined)).consecutiveFailures);
    expect(seen).toEqual([1, 2, 0, 1, 2, 3]);
    expect(store.get('lab', 'license')?.runs).toEqual({ success: 1, failure: 5 });
  });
});
