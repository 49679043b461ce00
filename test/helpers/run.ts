import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import type { Registry } from 'prom-client';
import { expect, onTestFinished } from 'vitest';
import { stringify } from 'yaml';
import { parseConfigText } from '../../src/config/load.js';
import type { Env } from '../../src/core/env.js';
import type { FailureReason } from '../../src/core/errors.js';
import { declaredReasons } from '../../src/probes/types.js';
import { createMetrics, type ExporterMetrics } from '../../src/metrics/registry.js';
import { loadCloudflareRanges, parseCloudflareRanges, type CloudflareRanges } from '../../src/net/cloudflare.js';
import { buildPlan, type Plan, type PlannedProbe } from '../../src/runner/plan.js';
import type { ProbeResult } from '../../src/runner/result.js';
import { runProbe } from '../../src/runner/run-probe.js';
import { ResultStore } from '../../src/runner/store.js';
import { baselineSocketCount, settledSocketCount } from './servers.js';

/**
 * One probe run the way the exporter does it: YAML config text → parseConfigText → buildPlan →
 * runProbe → result store → metrics rendered by createMetrics. Tests assert on the exposition.
 */

export type NetworkProbe = 'customers_portal' | 'cloud_connector' | 'duo_workflow_service' | 'ai_gateway';

export const INSTANCE = 'test';

/** How much a run may overshoot its deadline (timer granularity, teardown after abort). */
export const DEADLINE_SLACK_SECONDS = 0.25;

export interface RunSpec {
  readonly probe: NetworkProbe;
  readonly endpoints?: Partial<Record<NetworkProbe, string>>;
  /** Static resolution pins (`host:port` → address), the config's `resolve:`. */
  readonly resolve?: Readonly<Record<string, string>>;
  /** PEM written to a temporary file and named as `tls.ca_file`. */
  readonly caPem?: string;
  readonly insecureSkipVerify?: boolean;
  /** The config's `proxy:` (otherwise the proxy comes from `env`). */
  readonly proxy?: { readonly url: string; readonly no_proxy?: readonly string[] };
  /** The environment buildPlan reads proxies from; never process.env. */
  readonly env?: Env;
  /** The probe's timeout, a config duration; default 3s. */
  readonly timeout?: string;
  /** Cloudflare ranges text (one CIDR a line) instead of the bundled data/cloudflare-ranges.txt. */
  readonly cloudflareRanges?: string;
}

export interface RunOutcome {
  readonly plan: Plan;
  readonly planned: PlannedProbe;
  /** Undefined when the plan skips the probe (not configured). */
  readonly result: ProbeResult | undefined;
  readonly store: ResultStore;
  readonly metrics: ExporterMetrics;
  readonly registry: Registry;
  /** Open sockets just before the run (the servers' listening sockets are not counted). */
  readonly socketsBefore: number;
  /** The Prometheus text exposition, as /metrics serves it. */
  exposition(): Promise<string>;
}

let ranges: CloudflareRanges | undefined;
const silent = pino({ level: 'silent' });

/** The config text a spec stands for: also what a user would write. */
export function configYaml(spec: RunSpec, caFile?: string): string {
  const instance: Record<string, unknown> = {
    name: INSTANCE,
    probes: { [spec.probe]: { timeout: spec.timeout ?? '3s' } },
  };
  if (spec.endpoints) instance.endpoints = spec.endpoints;
  if (spec.resolve) instance.resolve = spec.resolve;
  if (caFile !== undefined || spec.insecureSkipVerify !== undefined) {
    instance.tls = {
      ...(caFile !== undefined ? { ca_file: caFile } : {}),
      ...(spec.insecureSkipVerify !== undefined ? { insecure_skip_verify: spec.insecureSkipVerify } : {}),
    };
  }
  if (spec.proxy) instance.proxy = { url: spec.proxy.url, no_proxy: [...(spec.proxy.no_proxy ?? [])] };
  return stringify({ instances: [instance] });
}

