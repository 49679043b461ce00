import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onTestFinished } from 'vitest';
import { stringify } from 'yaml';
import { parseConfigText } from '../../src/config/load.js';
import type { InstanceEnvironment } from '../../src/gitlab/deployment.js';
import { loadCloudflareRanges } from '../../src/net/cloudflare.js';
import { PROBE_NAMES } from '../../src/probes/index.js';
import { buildPlan } from '../../src/runner/plan.js';
import type { ProbeResult } from '../../src/runner/result.js';
import { runProbe } from '../../src/runner/run-probe.js';
import { silentLogger } from '../helpers/fake-probe.js';
import { startConnectProxy } from '../helpers/proxy.js';
import { LOOPBACK, closedPort, startHttpsServer, startMuteTlsServer } from '../helpers/servers.js';
import type { TestPki } from '../helpers/tls.js';
import { startFaultServer, type AppFault } from '../reliability/lib/fault-server.js';
import { realShapes } from '../reliability/lib/shapes.js';

/**
 * Broken peers for every probe at once: each cell starts one (a refused port, a certificate from
 * an unknown CA, a proxy refusing CONNECT, a server answering 401 to everything...), points the
 * instance URL and every endpoint at it, and runs every probe of the catalog once, the way the
 * runner does (runProbe), so the reason each run ends with is the one the metrics would show.
 */

export const PEER = 'peer.reasons.test';
const TIMEOUT = '1s';
const ADMIN_TOKEN = 'sentinel-reasons-admin-7d1e';
const DUO_TOKEN = 'sentinel-reasons-duo-2b9c';
const AGENT_TOKEN = 'sentinel-reasons-agent-5f3a';

export interface Peer {
  readonly host: string;
  readonly port: number;
  /** An HTTP CONNECT proxy the probes go through (it resolves the names, not the exporter). */
  readonly proxy?: string;
  /** Read the tokens from files that are gone by the time the probes run. */
  readonly tokensUnreadable?: boolean;
  /** What the probes believe of the instance; default: nothing detected. */
  readonly environment?: (detected: InstanceEnvironment) => InstanceEnvironment;
}

export interface Cell {
  readonly name: string;
  /** Starts the cell's peer inside the running test (it closes with the test). */
  start(pki: TestPki): Promise<Peer>;
}

const json = (status: number, body: unknown, headers: Record<string, string> = {}) => ({
  status,
  headers: { 'content-type': 'application/json', ...headers },
  body: JSON.stringify(body),
});

/** An HTTPS server (h2 and HTTP/1.1) answering every request alike. */
const answering = (reply: ReturnType<typeof json> | { status: number; headers: Record<string, string>; body: string }): Cell['start'] => async (pki) => ({
  host: PEER,
  port: (await startHttpsServer({ cert: pki.valid, alpn: 'h2', reply })).port,
});

const faulty = (fault: AppFault, more: Partial<Peer> = {}): Cell['start'] => async (pki) => ({
  host: PEER,
  port: (await startFaultServer({ cert: pki.valid, fault, shapes: await realShapes() })).port,
  ...more,
});

