import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { runOnce, type RunSpec } from '../helpers/network-probe.js';
import { startConnectProxy } from '../helpers/proxy.js';
import { closedPort, LOOPBACK, startGrpcServer, startHttpsServer, type GrpcHealthMode } from '../helpers/servers.js';
import { createPki, type TestPki } from '../helpers/tls.js';

/**
 * metrics.md: "`promtool check metrics` must report nothing on the exposition". The exposition of
 * real runs of the network probes (successes, failures, skipped) is piped to Debian's promtool.
 */

const PROMTOOL_DIRS = ['/usr/bin', '/usr/local/bin', '/bin'];

function findPromtool(): string {
  for (const dir of PROMTOOL_DIRS) {
    try {
      accessSync(`${dir}/promtool`, constants.X_OK);
      return `${dir}/promtool`;
    } catch {
      // keep looking
    }
  }
  throw new Error('promtool is not installed: this test needs the Debian package "prometheus" (apt-get install prometheus), which provides /usr/bin/promtool');
}

function promtoolCheck(exposition: string): Promise<{ code: number | null; output: string }> {
  const child = spawn(findPromtool(), ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'], env: {} });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stdin.end(exposition);
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, output }));
  });
}

let pki: TestPki;

beforeAll(async () => {
  findPromtool();
  pki = await createPki({ dns: ['portal.test', 'dws.test', 'aigw.test'] });
});

const https = async (host: string, probe: RunSpec['probe'], endpoint: (port: number) => string, status = 200, extra: Partial<RunSpec> = {}): Promise<RunSpec> => {
  const server = await startHttpsServer({ cert: pki.valid, alpn: 'h2', reply: status });
  return { probe, endpoints: { [probe]: endpoint(server.port) }, resolve: { [`${host}:${server.port}`]: LOOPBACK }, caPem: pki.ca.certPem, ...extra };
};

const grpc = async (mode: GrpcHealthMode): Promise<RunSpec> => {
  const server = await startGrpcServer({ cert: pki.valid, mode });
  return { probe: 'duo_workflow_service', endpoints: { duo_workflow_service: `dws.test:${server.port}` }, resolve: { [`dws.test:${server.port}`]: LOOPBACK }, caPem: pki.ca.certPem };
};

describe('promtool check metrics on the exposition of real runs', () => {
  it.each<{ name: string; spec: () => Promise<RunSpec> }>([
    { name: 'customers_portal success (HTTP 503 answer)', spec: () => https('portal.test', 'customers_portal', (p) => `https://portal.test:${p}`, 503) },
    {
      name: 'customers_portal connect failure',
      spec: async () => {
        const port = await closedPort();
        return { probe: 'customers_portal', endpoints: { customers_portal: `https://portal.test:${port}` }, resolve: { [`portal.test:${port}`]: LOOPBACK } };
      },
    },
    {
      name: 'cloud_connector through a denying proxy',
      spec: async () => {
        const proxy = await startConnectProxy({ mode: 'deny' });
        return https('portal.test', 'cloud_connector', (p) => `https://portal.test:${p}`, 200, { proxy: { url: proxy.url } });
      },
    },
    { name: 'duo_workflow_service SERVING', spec: () => grpc('SERVING') },
    { name: 'duo_workflow_service NOT_SERVING', spec: () => grpc('NOT_SERVING') },
    { name: 'duo_workflow_service UNIMPLEMENTED', spec: () => grpc('UNIMPLEMENTED') },
    { name: 'ai_gateway ready', spec: () => https('aigw.test', 'ai_gateway', (p) => `https://aigw.test:${p}`) },
    { name: 'ai_gateway not configured (skipped)', spec: async () => ({ probe: 'ai_gateway' }) },
  ])('$name: no findings', async ({ spec }) => {
    const outcome = await runOnce(await spec());
    const exposition = await outcome.exposition();
    expect(exposition).toContain('gitlab_duo_probe_enabled');
    const { code, output } = await promtoolCheck(exposition);
    expect(output).toBe('');
    expect(code).toBe(0);
  });

  it('promtool does report a broken exposition (the check has teeth)', async () => {
    const { code, output } = await promtoolCheck('# TYPE gitlab_duo_bad_total gauge\ngitlab_duo_bad_total 1\n');
    expect(code).not.toBe(0);
    expect(output).toMatch(/_total/);
  });
});
