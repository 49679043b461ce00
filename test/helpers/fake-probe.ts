import pino from 'pino';
import { parseConfigText } from '../../src/config/load.js';
// As src/main.ts does: the probe catalog registers the probes' names and schedules the config reads.
import '../../src/probes/index.js';
import { FAILURE_REASONS, IMPLICIT_REASONS } from '../../src/core/errors.js';
import type { Schedule } from '../../src/config/schema.js';
import { parseCloudflareRanges } from '../../src/net/cloudflare.js';
import type { NetOptions } from '../../src/net/options.js';
import type { PlannedProbe } from '../../src/runner/plan.js';
import { resolveEnvironment } from '../../src/gitlab/deployment.js';
import { stateKey } from '../../src/runner/store.js';
import { defineProbe, type ProbeContext, type ProbeDefinition } from '../../src/probes/types.js';

export const silentLogger = pino({ level: 'silent' });

export const testNet: NetOptions = {
  proxy: undefined,
  ca: [],
  insecureSkipVerify: false,
  resolve: new Map(),
  cloudflare: parseCloudflareRanges('104.16.0.0/13\n', 'test'),
};

/** A probe whose behaviour the test supplies; it records phases like a real one. */
export function fakeProbe(run: (ctx: ProbeContext) => Promise<void>, name = 'fake'): ProbeDefinition {
  return defineProbe({
    name,
    group: 'network',
    proves: 'nothing; a test double',
    defaultInterval: '30s',
    defaultTimeout: '10s',
    required: true,
    phases: ['connect'],
    facts: [],
    // A double that tests make fail in every way: it declares every reason.
    reasons: FAILURE_REASONS.filter((r) => !(IMPLICIT_REASONS as readonly string[]).includes(r)),
    alerts: { failing: 'GitLabDuoNetworkProbeFailed' },
    advice: { default: 'Nothing to fix: a test double.' },
    availability: () => ({ enabled: true }),
    target: () => 'test://fake',
    run,
  });
}

// A minimal instance, loaded once (the loader is asynchronous; plannedFake stays synchronous).
const minimalInstance = (await parseConfigText('instances:\n  - name: test\n', 'test', { env: {} })).instances[0]!;

/** A planned probe for the scheduler, on a minimal instance. */
export function plannedFake(probe: ProbeDefinition, schedule: Schedule, timeoutMs: number, instanceName = 'test'): PlannedProbe {
  const instance = { ...minimalInstance, name: instanceName };
  return {
    key: stateKey(instance.name, probe.name),
    instance,
    probe,
    settings: { enabled: true, schedule, timeoutMs, required: true },
    net: testNet,
    skippedBecause: undefined,
    required: true,
    requiredWhy: undefined,
    environment: resolveEnvironment(instance, undefined),
  };
}