export const CELLS: readonly Cell[] = [
  { name: 'a port that refuses connections', start: async () => ({ host: PEER, port: await closedPort() }) },
  { name: 'a name that does not resolve (.invalid)', start: async () => ({ host: 'peer.reasons.invalid', port: 443 }) },
  { name: 'a certificate from a CA nobody trusts', start: async (pki) => ({ host: PEER, port: (await startHttpsServer({ cert: pki.untrusted, alpn: 'h2' })).port }) },
  // A server that speaks no offered protocol refuses the handshake (TLS alert no_application_protocol).
  { name: 'a server refusing every ALPN protocol', start: async (pki) => ({ host: PEER, port: (await startMuteTlsServer({ cert: pki.valid, alpn: ['x-reasons'] })).port }) },
  {
    name: 'a proxy refusing CONNECT',
    start: async () => ({ host: PEER, port: 443, proxy: (await startConnectProxy({ mode: 'deny' })).url }),
  },
  { name: '401 to everything', start: answering(json(401, { message: '401 Unauthorized' })) },
  { name: '403 to everything', start: answering(json(403, { message: '403 Forbidden' })) },
  { name: '429 to everything', start: answering(json(429, { message: 'Retry later' }, { 'retry-after': '60' })) },
  { name: '500 to everything', start: answering(json(500, { message: '500 Internal Server Error' })) },
  {
    // list_tools' 404 means "no such endpoint" only where the Agent Platform is known to be in use.
    name: '404 to everything, the Agent Platform in use',
    start: async (pki) => ({
      ...(await answering(json(404, { message: '404 Not Found' }))(pki)),
      environment: (detected) => ({ ...detected, agentPlatform: { inUse: true, why: 'test' } }),
    }),
  },
  { name: '200 with a body that is not JSON', start: answering({ status: 200, headers: { 'content-type': 'text/plain' }, body: 'garbage' }) },
  { name: 'half an answer, then a reset', start: faulty('reset') },
  { name: 'bodies and frames far past their caps', start: faulty('huge_body') },
  { name: 'token files that cannot be read', start: faulty('healthy', { tokensUnreadable: true }) },
];

/** Runs every probe of the catalog once against the cell's peer; skipped ones are run all the same. */
export async function runCell(cell: Cell, pki: TestPki): Promise<ProbeResult[]> {
  const dir = mkdtempSync(join(tmpdir(), 'gde-reasons-'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  const peer = await cell.start(pki);
  const yaml = configYaml(peer, pki.ca.certPem, dir);
  const config = await parseConfigText(yaml, 'reasons.yaml', { env: {} });
  if (peer.tokensUnreadable) for (const file of ['admin-token', 'duo-token']) rmSync(join(dir, file));
  const plan = buildPlan(config, loadCloudflareRanges(), {});
  return Promise.all(
    plan.probes.map((p) =>
      runProbe({ probe: p.probe, instance: p.instance, settings: p.settings, net: p.net, logger: silentLogger, environment: peer.environment?.(p.environment) ?? p.environment }),
    ),
  );
}

function configYaml(peer: Peer, caPem: string, dir: string): string {
  const authority = `${peer.host}:${peer.port}`;
  writeFileSync(join(dir, 'ca.pem'), caPem);
  for (const component of ['rails', 'workhorse']) mkdirSync(join(dir, component));
  const tokens: Record<string, string> = { admin_token: ADMIN_TOKEN, duo_user_token: DUO_TOKEN, agent_platform_token: AGENT_TOKEN };
  if (peer.tokensUnreadable) {
    writeFileSync(join(dir, 'admin-token'), ADMIN_TOKEN, { mode: 0o600 });
    writeFileSync(join(dir, 'duo-token'), DUO_TOKEN, { mode: 0o600 });
    writeFileSync(join(dir, 'agent-token'), AGENT_TOKEN, { mode: 0o600 });
  }
  const instance: Record<string, unknown> = {
    name: 'reasons',
    url: `https://${authority}`,
    ...(peer.tokensUnreadable ? { admin_token_file: join(dir, 'admin-token'), duo_user_token_file: join(dir, 'duo-token'), agent_platform_token_file: join(dir, 'agent-token') } : tokens),
    tls: { ca_file: join(dir, 'ca.pem') },
    endpoints: { customers_portal: `https://${authority}`, cloud_connector: `https://${authority}`, duo_workflow_service: authority, ai_gateway: `https://${authority}` },
    proxy_env: { rails_env_dir: join(dir, 'rails'), workhorse_env_dir: join(dir, 'workhorse') },
    probes: Object.fromEntries(PROBE_NAMES.map((p) => [p, { timeout: TIMEOUT }])),
  };
  // A proxy resolves the name itself; without one, the name is pinned to loopback (.invalid is not).
  if (peer.proxy) instance.proxy = { url: peer.proxy, no_proxy: [] };
  else if (peer.host === PEER) instance.resolve = { [authority]: LOOPBACK };
  return stringify({ instances: [instance] });
}
