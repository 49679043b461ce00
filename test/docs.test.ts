import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createMetrics } from '../src/metrics/registry.js';
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
});
