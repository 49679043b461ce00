import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { parseConfigText } from '../src/config/load.js';
import { EXPECTED } from './helpers/scenario-reasons.js';
import { loadCloudflareRanges } from '../src/net/cloudflare.js';
import { PROBES } from '../src/probes/index.js';
import { buildPlan, scheduled, type Plan } from '../src/runner/plan.js';
import { newDetector } from '../src/runner/detector.js';
import type { ProbeResult } from '../src/runner/result.js';
import { runProbe } from '../src/runner/run-probe.js';
import { SCENARIOS, startSimulator, type Simulator } from '../src/simulator/index.js';

/**
 * The exporter's real probes against the simulator, every scenario in turn: exactly the probes a
 * scenario says it affects fail, each with the reason below; every other probe passes. The
 * simulator's table says which probes fail; this table says why, from the exporter's side.
 */
// Long enough that a loaded machine still answers ordinary completions well within the
// code_suggestions timeout, and at least GitLab's 3 s end_to_end timeout so health_check fails too.
const SLOW_DELAY_MS = 8000;
const CODE_SUGGESTIONS_TIMEOUT = '5s';
const silent = pino({ level: 'silent' });

let sim: Simulator;
let plan: Plan;
let dir: string;

beforeAll(async () => {
  sim = await startSimulator({ slowDelayMs: SLOW_DELAY_MS });
  dir = mkdtempSync(join(tmpdir(), 'gde-scenarios-'));
  plan = await planFor(sim, dir);
});

afterAll(async () => {
  await sim?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** One instance pointed at the simulator, every probe enabled; proxy_env reads two consistent folders. */
async function planFor(s: Simulator, root: string): Promise<Plan> {
  writeFileSync(join(root, 'ca.pem'), s.caPem);
  for (const component of ['rails', 'workhorse']) mkdirSync(join(root, component));
  const yaml = stringify({
    instances: [
      {
        name: 'sim',
        url: s.gitlabUrl,
        admin_token: s.adminToken,
        duo_user_token: s.duoUserToken,
        agent_platform_token: s.agentPlatformToken,
        tls: { ca_file: join(root, 'ca.pem') },
        resolve: s.resolve,
        endpoints: {
          customers_portal: s.customersPortalUrl,
          cloud_connector: s.cloudConnectorUrl,
          duo_workflow_service: s.duoWorkflowService,
          ai_gateway: s.aiGatewayUrl,
        },
        proxy_env: { rails_env_dir: join(root, 'rails'), workhorse_env_dir: join(root, 'workhorse') },
        probes: { code_suggestions: { timeout: CODE_SUGGESTIONS_TIMEOUT }, health_check: { timeout: '10s' }, duo_chat: { timeout: '5s' } },
      },
    ],
  });
  return buildPlan(await parseConfigText(yaml, 'scenarios.yaml', { env: {} }), loadCloudflareRanges(), {});
}

/**
 * Learns what the simulated GitLab offers, as the daemon does before it schedules, then runs every
 * probe the plan schedules. Skipped probes (a release without the feature) are not run.
 */
async function runAll(): Promise<ProbeResult[]> {
  const detected = await newDetector({}, silent).detectAll(plan.config);
  const current = buildPlan(plan.config, loadCloudflareRanges(), {}, detected);
  return Promise.all(
    scheduled(current).map((p) => runProbe({ probe: p.probe, instance: p.instance, settings: p.settings, net: p.net, logger: silent, environment: p.environment })),
  );
}

describe('the expectations cover the simulator', () => {
  it('lists a reason for exactly the probes each scenario affects', () => {
    for (const scenario of SCENARIOS) {
      expect(Object.keys(EXPECTED[scenario.name]).sort(), scenario.name).toEqual([...scenario.affects].sort());
    }
  });

  it('runs every probe of the catalog', () => {
    expect(plan.probes.map((p) => p.probe.name)).toEqual(PROBES.map((p) => p.name));
  });
});

describe.each(SCENARIOS.map((s) => [s.name] as const))('scenario %s', (name) => {
  it('fails exactly its probes with the expected reasons', async () => {
    sim.setScenario(name);
    const results = await runAll();
    const failed = results.filter((r) => !r.success);
    const messages = JSON.stringify(Object.fromEntries(failed.map((r) => [r.probe, `${r.reason}: ${r.message}`])), null, 2);
    expect(failed.map((r) => r.probe).sort(), messages).toEqual(Object.keys(EXPECTED[name]).sort());
    for (const r of failed) {
      const expected = EXPECTED[name][r.probe]!;
      expect(typeof expected === 'string' ? [expected] : expected, `${r.probe}: ${r.message}`).toContain(r.reason);
    }
    if (name === 'code_suggestions_rate_limited') {
      expect(results.find((r) => r.probe === 'code_suggestions')?.retryAfterSeconds).toBe(60);
    }
  });
});
