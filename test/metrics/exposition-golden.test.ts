import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMetrics } from '../../src/metrics/registry.js';
import { PROBES } from '../../src/probes/index.js';
import type { PlannedProbe } from '../../src/runner/plan.js';
import type { ProbeResult } from '../../src/runner/result.js';
import { ResultStore } from '../../src/runner/store.js';
import { simulatorProbeHarness } from '../helpers/sim-probe.js';

/**
 * The whole gitlab_duo_* exposition of one fixed state, every probe scheduled, in both formats,
 * against a file in test/fixtures. A refactor (issue 15) must leave it byte-identical; a deliberate
 * change to the contract regenerates it (`npx vitest run -u test/metrics/exposition-golden.test.ts`)
 * and shows in review as a diff of the exposition itself. The exporter's own families carry the Node
 * version and the start time: they are left out.
 */

// The simulator's healthy GitLab, detected as `serve` detects it, so that every probe is scheduled
// (composite_identity needs a GitLab that shows compositeIdentityEnforced; proxy_env its folders).
const harness = simulatorProbeHarness('golden');
let envDir = '';
beforeAll(() => {
  envDir = mkdtempSync(join(tmpdir(), 'gde-golden-env-'));
  for (const component of ['rails', 'workhorse']) mkdirSync(join(envDir, component));
});
afterAll(() => rmSync(envDir, { recursive: true, force: true }));

const STARTED_AT = 1_700_000_000_000;

function resultFor(p: PlannedProbe, i: number): ProbeResult {
  const success = i % 3 !== 0;
  return {
    instance: p.instance.name,
    probe: p.probe.name,
    success,
    reason: success ? undefined : 'timeout',
    message: 'm',
    notes: [],
    target: 't',
    startedAt: STARTED_AT + i * 1000,
    finishedAt: STARTED_AT + i * 1000 + 250,
    startLagMs: 0,
    durationSeconds: 0.25 + i / 100,
    timeoutSeconds: p.settings.timeoutMs / 1000,
    phases: Object.fromEntries(p.probe.phases.map((phase, j) => [phase, j / 100])),
    facts: p.probe.facts.map((name) => ({ name, value: i + 0.5, labels: { status: 'SERVING', type: 'online_cloud', plan: 'ultimate', check: 'host_probe', target: 'x', availability: 'default_on', version: '18.9.0', revision: 'abc', edition: 'ee', token: 'admin', capability: 'health_check', subject_cn: 'cn', issuer_cn: 'ca', fingerprint_sha256: 'ff' } })),
    retryAfterSeconds: undefined,
  };
}

const ours = (text: string): string =>
  text
    .split('\n')
    .filter((line) => /^(# (HELP|TYPE) )?gitlab_duo_/.test(line) && !/gitlab_duo_exporter_/.test(line))
    .join('\n');

describe('the exposition of a fixed state, every probe scheduled', () => {
  it.each([
    ['Prometheus text', 'exposition.golden.prom', false],
    ['OpenMetrics', 'exposition.golden.om', true],
  ])('%s is byte-identical to test/fixtures/%s', async (_name, file, openMetrics) => {
    const plan = await harness.planAll((instance) => ({ ...instance, proxy_env: { rails_env_dir: join(envDir, 'rails'), workhorse_env_dir: join(envDir, 'workhorse') } }));
    const scheduled = plan.probes.filter((p) => p.skippedBecause === undefined);
    expect(scheduled.map((p) => p.probe.name).sort()).toEqual(PROBES.map((p) => p.name).sort());
    const store = new ResultStore();
    const metrics = createMetrics({ store, plan: () => plan });
    for (const [i, p] of scheduled.entries()) {
      const result = resultFor(p, i);
      store.record(result);
    }
    const text = ours(await (openMetrics ? metrics.openMetrics : metrics.prometheus).metrics());
    await expect(text).toMatchFileSnapshot(`../fixtures/${file}`);
  });
});
