import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseDuration } from '../src/config/duration.js';
import { latencyBuckets } from '../src/runner/latency-buckets.js';
import { createMetrics } from '../src/metrics/registry.js';
import { PROBES } from '../src/probes/index.js';
import { ResultStore } from '../src/runner/store.js';
import { parseConfigText } from '../src/config/load.js';
import { buildPlan } from '../src/runner/plan.js';
import { parseCloudflareRanges } from '../src/net/cloudflare.js';

const doc = (name: string): string => readFileSync(new URL(`../docs/${name}`, import.meta.url), 'utf8');

describe('docs stay true to the code', () => {
  it('docs/metrics.md names every gitlab_duo_ family the exporter registers, and no other', async () => {
    const plan = buildPlan(await parseConfigText('instances: [ { name: x } ]', 'test', { env: {} }), parseCloudflareRanges('1.0.0.0/8', 'test'), {});
    const metrics = createMetrics({ store: new ResultStore(), plan: () => plan });
    const registered = (await metrics.prometheus.getMetricsAsJSON()).map((m) => m.name).filter((n) => n.startsWith('gitlab_duo_'));
    const documented = [...new Set([...doc('metrics.md').matchAll(/^\| `(gitlab_duo_[a-z_]+)`/gm)].map((m) => m[1]!))];
    expect(documented.sort()).toEqual(registered.sort());
  });

  it("docs/metrics.md's table of latency buckets is what each probe's default timeout gives", () => {
    const rows = [...doc('metrics.md').matchAll(/^\| (\d+s) \| (.*) \| ([\d., ]+) \|$/gm)];
    expect(rows.length).toBeGreaterThan(0);
    const listed = rows.flatMap(([, timeout, probes, buckets]) => {
      expect(buckets!.split(', ').map(Number), timeout).toEqual([...latencyBuckets(parseDuration(timeout!)! / 1000)]);
      return [...probes!.matchAll(/`([a-z0-9_]+)`/g)].map((m) => [m[1]!, timeout!] as const);
    });
    expect(Object.fromEntries(listed)).toEqual(Object.fromEntries(PROBES.map((p) => [p.name, p.defaultTimeout])));
  });
});
