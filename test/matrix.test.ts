import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { parseConfigText } from '../src/config/load.js';
import { createMetrics } from '../src/metrics/registry.js';
import { loadCloudflareRanges } from '../src/net/cloudflare.js';
import { newDetector } from '../src/runner/detector.js';
import { buildPlan, scheduled, type Plan } from '../src/runner/plan.js';
import { runProbe } from '../src/runner/run-probe.js';
import { ResultStore } from '../src/runner/store.js';
import { SCENARIOS, startSimulator, type Conditions, type Simulator } from '../src/simulator/index.js';
import { EXPECTED } from './helpers/scenario-reasons.js';

/**
 * The exporter against simulated GitLab releases and deployments (docs/gitlab-compatibility.md):
 * a healthy instance of every modelled release × deployment × Agent Platform switch is ready with
 * no probe red, and every fault scenario is still caught, with its reason, at each release where
 * GitLab can show it.
 */
const RELEASES = ['17.2.0-ee', '17.3.0-ee', '17.5.0-ee', '18.0.0-ee', '18.3.0-ee', '18.6.0-ee', '18.9.0-ee'];
const FAULT_RELEASES = RELEASES.filter((v) => v !== '17.2.0-ee');
type Deployment = Conditions['deployment'];

const silent = pino({ level: 'silent' });
let sim: Simulator;
let dir: string;

beforeAll(async () => {
  // code_suggestions_slow: slower than code_suggestions' timeout below and GitLab's 3 s end_to_end one.
  sim = await startSimulator({ slowDelayMs: 8000 });
  dir = mkdtempSync(join(tmpdir(), 'gde-matrix-'));
  writeFileSync(join(dir, 'ca.pem'), sim.caPem);
});

