import { describe, expect, it } from 'vitest';
import { defineProbe } from '../../src/probes/types.js';
import { fakeProbe } from '../helpers/fake-probe.js';

const connectOnly = { ...fakeProbe(async () => undefined, 'connect_only'), reasons: ['connect'] as const };

describe('defineProbe: advice and alerts per reason', () => {
  it('accepts them for declared reasons and the implicit timeout and internal', () => {
    expect(() => defineProbe({ ...connectOnly, advice: { default: 'd', connect: 'c', internal: 'i' }, alerts: { failing: 'A', byReason: { timeout: 'T' } } })).not.toThrow();
  });

  it('refuses advice for a reason the probe cannot fail with', () => {
    expect(() => defineProbe({ ...connectOnly, advice: { default: 'd', tls: 't' } })).toThrow('probe connect_only: advice or alerts for reasons it does not declare: tls');
  });

  it('refuses an alert for a reason the probe cannot fail with', () => {
    expect(() => defineProbe({ ...connectOnly, alerts: { failing: 'A', byReason: { requirement_not_met: 'R' } } })).toThrow('reasons it does not declare: requirement_not_met');
  });
});
