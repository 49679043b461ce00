import { readFileSync } from 'node:fs';
import { Agent } from 'undici';
import { describe, expect, it } from 'vitest';
import { EXPORTER_PROBES, SCENARIOS, renderScenarioTable, type ExporterProbe } from '../../src/simulator/index.js';
import { agentFor, httpRequest, pinnedLookup, useSimulator } from './helpers.js';
import { JUDGES } from './judges.js';

describe('the scenario table', () => {
  it('names each scenario once, and only catalog probes in affects', () => {
    const names = SCENARIOS.map((s) => s.name);
    expect(new Set(names).size).toBe(names.length);
    for (const s of SCENARIOS) for (const probe of s.affects) expect(EXPORTER_PROBES).toContain(probe);
  });

  it('has the scenarios the exporter docs and alerts rely on', () => {
    const names = SCENARIOS.map((s) => s.name);
    for (const required of [
      'healthy', 'silent_mode_on', 'offline_license', 'legacy_license', 'sync_stale', 'token_expired', 'composite_identity_off',
      'version_too_old', 'duo_never_on', 'code_suggestions_unauthorized', 'code_suggestions_gateway_unreachable',
      'code_suggestions_rate_limited', 'code_suggestions_slow', 'cable_upgrade_stripped', 'cable_bad_origin', 'http2_downgraded',
      'customers_portal_down', 'cloud_connector_down', 'dws_no_h2', 'health_check_failing', 'ai_gateway_not_ready',
    ]) {
      expect(names).toContain(required);
    }
  });

  it('is the table docs/simulator.md shows', () => {
    const doc = readFileSync(new URL('../../docs/simulator.md', import.meta.url), 'utf8');
    expect(doc).toContain(renderScenarioTable());
  });
});

describe('every scenario fails exactly the probes it says it affects', () => {
  it('judged with real clients against one simulator, switched through the control endpoint', async () => {
    const sim = await useSimulator();
    const control = agentFor(sim);
    const probes = Object.keys(JUDGES) as Exclude<ExporterProbe, 'proxy_env'>[];
    const mismatches: string[] = [];
    for (const scenario of SCENARIOS) {
      const switched = await httpRequest(control, `${sim.controlUrl}/scenario/${scenario.name}`, { method: 'PUT' });
      expect(switched.status).toBe(200);
      // A fresh pool per scenario: the fronts drop connections whose route changed.
      const agent = new Agent({ connect: { ca: sim.caPem, lookup: pinnedLookup } });
      const verdicts = await Promise.all(probes.map(async (p) => [p, await JUDGES[p](sim, agent)] as const));
      await agent.close();
      const failing = verdicts.filter(([, ok]) => !ok).map(([p]) => p).sort();
      const expected = [...scenario.affects].sort();
      if (JSON.stringify(failing) !== JSON.stringify(expected)) {
        mismatches.push(`${scenario.name}: failing ${failing.join(',') || 'none'}, table says ${expected.join(',') || 'none'}`);
      }
    }
    expect(mismatches).toEqual([]);
  });
});
