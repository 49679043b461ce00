import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino, { type Logger } from 'pino';
import type { Registry } from 'prom-client';
import { expect, onTestFinished } from 'vitest';
import { stringify } from 'yaml';
import { parseConfigText } from '../../src/config/load.js';
import type { Env } from '../../src/core/env.js';
import type { FailureReason } from '../../src/core/errors.js';
import type { Capabilities } from '../../src/gitlab/capabilities.js';
import { createMetrics, type ExporterMetrics } from '../../src/metrics/registry.js';
import { loadCloudflareRanges, type CloudflareRanges } from '../../src/net/cloudflare.js';
// As src/main.ts does: the probe catalog registers the probes' names and schedules the config reads.
import '../../src/probes/index.js';
import { declaredReasons } from '../../src/probes/types.js';
import { newDetector } from '../../src/runner/detector.js';
import { buildPlan, type Plan, type PlannedProbe } from '../../src/runner/plan.js';
import type { ProbeResult } from '../../src/runner/result.js';
import { runProbe } from '../../src/runner/run-probe.js';
import { ResultStore } from '../../src/runner/store.js';
import { expectSample, findSamples, type Sample } from './exposition.js';
import { baselineSocketCount, openSocketCount, settledSocketCount } from './servers.js';

/**
 * THE probe harness: one probe the way the exporter runs it. Config (one instance, as YAML holds
 * it) → parseConfigText → buildPlan (with what detection found, if anything) → runProbe with the
 * plan's settings, net options and environment → the result store → the metrics createMetrics
 * renders. The network probes (network-probe.ts), the instance probes against the fake GitLab
 * (instance-probe.ts), the simulator's (sim-probe.ts) and the reverse proxies' tests all go
 * through it; tests then assert on the result and the exposition.
 */

/** The instance every harness config names (the `gitlab` label), unless the instance says otherwise. */
export const INSTANCE = 'test';

/** How much a run may overshoot its deadline (timer granularity, teardown after abort). */
export const DEADLINE_SLACK_SECONDS = 0.25;

export const silentLogger = pino({ level: 'silent' });

export interface PlanSpec {
  /** The config's one instance, as YAML holds it; `name` defaults to INSTANCE. */
  readonly instance: Readonly<Record<string, unknown>>;
  /** The environment the config and the plan read (`${VAR}`, proxies); never process.env. */
  readonly env?: Env;
  /** Default: the bundled data/cloudflare-ranges.txt. */
  readonly cloudflare?: CloudflareRanges;
  /** What detection found: given, or `detect` to ask the instance as the exporter does. Default: nothing. */
  readonly capabilities?: Capabilities | 'detect';
}

export interface ProbeSpec extends PlanSpec {
  readonly probe: string;
  /** The run's logger; silent by default. */
  readonly logger?: Logger;
  /**
   * How `socketsBefore` is counted: `settled` first waits (up to 1 s) for sockets of earlier tests
   * to finish closing, for tests that check the run closed its own; `now` (the default) does not.
   */
  readonly socketBaseline?: 'settled' | 'now';
}

export interface PlannedSpec {
  readonly plan: Plan;
  readonly planned: PlannedProbe;
}

export interface ProbeOutcome extends PlannedSpec {
  /** Undefined when the plan skips the probe (not configured, not relevant here). */
  readonly result: ProbeResult | undefined;
  readonly store: ResultStore;
  readonly metrics: ExporterMetrics;
  readonly registry: Registry;
  /** Open sockets just before the run (the servers' listening sockets are not counted). */
  readonly socketsBefore: number;
  /** The Prometheus text exposition, as /metrics serves it. */
  exposition(): Promise<string>;
}

let bundledRanges: CloudflareRanges | undefined;

/** The plan of the spec's one instance: every probe, scheduled, optional or skipped. */
export async function planInstance(spec: PlanSpec): Promise<Plan> {
  const env = spec.env ?? {};
  const config = await parseConfigText(stringify({ instances: [{ name: INSTANCE, ...spec.instance }] }), 'test.yaml', { env });
  const detected = spec.capabilities === 'detect' ? await newDetector(env, silentLogger).detectAll(config) : new Map([[config.instances[0]!.name, spec.capabilities]]);
  bundledRanges ??= loadCloudflareRanges();
  return buildPlan(config, spec.cloudflare ?? bundledRanges, env, detected);
}

/** The plan and the spec's probe in it (which may be skipped). */
export async function planProbe(spec: PlanSpec & { readonly probe: string }): Promise<PlannedSpec> {
  const plan = await planInstance(spec);
  const planned = plan.probes.find((p) => p.probe.name === spec.probe);
  if (!planned) throw new Error(`the plan has no ${spec.probe}`);
  return { plan, planned };
}

