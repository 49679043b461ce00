import { Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { parseConfigText } from '../../src/config/load.js';
import { latencyBuckets } from '../../src/runner/latency-buckets.js';
import { createMetrics } from '../../src/metrics/registry.js';
import { parseCloudflareRanges } from '../../src/net/cloudflare.js';
import { buildPlan, type Plan, type PlannedProbe } from '../../src/runner/plan.js';
import type { ProbeResult } from '../../src/runner/result.js';
import { ResultStore } from '../../src/runner/store.js';

// Our registry renders the text itself for speed, and keeps each probe's lines until the probe's
// state changes (docs/performance.md). prom-client's own renderer is the reference: the same
// metric objects, merged into a stock Registry, must produce byte-identical gitlab_duo_* families,
// so a prom-client upgrade that changes its internals fails here instead of silently changing the
// exposition, and so must a cache that missed a change.

const CONFIG = 'instances:\n  - name: "lab"\n    url: https://gitlab.example.com\n    admin_token: a\n    duo_user_token: d\n  - name: "lab2"\n    url: https://gitlab2.example.com\n    admin_token: a\n';

// The configs the tests plan from, loaded once (the loader is asynchronous; planFor is not).
const ONE_INSTANCE = CONFIG.slice(0, CONFIG.indexOf('  - name: "lab2"'));
const CONFIGS = new Map(await Promise.all([CONFIG, ONE_INSTANCE].map(async (text) => [text, await parseConfigText(text, 'test', { env: {} })] as const)));

function planFor(text: string): Plan {
  return buildPlan(CONFIGS.get(text)!, parseCloudflareRanges('1.0.0.0/8', 'test'), {});
}

// Every result below has a 10 s timeout: one set of buckets, as prom-client's Histogram has.
const TIMEOUT_SECONDS = 10;
const BUCKETS = latencyBuckets(TIMEOUT_SECONDS);

function resultFor(p: PlannedProbe, i: number, success: boolean): ProbeResult {
  return {
    instance: p.instance.name,
    probe: p.probe.name,
    success,
    reason: success ? undefined : 'tls',
    message: 'm',
    notes: [],
    target: 't',
    startedAt: 1_700_000_000_000 + i,
    finishedAt: 1_700_000_000_500 + i,
    startLagMs: 0,
    // Lands on bucket bounds (0.05, 0.1, ...) as well as between them.
    durationSeconds: i % 4 === 0 ? BUCKETS[i % BUCKETS.length]! : 0.123 + i / 1000,
    timeoutSeconds: TIMEOUT_SECONDS,
    phases: Object.fromEntries(p.probe.phases.map((phase, j) => [phase, j / 100 + i])),
    facts: p.probe.facts.map((name) => ({ name, value: i + 0.5, labels: { status: 'SERVING', type: 'online_cloud', plan: 'ultimate', check: 'host_probe', target: 'x"y\\z', availability: 'default_on', version: '18.9.0', revision: 'abc', edition: 'ee' } })),
    retryAfterSeconds: undefined,
  };
}

function populated() {
  let plan = planFor(CONFIG);
  const store = new ResultStore();
  const metrics = createMetrics({ store, plan: () => plan });
  const scheduled = () => plan.probes.filter((p) => p.skippedBecause === undefined);
  const record = (p: PlannedProbe, i: number, success: boolean): ProbeResult => {
    const result = resultFor(p, i, success);
    store.record(result);
    return result;
  };
  for (const [i, p] of scheduled().entries()) record(p, i, i % 3 !== 0);
  const replan = (text: string): void => {
    plan = planFor(text);
    store.retain(new Set(scheduled().map((p) => p.key)));
  };
  return { metrics, store, scheduled, record, replan };
}

const ours = (text: string): string =>
  text
    .split('\n')
    .filter((line) => /^(# (HELP|TYPE) )?gitlab_duo_/.test(line))
    .join('\n');

type Metrics = ReturnType<typeof populated>['metrics'];

async function render(metrics: Metrics, openMetrics: boolean): Promise<{ actual: string; expected: string }> {
  const registry: Registry = openMetrics ? (metrics.openMetrics as unknown as Registry) : metrics.prometheus;
  const expected = ours(await Registry.merge([registry]).metrics());
  return { actual: ours(await registry.metrics()), expected };
}

describe.each([
  ['Prometheus text', false],
  ['OpenMetrics', true],
])('exposition, %s', (_name, openMetrics) => {
  it('our renderer writes exactly what prom-client would', async () => {
    const { metrics } = populated();
    const { actual, expected } = await render(metrics, openMetrics);
    expect(expected).toContain('gitlab_duo_probe_failure_reason{gitlab="lab"');
    expect(expected).toContain('gitlab_duo_probe_runs_total{gitlab="lab2"');
    expect(actual).toBe(expected);
  });

  it('the whole exposition has the families, separators and ending prom-client would write', async () => {
    const { metrics } = populated();
    const registry: Registry = openMetrics ? (metrics.openMetrics as unknown as Registry) : metrics.prometheus;
    // Process metrics change between two renders; their layout does not.
    const layout = (text: string): string[] => text.split('\n').filter((line) => line === '' || line.startsWith('#'));
    const reference = await Registry.merge([registry]).metrics();
    const actual = await registry.metrics();
    expect(layout(actual)).toEqual(layout(reference));
    expect(actual.endsWith(openMetrics ? '\n# EOF\n' : '\n')).toBe(true);
    expect(actual).toContain(openMetrics ? '# TYPE gitlab_duo_probe_runs counter' : '# TYPE gitlab_duo_probe_runs_total counter');
  });

  it("the latency histogram is the one prom-client's own Histogram would write", async () => {
    const { metrics, scheduled, record } = populated();
    const reference = new Registry();
    if (openMetrics) reference.setContentType(Registry.OPENMETRICS_CONTENT_TYPE as never);
    const histogram = new Histogram({ name: 'gitlab_duo_probe_latency_seconds', help: 'Wall time of every run of the probe, for percentiles over time.', labelNames: ['gitlab', 'probe'], buckets: [...BUCKETS], registers: [reference] });
    // The first round was recorded by populated(); replay it, then add more rounds to both.
    for (const [i, p] of scheduled().entries()) histogram.observe({ gitlab: p.instance.name, probe: p.probe.name }, resultFor(p, i, true).durationSeconds);
    for (let round = 1; round < 4; round++) {
      for (const [i, p] of scheduled().entries()) histogram.observe({ gitlab: p.instance.name, probe: p.probe.name }, record(p, i * round + 7, true).durationSeconds);
    }
    const family = (text: string): string => text.split('\n').filter((line) => line.includes('gitlab_duo_probe_latency_seconds')).join('\n');
    const { actual } = await render(metrics, openMetrics);
    expect(family(actual)).toContain('gitlab_duo_probe_latency_seconds_bucket{le="0.05",gitlab="lab"');
    expect(family(actual)).toBe(family(await reference.metrics()));
  });

  it('a probe that ran, was skipped or was removed by a reload shows it at the next scrape', async () => {
    const { metrics, store, scheduled, record, replan } = populated();
    const before = await render(metrics, openMetrics);
    const [first, second] = scheduled();
    const result = record(first!, 1000, false);
    store.countSkipped(second!.instance.name, second!.probe.name);
    const after = await render(metrics, openMetrics);
    expect(after.actual).toBe(after.expected);
    expect(after.actual).not.toBe(before.actual);
    const labels = `gitlab="lab",probe="${result.probe}"`;
    expect(after.actual).toContain(`gitlab_duo_probe_success{${labels}} 0`);
    expect(after.actual).toContain(`gitlab_duo_probe_failure_reason{${labels},reason="tls"} 1`);
    expect(after.actual).toContain(`gitlab_duo_probe_last_run_timestamp_seconds{${labels}} ${result.finishedAt / 1000}`);
    expect(after.actual).toContain(`gitlab_duo_probe_skipped_runs_total{gitlab="lab",probe="${second!.probe.name}"} 1`);

    replan(ONE_INSTANCE);
    const reloaded = await render(metrics, openMetrics);
    expect(reloaded.actual).toBe(reloaded.expected);
    expect(reloaded.actual).toContain('gitlab="lab"');
    expect(reloaded.actual).not.toContain('gitlab="lab2"');
  });

  it("with default labels (set through prom-client's public setDefaultLabels) it is prom-client's own rendering", async () => {
    const { metrics } = populated();
    const registry: Registry = openMetrics ? (metrics.openMetrics as unknown as Registry) : metrics.prometheus;
    registry.setDefaultLabels({ region: 'eu' });
    const text = ours(await registry.metrics());
    expect(text).toMatch(/^gitlab_duo_probe_success\{gitlab="lab",probe="[a-z_]+",region="eu"\} [01]$/m);
    const stock = Registry.merge([registry]);
    stock.setDefaultLabels({ region: 'eu' });
    expect(text).toBe(ours(await stock.metrics()));
  });

  it('unchanged probes keep their lines: two scrapes without runs in between are identical', async () => {
    const { metrics } = populated();
    const first = await render(metrics, openMetrics);
    const second = await render(metrics, openMetrics);
    expect(second.actual).toBe(first.actual);
    expect(second.actual).toBe(second.expected);
  });
});

// Prometheus asks for OpenMetrics, a person with curl gets the text format, and both registries
// share their metric objects: neither format may leak into the other, whatever came before
// (issue #12: after one OpenMetrics scrape the text format lost `_total` on every counter).
describe('both formats from the same metrics', () => {
  const TEXT_COUNTER = /^# TYPE gitlab_duo_probe_runs_total counter$/m;
  const OPENMETRICS_COUNTER = /^# TYPE gitlab_duo_probe_runs counter$/m;

  /** The gitlab_duo_* families of a registry that only ever rendered this one format. */
  async function reference(openMetrics: boolean): Promise<string> {
    const { metrics } = populated();
    return ours(await (openMetrics ? metrics.openMetrics : metrics.prometheus).metrics());
  }

  it('alternating scrapes each get exactly their own format', async () => {
    const { metrics } = populated();
    const [text, openMetrics] = [await reference(false), await reference(true)];
    expect(text).toMatch(TEXT_COUNTER);
    expect(openMetrics).toMatch(OPENMETRICS_COUNTER);
    expect(openMetrics).toContain('gitlab_duo_probe_runs_total{gitlab="lab"');
    for (const wantsOpenMetrics of [true, false, true, true, false, false, true, false]) {
      const registry = wantsOpenMetrics ? metrics.openMetrics : metrics.prometheus;
      expect(ours(await registry.metrics())).toBe(wantsOpenMetrics ? openMetrics : text);
    }
  });

  it('concurrent scrapes of both formats each get exactly their own format', async () => {
    const { metrics } = populated();
    const [text, openMetrics] = [await reference(false), await reference(true)];
    const formats = Array.from({ length: 24 }, (_, i) => i % 3 !== 0);
    const rendered = await Promise.all(formats.map((om) => (om ? metrics.openMetrics : metrics.prometheus).render()));
    rendered.forEach((chunks, i) => expect(ours(Buffer.concat(chunks).toString())).toBe(formats[i] ? openMetrics : text));
  });

  it("prom-client's own process counters keep `_total` in the text format after an OpenMetrics scrape", async () => {
    const { metrics } = populated();
    await metrics.openMetrics.metrics();
    const text = await metrics.prometheus.metrics();
    expect(text).toMatch(/^# TYPE process_cpu_user_seconds_total counter$/m);
    expect(text).toMatch(/^# TYPE gitlab_duo_exporter_config_last_reload_successful gauge$/m);
    expect(text).toMatch(TEXT_COUNTER);
    expect(text).not.toMatch(OPENMETRICS_COUNTER);
  });
});
