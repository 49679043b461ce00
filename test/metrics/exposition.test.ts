import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { parseConfigText } from '../../src/config/load.js';
import { createMetrics } from '../../src/metrics/registry.js';
import { parseCloudflareRanges } from '../../src/net/cloudflare.js';
import { buildPlan } from '../../src/runner/plan.js';
import type { ProbeResult } from '../../src/runner/result.js';
import { ResultStore } from '../../src/runner/store.js';

// Our registry renders the text itself for speed (docs/performance.md). prom-client's own
// renderer is the reference: the same metric objects, merged into a stock Registry, must produce
// byte-identical gitlab_duo_* families, so a prom-client upgrade that changes its internals fails
// here instead of silently changing the exposition.
function populated() {
  const config = parseConfigText('instances:\n  - name: "lab"\n    url: https://gitlab.example.com\n    admin_token: a\n    duo_user_token: d\n', 'test', { env: {} });
  const plan = buildPlan(config, parseCloudflareRanges('1.0.0.0/8', 'test'), {});
  const store = new ResultStore();
  const metrics = createMetrics({ store, plan: () => plan });
  for (const [i, p] of plan.probes.entries()) {
    if (p.skippedBecause !== undefined) continue;
    const result: ProbeResult = {
      instance: 'lab',
      probe: p.probe.name,
      success: i % 3 !== 0,
      reason: i % 3 === 0 ? 'tls' : undefined,
      message: 'm',
      notes: [],
      target: 't',
      startedAt: 1_700_000_000_000 + i,
      finishedAt: 1_700_000_000_500 + i,
      startLagMs: 0,
      durationSeconds: 0.123 + i / 1000,
      timeoutSeconds: 10,
      phases: Object.fromEntries(p.probe.phases.map((phase, j) => [phase, j / 100])),
      facts: p.probe.facts.map((name) => ({ name, value: i + 0.5, labels: { status: 'SERVING', type: 'online_cloud', plan: 'ultimate', check: 'host_probe', target: 'x"y\\z', availability: 'default_on', version: '18.9.0', revision: 'abc', edition: 'ee' } })),
      retryAfterSeconds: undefined,
    };
    store.record(result);
    metrics.probes.observe(result);
  }
  return metrics;
}

const ours = (text: string): string =>
  text
    .split('\n')
    .filter((line) => /^(# (HELP|TYPE) )?gitlab_duo_/.test(line))
    .join('\n');

describe('exposition', () => {
  it.each([
    ['Prometheus text', false],
    ['OpenMetrics', true],
  ])('%s: our renderer writes exactly what prom-client would', async (_name, openMetrics) => {
    const metrics = populated();
    const registry: Registry = openMetrics ? (metrics.openMetrics as unknown as Registry) : metrics.prometheus;
    const reference = Registry.merge([registry]);
    const expected = ours(await reference.metrics());
    expect(expected).toContain('gitlab_duo_probe_failure_reason{gitlab="lab"');
    expect(ours(await registry.metrics())).toBe(expected);
  });
});