/** One run of a planned probe, as the scheduler starts it, whether or not the plan skips it. */
export function runPlanned(planned: PlannedProbe, logger: Logger = silentLogger): Promise<ProbeResult> {
  return runProbe({ probe: planned.probe, instance: planned.instance, settings: planned.settings, net: planned.net, logger, environment: planned.environment });
}

/** Plans the spec's probe, runs it once unless the plan skips it, and records the result. */
export async function runProbeOnce(spec: ProbeSpec): Promise<ProbeOutcome> {
  const { plan, planned } = await planProbe(spec);
  const store = new ResultStore();
  const metrics = createMetrics({ store, plan: () => plan });
  // Sockets of an earlier test may still be closing; nothing of this run is connected yet.
  const socketsBefore = spec.socketBaseline === 'settled' ? await baselineSocketCount() : openSocketCount();
  let result: ProbeResult | undefined;
  if (planned.skippedBecause === undefined) {
    result = await runPlanned(planned, spec.logger);
    store.record(result);
  }
  return { plan, planned, result, store, metrics, registry: metrics.prometheus, socketsBefore, exposition: () => metrics.prometheus.metrics() };
}

/** A temporary directory, removed when the test ends. */
export function testDir(prefix = 'gde-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** `pem` written to `<dir>/ca.pem`, for a config's `tls.ca_file`. */
export function caFileIn(dir: string, pem: string): string {
  const file = join(dir, 'ca.pem');
  writeFileSync(file, pem);
  return file;
}

// ---------------------------------------------------------------------------------------------
// Reading an outcome

const probeLabels = (outcome: ProbeOutcome): Record<string, string> => ({ gitlab: outcome.planned.instance.name, probe: outcome.planned.probe.name });

/**
 * The checks every table row makes: success as expected, the one-hot failure reason over the
 * probe's declared reasons (exactly `reason` at 1, every other one 0; all 0 on success), and the
 * run ended within its deadline.
 */
export async function expectOutcome(outcome: ProbeOutcome, reason: FailureReason | undefined): Promise<void> {
  const result = outcome.result;
  if (!result) throw new Error('the probe did not run');
  const probe = result.probe;
  expect({ reason: result.reason, message: result.message }).toMatchObject({ reason });
  await expectSample(outcome.registry, 'gitlab_duo_probe_success', probeLabels(outcome), reason === undefined ? 1 : 0);
  const declared = declaredReasons(outcome.planned.probe);
  if (reason !== undefined) expect(declared, `${probe} declares ${reason}`).toContain(reason);
  for (const r of declared) {
    await expectSample(outcome.registry, 'gitlab_duo_probe_failure_reason', { ...probeLabels(outcome), reason: r }, r === reason ? 1 : 0);
  }
  expect(await findSamples(outcome.registry, 'gitlab_duo_probe_failure_reason', probeLabels(outcome))).toHaveLength(declared.length);
  expect(result.durationSeconds).toBeLessThanOrEqual(result.timeoutSeconds + DEADLINE_SLACK_SECONDS);
}

/**
 * The run closed every socket it opened, checked while the servers are still up (a server
 * closing its side would hide a client that never closed its own).
 */
export async function expectSocketsClosed(outcome: ProbeOutcome): Promise<void> {
  expect(await settledSocketCount(outcome.socketsBefore), 'sockets still open after the run').toBe(outcome.socketsBefore);
}

/** Every sample of `name` the outcome's registry holds. */
export async function samples(outcome: ProbeOutcome, name: string): Promise<Sample[]> {
  return findSamples(outcome.registry, name);
}

/** The value of the one sample of `name` with `labels` (undefined when none), whichever probe has it. */
export async function fact(outcome: ProbeOutcome, name: string, labels: Readonly<Record<string, string>> = {}): Promise<number | undefined> {
  const found = await findSamples(outcome.registry, name, labels);
  if (found.length > 1) throw new Error(`${name}${JSON.stringify(labels)}: ${found.length} samples`);
  return found[0]?.value;
}

/** The same, among the series of the probe that ran (labels `gitlab` and `probe`). */
export async function factValue(outcome: ProbeOutcome, name: string, labels: Readonly<Record<string, string>> = {}): Promise<number | undefined> {
  return fact(outcome, name, { ...probeLabels(outcome), ...labels });
}

/** The duration of `phase` the exposition shows for this run. */
export async function phaseSeconds(outcome: ProbeOutcome, phase: string): Promise<number | undefined> {
  return factValue(outcome, 'gitlab_duo_probe_phase_duration_seconds', { phase });
}
