import { afterAll, describe, expect, it } from 'vitest';
import type { FailureReason } from '../../src/core/errors.js';
import { IMPLICIT_REASONS } from '../../src/core/errors.js';
import { PROBES, findProbe } from '../../src/probes/index.js';
import { declaredReasons } from '../../src/probes/types.js';
import { EXPECTED } from '../helpers/scenario-reasons.js';
import { createPki } from '../helpers/tls.js';
import { CELLS, PEER, runCell } from './reason-cells.js';

/**
 * Each probe's declared failure reasons (ProbeDefinition.reasons) against what it really produces.
 * Every probe runs against broken peers (reason-cells.ts); every reason a run ends with must be
 * declared, and none may be `internal` (a bug, or an undeclared reason the runner turned into
 * one). The simulator's fault scenarios add what only a GitLab can say (a stale licence, Silent
 * Mode...): their reasons per probe are the table test/scenarios.test.ts holds against real runs.
 * And no list is padded: each declared reason is seen at least once, here or there, unless
 * UNTRIGGERED says why no test can make it happen.
 */

/** Declared reasons no test here can produce, each with the reason why. Keep it empty if you can. */
const UNTRIGGERED: Readonly<Record<string, Partial<Record<FailureReason, string>>>> = {
  agent_platform_client: {
    http2_not_negotiated:
      'the broken peers answer every request alike, so direct_access never hands out a service URL to downgrade; test/probes/agent-platform-client-fake.test.ts produces it',
  },
};

const observed = new Map<string, Set<FailureReason>>();
const see = (probe: string, reason: FailureReason): void => {
  if (!observed.has(probe)) observed.set(probe, new Set());
  observed.get(probe)!.add(reason);
};
const explicit = (probe: string): FailureReason[] => declaredReasons(findProbe(probe)!).filter((r) => !(IMPLICIT_REASONS as readonly string[]).includes(r));

const pki = await createPki({ dns: [PEER] });

describe('every probe against broken peers', () => {
  it.each(CELLS.map((c) => [c.name, c] as const))('%s: every reason is declared, none is internal', async (_name, cell) => {
    const results = await runCell(cell, pki);
    expect(results.map((r) => r.probe).sort()).toEqual(PROBES.map((p) => p.name).sort());
    for (const r of results) {
      if (r.success) continue;
      expect(r.reason, `${r.probe}: ${r.message}`).not.toBe('internal');
      expect(declaredReasons(findProbe(r.probe)!), `${r.probe}: ${r.reason} (${r.message})`).toContain(r.reason);
      see(r.probe, r.reason!);
    }
  });
});

describe("the simulator's fault scenarios", () => {
  it('end every probe with a reason it declares', () => {
    for (const [scenario, probes] of Object.entries(EXPECTED)) {
      for (const [probe, expected] of Object.entries(probes)) {
        const reasons = typeof expected === 'string' ? [expected] : expected!;
        for (const reason of reasons) expect(declaredReasons(findProbe(probe)!), `${scenario}: ${probe} ${reason}`).toContain(reason);
        // A scenario that may end either way (a reset seen at connect or in TLS) proves neither.
        if (typeof expected === 'string') see(probe, expected);
      }
    }
  });
});

describe('no declared reason is padding', () => {
  afterAll(() => {
    const lines = PROBES.map((p) => `${p.name}: ${[...(observed.get(p.name) ?? [])].sort().join(', ')}`);
    console.log(`reasons seen per probe (broken peers and simulator scenarios):\n  ${lines.join('\n  ')}`);
  });

  it.each(PROBES.map((p) => [p.name] as const))('%s: each declared reason was seen, or UNTRIGGERED says why not', (probe) => {
    const seen = observed.get(probe) ?? new Set();
    const exempt = UNTRIGGERED[probe] ?? {};
    expect(explicit(probe).filter((r) => !seen.has(r) && exempt[r] === undefined), 'declared, never seen').toEqual([]);
    // An exemption for a reason the tests do produce is stale: drop it.
    expect(Object.keys(exempt).filter((r) => seen.has(r as FailureReason)), 'exempt, yet seen').toEqual([]);
  });
});
