import { connect as netConnect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { Agent } from 'undici';
import { SIMULATOR_HOSTS, exporterInstanceConfig, startSimulator } from '../../src/simulator/index.js';
import { grpcHealth, http2Get, openCable } from './clients.js';
import { agentFor, bearer, completionBody, hostAndPort, httpRequest, negotiateAlpn, pinnedLookup, useSimulator } from './helpers.js';

describe('listeners and addressing', () => {
  it('names every service by host, pins them all to loopback and hands out a CA', async () => {
    const sim = await useSimulator({ adminToken: 'glpat-admin', duoUserToken: 'glpat-duo' });
    expect(sim.gitlabUrl).toMatch(/^https:\/\/gitlab\.duo-sim\.test:\d+$/);
    expect(sim.customersPortalUrl).toMatch(/^https:\/\/customers\.duo-sim\.test:\d+$/);
    expect(sim.cloudConnectorUrl).toMatch(/^https:\/\/cloud\.duo-sim\.test:\d+$/);
    expect(sim.aiGatewayUrl).toMatch(/^https:\/\/aigw\.duo-sim\.test:\d+$/);
    expect(sim.duoWorkflowService).toMatch(/^dws\.duo-sim\.test:\d+$/);
    expect(sim.controlUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(Object.keys(sim.resolve).map((k) => k.split(':')[0]).sort()).toEqual(Object.values(SIMULATOR_HOSTS).sort());
    expect(new Set(Object.values(sim.resolve))).toEqual(new Set(['127.0.0.1']));
    expect(sim.caPem).toMatch(/^-----BEGIN CERTIFICATE-----/);
    expect([sim.adminToken, sim.duoUserToken]).toEqual(['glpat-admin', 'glpat-duo']);
  });

  it('describes itself as an exporter instance config', async () => {
    const sim = await useSimulator();
    expect(exporterInstanceConfig(sim, '/tmp/ca.pem')).toEqual({
      name: 'simulator',
      url: sim.gitlabUrl,
      admin_token: sim.adminToken,
      duo_user_token: sim.duoUserToken,
      agent_platform_token: sim.agentPlatformToken,
      tls: { ca_file: '/tmp/ca.pem' },
      endpoints: {
        customers_portal: sim.customersPortalUrl,
        cloud_connector: sim.cloudConnectorUrl,
        duo_workflow_service: sim.duoWorkflowService,
        ai_gateway: sim.aiGatewayUrl,
      },
      resolve: sim.resolve,
    });
  });

  it('generates distinct random tokens by default', async () => {
    const sim = await useSimulator();
    expect(sim.adminToken).toMatch(/^glpat-[\w-]{20}$/);
    expect(sim.adminToken).not.toBe(sim.duoUserToken);
  });

  it('leaves no server, socket or timer behind after close(), even mid-request', async () => {
    const before = process.getActiveResourcesInfo();
    const sim = await startSimulator({ scenario: 'code_suggestions_slow', slowDelayMs: 60_000 });
    const agent = new Agent({ connect: { ca: sim.caPem, lookup: pinnedLookup }, allowH2: true });
    const pending = httpRequest(agent, `${sim.gitlabUrl}/api/v4/code_suggestions/completions`, {
      method: 'POST',
      headers: { ...bearer(sim.duoUserToken), 'content-type': 'application/json' },
      body: completionBody,
    }).catch((err: unknown) => err);
    const cable = openCable(sim, { waitMs: 300 });
    expect(await grpcHealth(sim, '')).toMatchObject({ code: 0 });
    await new Promise((resolve) => setTimeout(resolve, 100));
    await sim.close();
    expect(await pending).toBeInstanceOf(Error);
    await cable;
    await agent.close();
    await new Promise((resolve) => setTimeout(resolve, 50));
    // No kind of resource (TCPServerWrap, TCPSocketWrap, Timeout...) may be more numerous than before.
    const count = (list: string[]) => list.reduce<Record<string, number>>((acc, r) => ({ ...acc, [r]: (acc[r] ?? 0) + 1 }), {});
    const after = count(process.getActiveResourcesInfo());
    const baseline = count(before);
    for (const [kind, n] of Object.entries(after)) expect(n, kind).toBeLessThanOrEqual(baseline[kind] ?? 0);
  });

  it('frees every port on close()', async () => {
    const sim = await useSimulator();
    const ports = [sim.gitlabUrl, sim.customersPortalUrl, sim.duoWorkflowService, sim.controlUrl].map((u) => hostAndPort(u).port);
    await sim.close();
    for (const port of ports) {
      const refused = await new Promise<boolean>((resolve) => {
        const socket = netConnect(port, '127.0.0.1');
        socket.on('connect', () => {
          socket.destroy();
          resolve(false);
        });
        socket.on('error', () => resolve(true));
      });
      expect(refused).toBe(true);
    }
  });
});

describe('the instance speaks HTTP/2 unless downgraded', () => {
  it('negotiates h2 and completes a request; http2_downgraded offers only http/1.1 on the same port', async () => {
    const sim = await useSimulator();
    expect(await http2Get(sim, '/-/health')).toEqual({ alpn: 'h2', status: 200 });
    sim.setScenario('http2_downgraded');
    expect(await negotiateAlpn(sim, sim.gitlabUrl, ['h2', 'http/1.1'])).toBe('http/1.1');
    expect(await http2Get(sim, '/-/health')).toBeInstanceOf(Error);
    // The API keeps working over HTTP/1.1.
    const res = await httpRequest(agentFor(sim), `${sim.gitlabUrl}/api/v4/metadata`, { headers: bearer(sim.adminToken) });
    expect(res.status).toBe(200);
    sim.setScenario('healthy');
    expect(await negotiateAlpn(sim, sim.gitlabUrl, ['h2', 'http/1.1'])).toBe('h2');
  });

  it('serves GraphQL over HTTP/2 with undici allowH2', async () => {
    const sim = await useSimulator();
    const agent = agentFor(sim, { allowH2: true });
    const res = await httpRequest(agent, `${sim.gitlabUrl}/api/graphql`, {
      method: 'POST',
      headers: { ...bearer(sim.adminToken), 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ metadata { version } }' }),
    });
    expect(JSON.parse(res.text)).toEqual({ data: { metadata: { version: '18.9.0-ee' } } });
  });
});

describe('Duo Workflow Service', () => {
  it('answers grpc.health.v1 Check with SERVING for "" and "DuoWorkflow", NOT_FOUND for others', async () => {
    const sim = await useSimulator();
    expect(await negotiateAlpn(sim, sim.duoWorkflowService, ['h2'])).toBe('h2');
    expect(await grpcHealth(sim, '')).toEqual({ code: 0, status: 'SERVING' });
    expect(await grpcHealth(sim, 'DuoWorkflow')).toEqual({ code: 0, status: 'SERVING' });
    expect((await grpcHealth(sim, 'Other')).code).toBe(5);
  });

  it('does not negotiate h2 in dws_no_h2, on the same host:port', async () => {
    const sim = await useSimulator();
    const before = sim.duoWorkflowService;
    sim.setScenario('dws_no_h2');
    expect(sim.duoWorkflowService).toBe(before);
    expect(await negotiateAlpn(sim, sim.duoWorkflowService, ['h2', 'http/1.1'])).toBe('http/1.1');
    expect((await grpcHealth(sim, '', 1000)).code).toBe(14); // UNAVAILABLE
  });
});

describe('customers portal, Cloud Connector and AI gateway', () => {
  it('answer any path, and reset connections when down', async () => {
    const sim = await useSimulator();
    const agent = agentFor(sim);
    expect((await httpRequest(agent, sim.customersPortalUrl, { method: 'HEAD' })).status).toBe(302);
    expect((await httpRequest(agent, `${sim.cloudConnectorUrl}/anything`)).status).toBe(404);
    sim.setScenario('customers_portal_down');
    await expect(httpRequest(agentFor(sim), sim.customersPortalUrl)).rejects.toMatchObject({ code: expect.stringMatching(/ECONNRESET|UND_ERR_SOCKET/) });
    expect((await httpRequest(agentFor(sim), sim.cloudConnectorUrl)).status).toBe(404);
    sim.setScenario('cloud_connector_down');
    await expect(httpRequest(agentFor(sim), sim.cloudConnectorUrl)).rejects.toThrow();
    expect((await httpRequest(agentFor(sim), sim.customersPortalUrl)).status).toBe(302);
  });

  it('AI gateway: healthz 200; ready 200, or 503 in ai_gateway_not_ready', async () => {
    const sim = await useSimulator();
    const agent = agentFor(sim);
    expect((await httpRequest(agent, `${sim.aiGatewayUrl}/monitoring/healthz`)).status).toBe(200);
    expect((await httpRequest(agent, `${sim.aiGatewayUrl}/monitoring/ready`)).status).toBe(200);
    sim.setScenario('ai_gateway_not_ready');
    expect((await httpRequest(agent, `${sim.aiGatewayUrl}/monitoring/healthz`)).status).toBe(200);
    expect((await httpRequest(agent, `${sim.aiGatewayUrl}/monitoring/ready`)).status).toBe(503);
  });
});

describe('control endpoint', () => {
  it('lists, switches (PUT and POST) and refuses unknown scenarios', async () => {
    const sim = await useSimulator({ scenario: 'sync_stale' });
    const agent = agentFor(sim);
    const listed = JSON.parse((await httpRequest(agent, `${sim.controlUrl}/scenario`)).text);
    expect(listed.current).toBe('sync_stale');
    expect(listed.scenarios).toContainEqual({ name: 'dws_no_h2', description: expect.any(String), affects: expect.arrayContaining(['duo_workflow_service']) });
    const put = await httpRequest(agent, `${sim.controlUrl}/scenario/token_expired`, { method: 'PUT' });
    expect(JSON.parse(put.text).current).toBe('token_expired');
    expect(sim.scenario()).toBe('token_expired');
    await httpRequest(agent, `${sim.controlUrl}/scenario/healthy`, { method: 'POST' });
    expect(sim.scenario()).toBe('healthy');
    expect((await httpRequest(agent, `${sim.controlUrl}/scenario/nope`, { method: 'PUT' })).status).toBe(404);
    expect(sim.scenario()).toBe('healthy');
    expect((await httpRequest(agent, `${sim.controlUrl}/healthz`)).text).toBe('ok\n');
  });

  it('refuses an unknown scenario at start and in setScenario', async () => {
    await expect(useSimulator({ scenario: 'nope' as never })).rejects.toThrow(/unknown scenario/);
    const sim = await useSimulator();
    expect(() => sim.setScenario('nope' as never)).toThrow(/unknown scenario/);
  });
});