afterAll(async () => {
  await sim?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** What a real world of that deployment looks like, beside the release. */
function world(version: string, deployment: Deployment, agentPlatform: boolean): Partial<Conditions> {
  switch (deployment) {
    case 'cloud':
      // A proxy-only network for Rails and Admin Mode on (with an admin_mode token) are ordinary.
      return { version, deployment, agentPlatform, railsProxy: true, adminMode: true };
    case 'self_hosted':
      // Air-gapped: an offline licence that never synchronises, GitLab's cloud out of reach.
      return { version, deployment, agentPlatform, licenseType: 'offline_cloud', lastSyncAgeMs: null, customersPortalUp: false, cloudConnectorUp: false };
    case 'hybrid':
      return { version, deployment, agentPlatform };
  }
}

/** The config an administrator of that deployment writes: a gateway endpoint only where there is one. */
async function configFor(deployment: Deployment) {
  const endpoints = {
    customers_portal: sim.customersPortalUrl,
    cloud_connector: sim.cloudConnectorUrl,
    duo_workflow_service: sim.duoWorkflowService,
    ...(deployment === 'cloud' ? {} : { ai_gateway: sim.aiGatewayUrl }),
  };
  const yaml = stringify({
    instances: [{ name: 'sim', url: sim.gitlabUrl, admin_token: sim.adminToken, duo_user_token: sim.duoUserToken, agent_platform_token: sim.agentPlatformToken, tls: { ca_file: join(dir, 'ca.pem') }, resolve: sim.resolve, endpoints, probes: { proxy_env: { enabled: false }, code_suggestions: { timeout: '5s' }, health_check: { timeout: '10s' }, duo_chat: { timeout: '5s' } } }],
  });
  return await parseConfigText(yaml, 'matrix.yaml', { env: {} });
}

interface Outcome {
  readonly plan: Plan;
  readonly failed: Map<string, string>;
  readonly ready: number;
}

/** Detects, plans and runs every scheduled probe once, the way `check` does. */
async function runEverything(deployment: Deployment): Promise<Outcome> {
  const config = await configFor(deployment);
  const plan = buildPlan(config, loadCloudflareRanges(), {}, await newDetector({}, silent).detectAll(config));
  const store = new ResultStore();
  const results = await Promise.all(scheduled(plan).map((p) => runProbe({ probe: p.probe, instance: p.instance, settings: p.settings, net: p.net, logger: silent, environment: p.environment })));
  for (const r of results) store.record(r);
  const text = await createMetrics({ store, plan: () => plan }).prometheus.metrics();
  const ready = Number(/^gitlab_duo_ready\{gitlab="sim"\} (\d)$/m.exec(text)?.[1]);
  return { plan, failed: new Map(results.filter((r) => !r.success).map((r) => [r.probe, `${r.reason}: ${r.message}`])), ready };
}

const HEALTHY_CELLS = RELEASES.flatMap((version) =>
  (['cloud', 'self_hosted', 'hybrid'] as const).flatMap((deployment) => [true, false].map((agentPlatform) => ({ version, deployment, agentPlatform }))),
);

describe('a healthy instance is ready, with no probe red', () => {
  it.each(HEALTHY_CELLS)('$version $deployment, Agent Platform $agentPlatform', async ({ version, deployment, agentPlatform }) => {
    sim.setScenario('healthy');
    sim.setBase(world(version, deployment, agentPlatform));
    const { plan, failed, ready } = await runEverything(deployment);
    expect(Object.fromEntries(failed)).toEqual({});
    expect(ready).toBe(1);
    expect(plan.environments.get('sim')?.deployment).toBe(deployment);
    // agent_platform_client runs where direct_access is there: 18.4+, and from 18.7 (the platform's
    // own switch) only where it is on; elsewhere it is skipped with the reason.
    const [major = 0, minor = 0] = version.split('.').map(Number);
    const client = plan.probes.find((p) => p.probe.name === 'agent_platform_client')!;
    const runs = major * 100 + minor >= 1804 && (major * 100 + minor < 1807 || agentPlatform);
    expect(client.skippedBecause === undefined, client.skippedBecause).toBe(runs);
    if (!runs) expect(client.skippedBecause).toMatch(/Agent Platform is not in use/);
    // duo_chat runs (and passed above) on every modelled release, all of them 17.2+: /help from
    // 17.5, /reset before (test/probes/duo-chat.test.ts checks which one each release got).
    expect(plan.probes.find((p) => p.probe.name === 'duo_chat')!.skippedBecause).toBeUndefined();
  });

  it.each([
    ['a service account onboarded before 18.5 (service_account_…)', { legacyServiceAccount: true }],
    ['Duo on and locked, reported as never_on', { duoEnabledAndLocked: true }],
    ['Admin Mode off', { adminMode: false, railsProxy: false }],
  ] as const)('18.9 cloud with %s', async (_name, extra) => {
    sim.setScenario('healthy');
    sim.setBase({ ...world('18.9.0-ee', 'cloud', true), ...extra });
    const { failed, ready } = await runEverything('cloud');
    expect(Object.fromEntries(failed)).toEqual({});
    expect(ready).toBe(1);
  });
});

const FAULTS = SCENARIOS.filter((s) => s.name !== 'healthy' && s.name !== 'version_too_old');

describe.each(FAULT_RELEASES)('faults on %s (cloud)', (version) => {
  it.each(FAULTS.map((s) => [s.name, s] as const))('%s is caught where GitLab shows it', async (_name, scenario) => {
    sim.setBase(world(version, 'cloud', true));
    sim.setScenario(scenario.name);
    const { plan, failed, ready } = await runEverything('cloud');
    const planned = new Map(scheduled(plan).map((p) => [p.probe.name, p]));
    const expected = scenario.affects.filter((probe) => planned.has(probe) && scenario.affectedWhere?.[probe]?.when(version) !== false);
    expect([...failed.keys()].sort(), JSON.stringify(Object.fromEntries(failed), null, 2)).toEqual([...expected].sort());
    for (const probe of expected) {
      const reasons = EXPECTED[scenario.name][probe]!;
      expect(typeof reasons === 'string' ? [reasons] : reasons, `${probe}: ${failed.get(probe)}`).toContain(failed.get(probe)!.split(':')[0]);
    }
    // Caught: a fault that breaks a required probe takes readiness down.
    if (expected.some((probe) => planned.get(probe)!.required)) expect(ready).toBe(0);
  });
});
