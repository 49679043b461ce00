import { describe, expect, it } from 'vitest';
import { expiryMs } from '../../src/probes/agent-platform-client.js';
import type { PlannedProbe } from '../../src/runner/plan.js';
import type { ProbeResult } from '../../src/runner/result.js';
import { SIMULATED_TOOL_COUNT } from '../../src/simulator/dws.js';
import type { Conditions } from '../../src/simulator/index.js';
import { startConnectProxy, type ProxyMode } from '../helpers/proxy.js';
import { simulatorProbeHarness, type Shape } from '../helpers/sim-probe.js';

/**
 * agent_platform_client against the simulator, as `check` runs it (detection, plan, one run):
 * direct_access on the simulated GitLab, then ListTools on the simulated service (grpc-js) with
 * the token GitLab minted.
 */

const harness = simulatorProbeHarness('apc');
const withoutToken: Shape = ({ agent_platform_token: _token, ...rest }) => rest;

const plan = (withToken = true): Promise<PlannedProbe> => harness.plan('agent_platform_client', withToken ? undefined : withoutToken);
const run = (base: Partial<Conditions>, scenario: Parameters<typeof harness.run>[2] = 'healthy'): Promise<ProbeResult> => harness.run('agent_platform_client', base, scenario);

const fact = (r: ProbeResult, name: string) => r.facts.find((f) => f.name === name)?.value;

describe('agent_platform_client against the simulator', () => {
  it.each(['18.4.1-ee', '18.7.0-ee', '18.9.0-ee'])('passes on a healthy %s: ListTools with the minted token, expiry exported', async (version) => {
    const before = Date.now();
    const result = await run({ version });
    expect(result.success, result.message).toBe(true);
    expect(result.notes.join('\n')).toContain(`listed ${SIMULATED_TOOL_COUNT} tools`);
    expect(fact(result, 'gitlab_duo_http_status_code')).toBe(201);
    expect(fact(result, 'gitlab_duo_grpc_status_code')).toBe(0);
    const expiry = fact(result, 'gitlab_duo_agent_platform_token_expiry_timestamp_seconds')!;
    // The simulated service's tokens live one hour.
    expect(expiry * 1000).toBeGreaterThan(before + 3_000_000);
    expect(expiry * 1000).toBeLessThan(Date.now() + 3_700_000);
    expect(Object.keys(result.phases).sort()).toEqual(['api', 'connect', 'dns', 'grpc', 'proxy_connect', 'tls']);
  });

  it('passes with a note when the service is older than ListTools (UNIMPLEMENTED after authentication)', async () => {
    const result = await run({ dwsListTools: false });
    expect(result.success, result.message).toBe(true);
    expect(result.notes.join('\n')).toMatch(/older than ListTools: UNIMPLEMENTED/);
    expect(fact(result, 'gitlab_duo_grpc_status_code')).toBe(12);
  });

  it('dws_token_rejected: fails with grpc, saying the service rejected GitLab\u2019s token', async () => {
    const result = await run({}, 'dws_token_rejected');
    expect(result.success).toBe(false);
    expect(result.reason).toBe('grpc');
    expect(result.message).toMatch(/rejected GitLab's token \(UNAUTHENTICATED: Forbidden by auth provider\)/);
    expect(fact(result, 'gitlab_duo_grpc_status_code')).toBe(16);
  });

  it('a token without api: forbidden, naming the missing api scope', async () => {
    const result = await run({ agentPlatformTokenScopes: ['ai_features', 'read_api'] });
    expect(result.reason).toBe('forbidden');
    expect(result.message).toMatch(/403 insufficient_scope: agent_platform_token lacks the api scope/);
  });

  it('Rails cannot get a service token (expired Cloud Connector token): http_status with the gRPC code', async () => {
    const result = await run({}, 'token_expired');
    expect(result.reason).toBe('http_status');
    expect(result.message).toMatch(/answered 400: .*GenerateToken answered UNAUTHENTICATED.*16:Forbidden by auth provider/);
  });

  it('the service endpoint without HTTP/2: http_status from Rails first (GenerateToken 14)', async () => {
    const result = await run({}, 'dws_no_h2');
    expect(result.reason).toBe('http_status');
    expect(result.message).toMatch(/UNAVAILABLE/);
  });

  describe('through a real HTTP CONNECT proxy, as an IDE behind one', () => {
    /** A proxy that resolves the simulator's names itself (the exporter's `resolve:` pins are not used through it). */
    async function viaProxy(mode: ProxyMode) {
      const pins = Object.entries(harness.sim.resolve).map(([hostPort, address]) => [hostPort.replace(/:\d+$/, ''), address] as const);
      const proxy = await startConnectProxy({ mode, hosts: Object.fromEntries(pins) });
      try {
        const result = await harness.run('agent_platform_client', {}, 'healthy', (instance) => ({ ...instance, proxy: { url: proxy.url } }));
        return { result, targets: proxy.targets() };
      } finally {
        await proxy.close();
      }
    }

    it('direct_access and ListTools both go through the proxy, and pass', async () => {
      const { result, targets } = await viaProxy('allow');
      expect(result.success, result.message).toBe(true);
      const gitlab = new URL(harness.sim.gitlabUrl);
      // Detection's requests to GitLab come first, then direct_access, then ListTools at the URL it returned.
      expect(new Set(targets)).toEqual(new Set([`${gitlab.hostname}:${gitlab.port || 443}`, harness.sim.duoWorkflowService]));
      expect(targets.at(-2)).toBe(`${gitlab.hostname}:${gitlab.port || 443}`);
      expect(targets.at(-1)).toBe(harness.sim.duoWorkflowService);
    });

    it('a proxy that refuses CONNECT: reason proxy', async () => {
      const { result, targets } = await viaProxy('deny');
      expect(result.reason, result.message).toBe('proxy');
      expect(result.message).toMatch(/403/);
      expect(targets.length).toBeGreaterThan(0);
    });
  });

  it('no token: skipped, the reason naming agent_platform_token', async () => {
    harness.sim.setBase({});
    harness.sim.setScenario('healthy');
    const p = await plan(false);
    expect(p.skippedBecause).toBe('needs agent_platform_token (api), which is not configured');
  });

  it('a release without the Agent Platform: skipped with the reason', async () => {
    harness.sim.setBase({ version: '18.2.3-ee' });
    harness.sim.setScenario('healthy');
    const p = await plan();
    expect(p.skippedBecause).toMatch(/Agent Platform is not in use/);
  });

  it('no token of any kind reaches the result', async () => {
    const results = [await run({}), await run({}, 'dws_token_rejected'), await run({ agentPlatformTokenScopes: ['read_api'] })];
    const text = JSON.stringify(results);
    for (const token of [harness.sim.agentPlatformToken, harness.sim.adminToken, harness.sim.duoUserToken]) expect(text).not.toContain(token);
    expect(text).not.toMatch(/dws-[A-Za-z0-9_-]{20}/);
  });
});

describe('the expiry GitLab reports', () => {
  it.each<[string, number | string | null, number | undefined]>([
    ['Unix seconds (S)', 1_800_000_000, 1_800_000_000_000],
    ['milliseconds (the language server mock)', 1_800_000_000_123, 1_800_000_000_123],
    ['seconds as a string', '1800000000', 1_800_000_000_000],
    ['an ISO time', '2027-01-15T10:00:00Z', Date.parse('2027-01-15T10:00:00Z')],
    ['null', null, undefined],
    ['text', 'soon', undefined],
  ])('%s', (_name, raw, ms) => {
    expect(expiryMs(raw)).toBe(ms);
  });
});
