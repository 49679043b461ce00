import { describe, expect, it } from 'vitest';
import { parseConfigText } from '../../src/config/load.js';
import { latencyBuckets } from '../../src/runner/latency-buckets.js';
import { createMetrics } from '../../src/metrics/registry.js';
import { parseCloudflareRanges } from '../../src/net/cloudflare.js';
import { PROBES } from '../../src/probes/index.js';
import { declaredReasons } from '../../src/probes/types.js';
import { buildPlan, scheduled, type Plan, type PlannedProbe } from '../../src/runner/plan.js';
import type { ProbeResult } from '../../src/runner/result.js';
import { ResultStore } from '../../src/runner/store.js';
import { findSamples } from '../helpers/exposition.js';
import { promtoolCheckMetrics } from '../helpers/promtool.js';

/**
 * The per-probe series of metrics.md v2 that depend on the probe: the failure_reason one-hot over
 * the probe's declared reasons, phases without proxy_connect where no proxy is configured, and
 * latency buckets that end at the probe's timeout and stay consistent across a reload that
 * changes it (the buckets themselves: test/runner/latency-buckets.test.ts).
 */

const ranges = parseCloudflareRanges('1.0.0.0/8', 'test');

async function planOf(yaml: string): Promise<Plan> {
  return buildPlan(await parseConfigText(yaml, 'test', { env: {} }), ranges, {});
}

const INSTANCE = 'instances: [ { name: lab, url: https://gitlab.example.com, admin_token: a, duo_user_token: d, endpoints: { ai_gateway: https://aigw.example.com } } ]';

function result(p: PlannedProbe, durationSeconds: number, reason?: ProbeResult['reason']): ProbeResult {
  return {
    instance: p.instance.name,
    probe: p.probe.name,
    success: reason === undefined,
    reason,
    message: 'm',
    notes: [],
    target: 't',
    startedAt: 1_700_000_000_000,
    finishedAt: 1_700_000_001_000,
    startLagMs: 0,
    durationSeconds,
    timeoutSeconds: p.settings.timeoutMs / 1000,
    phases: {},
    facts: [],
    retryAfterSeconds: undefined,
  };
}

function harness(initial: Plan) {
  let plan = initial;
  const store = new ResultStore();
  const metrics = createMetrics({ store, plan: () => plan });
  const record = (r: ProbeResult): void => {
    store.record(r);
  };
  const series = async (name: string, labels: Record<string, string>) => findSamples(await metrics.prometheus.metrics(), name, labels);
  return { metrics, record, series, setPlan: (next: Plan) => (plan = next), probe: (name: string) => scheduled(plan).find((p) => p.probe.name === name)! };
}

describe('per-probe series', () => {
  it("every probe's failure_reason one-hot covers exactly its declared reasons", async () => {
    const h = harness(await planOf(INSTANCE));
    for (const p of PROBES) {
      const planned = h.probe(p.name);
      if (planned) h.record(result(planned, 0.1, declaredReasons(p)[0]));
    }
    for (const p of PROBES) {
      if (!h.probe(p.name)) continue;
      const samples = await findSamples(h.metrics.prometheus, 'gitlab_duo_probe_failure_reason', { gitlab: 'lab', probe: p.name });
      expect(samples.map((s) => s.labels.reason), p.name).toEqual([...declaredReasons(p)]);
      expect(samples.filter((s) => s.value === 1).map((s) => s.labels.reason), p.name).toEqual([declaredReasons(p)[0]]);
    }
  });

  it('proxy_connect has a series only where a proxy is configured', async () => {
    const direct = harness(await planOf(INSTANCE));
    const proxied = harness(await planOf(INSTANCE.replace('name: lab,', 'name: lab, proxy: { url: "http://proxy.example:3128" },')));
    for (const h of [direct, proxied]) h.record(result(h.probe('customers_portal'), 0.1));
    const phases = async (h: typeof direct) => (await findSamples(h.metrics.prometheus, 'gitlab_duo_probe_phase_duration_seconds', { probe: 'customers_portal' })).map((s) => s.labels.phase);
    expect(await phases(direct)).toEqual(['dns', 'connect', 'tls', 'first_byte', 'transfer']);
    expect(await phases(proxied)).toEqual(['dns', 'connect', 'proxy_connect', 'tls', 'first_byte', 'transfer']);
  });

  it("the histogram's buckets end at the probe's timeout: a run cut off by it is counted above", async () => {
    const h = harness(await planOf(INSTANCE));
    const hc = h.probe('health_check');
    expect(hc.settings.timeoutMs).toBe(60_000);
    h.record(result(hc, 60));
    h.record(result(hc, 60.05, 'timeout'));
    const buckets = await h.series('gitlab_duo_probe_latency_seconds_bucket', { probe: 'health_check' });
    expect(buckets.map((s) => [s.labels.le, s.value])).toEqual([...latencyBuckets(60).map((le) => [String(le), le === 60 ? 1 : 0]), ['+Inf', 2]]);
  });

  it('a reload that changes a timeout starts the histogram afresh at the next run, with the new buckets', async () => {
    const h = harness(await planOf(INSTANCE));
    h.record(result(h.probe('license'), 1.5));
    h.record(result(h.probe('license'), 3));
    const les = async () => (await h.series('gitlab_duo_probe_latency_seconds_bucket', { probe: 'license' })).map((s) => s.labels.le);
    expect(await les()).toEqual([...latencyBuckets(20).map(String), '+Inf']);

    h.setPlan(await planOf(INSTANCE.replace('name: lab,', 'name: lab, probes: { license: { timeout: 45s } },')));
    // Until a run under the new timeout, the series keeps the buckets its counts were made with.
    expect(await les()).toEqual([...latencyBuckets(20).map(String), '+Inf']);
    h.record(result(h.probe('license'), 2));
    expect(await les()).toEqual([...latencyBuckets(45).map(String), '+Inf']);
    const count = await h.series('gitlab_duo_probe_latency_seconds_count', { probe: 'license' });
    expect(count.map((s) => s.value)).toEqual([1]);
    expect(promtoolCheckMetrics(await h.metrics.prometheus.metrics())).toBe('');
  });
});