/** Plans the spec's config and runs its probe once (unless the plan skips it). */
export async function runOnce(spec: RunSpec): Promise<RunOutcome> {
  let caFile: string | undefined;
  if (spec.caPem !== undefined) {
    const dir = mkdtempSync(join(tmpdir(), 'gde-test-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    caFile = join(dir, 'ca.pem');
    writeFileSync(caFile, spec.caPem);
  }
  const env = spec.env ?? {};
  const config = await parseConfigText(configYaml(spec, caFile), 'test.yaml', { env });
  ranges ??= loadCloudflareRanges();
  const cloudflare = spec.cloudflareRanges === undefined ? ranges : parseCloudflareRanges(spec.cloudflareRanges, 'test ranges');
  const plan = buildPlan(config, cloudflare, env);
  const planned = plan.probes.find((p) => p.probe.name === spec.probe);
  if (!planned) throw new Error(`the plan has no ${spec.probe}`);
  const store = new ResultStore();
  let result: ProbeResult | undefined;
  const metrics = createMetrics({ store, plan: () => plan });
  // Sockets of an earlier test may still be closing; nothing of this test is connected yet.
  const socketsBefore = await baselineSocketCount();
  if (planned.skippedBecause === undefined) {
    result = await runProbe({ probe: planned.probe, instance: planned.instance, settings: planned.settings, net: planned.net, logger: silent });
    store.record(result);
  }
  return { plan, planned, result, store, metrics, registry: metrics.prometheus, socketsBefore, exposition: () => metrics.prometheus.metrics() };
}

// ---------------------------------------------------------------------------------------------
// Reading the exposition

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** Samples of the Prometheus text format (enough of it for our own output). */
export function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$/.exec(line);
    if (!m) throw new Error(`unparsable exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, key, raw] of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[key!] = raw!.replace(/\\(.)/g, (_s, c: string) => (c === 'n' ? '\n' : c));
    }
    samples.push({ name: m[1]!, labels, value: parseValue(m[3]!) });
  }
  return samples;
}

function parseValue(text: string): number {
  if (text === '+Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  return Number(text);
}

/** Every sample of `name` whose labels include `labels`, from exposition text or a registry. */
export async function findSamples(source: string | Registry, name: string, labels: Readonly<Record<string, string>> = {}): Promise<Sample[]> {
  let all: Sample[];
  if (typeof source === 'string') {
    all = parseExposition(source).filter((s) => s.name === name);
  } else {
    const metric = source.getSingleMetric(name);
    if (!metric) return [];
    const got = await metric.get();
    all = got.values
      .filter((v) => ((v as { metricName?: string }).metricName ?? name) === name)
      .map((v) => ({ name, labels: Object.fromEntries(Object.entries(v.labels).map(([k, l]) => [k, String(l)])), value: v.value }));
  }
  return all.filter((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v));
}

/** Exactly one sample of `name` matches `labels`, and its value is `value`. */
export async function expectSample(source: string | Registry, name: string, labels: Readonly<Record<string, string>>, value: number): Promise<void> {
  const found = await findSamples(source, name, labels);
  expect(found, `${name}${JSON.stringify(labels)}: expected exactly one sample`).toHaveLength(1);
  expect(found[0]!.value, `${name}${JSON.stringify(labels)}`).toBe(value);
}

/** No sample of `name` matches `labels`. */
export async function expectNoSample(source: string | Registry, name: string, labels: Readonly<Record<string, string>> = {}): Promise<void> {
  expect(await findSamples(source, name, labels), `${name}${JSON.stringify(labels)}: expected no sample`).toEqual([]);
}

const probeLabels = (probe: string): Record<string, string> => ({ gitlab: INSTANCE, probe });

/**
 * The checks every table row makes: success as expected, the one-hot failure reason over the
 * probe's declared reasons (exactly `reason` at 1, every other one 0; all 0 on success), and the
 * run ended within its deadline.
 */
export async function expectOutcome(outcome: RunOutcome, reason: FailureReason | undefined): Promise<void> {
  const result = outcome.result;
  if (!result) throw new Error('the probe did not run');
  const probe = result.probe;
  expect({ reason: result.reason, message: result.message }).toMatchObject({ reason });
  await expectSample(outcome.registry, 'gitlab_duo_probe_success', probeLabels(probe), reason === undefined ? 1 : 0);
  const declared = declaredReasons(outcome.planned.probe);
  if (reason !== undefined) expect(declared, `${probe} declares ${reason}`).toContain(reason);
  for (const r of declared) {
    await expectSample(outcome.registry, 'gitlab_duo_probe_failure_reason', { ...probeLabels(probe), reason: r }, r === reason ? 1 : 0);
  }
  expect(await findSamples(outcome.registry, 'gitlab_duo_probe_failure_reason', probeLabels(probe))).toHaveLength(declared.length);
  expect(result.durationSeconds).toBeLessThanOrEqual(result.timeoutSeconds + DEADLINE_SLACK_SECONDS);
}

/**
 * The run closed every socket it opened, checked while the servers are still up (a server
 * closing its side would hide a client that never closed its own).
 */
export async function expectSocketsClosed(outcome: RunOutcome): Promise<void> {
  expect(await settledSocketCount(outcome.socketsBefore), 'sockets still open after the run').toBe(outcome.socketsBefore);
}

/** A probe fact of this run, read back from the registry. */
export async function factValue(outcome: RunOutcome, name: string, labels: Readonly<Record<string, string>> = {}): Promise<number | undefined> {
  const found = await findSamples(outcome.registry, name, { ...probeLabels(outcome.planned.probe.name), ...labels });
  if (found.length > 1) throw new Error(`${name}: ${found.length} samples`);
  return found[0]?.value;
}

/** The phase durations the exposition shows for this run. */
export async function phaseSeconds(outcome: RunOutcome, phase: string): Promise<number | undefined> {
  return factValue(outcome, 'gitlab_duo_probe_phase_duration_seconds', { phase });
}
