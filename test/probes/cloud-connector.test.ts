import { beforeAll, describe, expect, it } from 'vitest';
import type { FailureReason } from '../../src/errors.js';
import { startConnectProxy } from '../helpers/proxy.js';
import { expectNoSample, expectOutcome, expectSample, expectSocketsClosed, runOnce, type RunSpec } from '../helpers/run.js';
import { closedPort, LOOPBACK, startHttpsServer } from '../helpers/servers.js';
import { createPki, type TestPki } from '../helpers/tls.js';

/**
 * cloud_connector: the same host probe as customers_portal, for cloud.gitlab.com. The Cloudflare
 * fact is only reported for GitLab's own host resolved by the exporter itself, so these tests
 * keep the DEFAULT endpoint https://cloud.gitlab.com and pin its name to 127.0.0.1 (like curl
 * --resolve): the connection goes to 127.0.0.1:443, where the test listens.
 */

const PROBE = 'cloud_connector';
const DEFAULT_HOST = 'cloud.gitlab.com';
const OTHER_HOST = 'cloud.test';
const labels = { gitlab: 'test', probe: PROBE };

let pki: TestPki;

beforeAll(async () => {
  pki = await createPki({ dns: [DEFAULT_HOST, OTHER_HOST] });
});

function spec(port: number, extra: Partial<RunSpec> = {}): RunSpec {
  return {
    probe: PROBE,
    endpoints: { cloud_connector: `https://${OTHER_HOST}:${port}` },
    resolve: { [`${OTHER_HOST}:${port}`]: LOOPBACK },
    caPem: pki.ca.certPem,
    timeout: '2s',
    ...extra,
  };
}

describe('cloud_connector reachability (any HTTP answer proves the path)', () => {
  it.each<{ status: number; alpn: 'h2' | 'http/1.1' }>([
    { status: 200, alpn: 'h2' },
    { status: 401, alpn: 'h2' },
    { status: 503, alpn: 'http/1.1' },
    { status: 301, alpn: 'http/1.1' },
  ])('HTTP $status over $alpn → success', async ({ status, alpn }) => {
    const server = await startHttpsServer({ cert: pki.valid, alpn, reply: status });
    const outcome = await runOnce(spec(server.port));
    await expectOutcome(outcome, undefined);
    await expectSocketsClosed(outcome);
    await expectSample(outcome.registry, 'gitlab_duo_http_status_code', labels, status);
    await expectSample(outcome.registry, 'gitlab_duo_http_version', labels, alpn === 'h2' ? 2 : 1.1);
    expect(server.requests.map((r) => r.method)).toEqual(['HEAD']);
  });

  it.each<{ name: string; reason: FailureReason; port: () => Promise<number> }>([
    { name: 'expired certificate', reason: 'tls', port: async () => (await startHttpsServer({ cert: pki.expired, alpn: 'h2' })).port },
    { name: 'certificate for another name', reason: 'tls', port: async () => (await startHttpsServer({ cert: pki.wrongName, alpn: 'h2' })).port },
    { name: 'closed port', reason: 'connect', port: () => closedPort() },
  ])('$name → $reason', async ({ reason, port }) => {
    const outcome = await runOnce(spec(await port()));
    await expectOutcome(outcome, reason);
    await expectSocketsClosed(outcome);
    await expectNoSample(outcome.registry, 'gitlab_duo_http_status_code');
  });
});

describe('Cloudflare address check', () => {
  const pinned: Partial<RunSpec> = { endpoints: {}, resolve: { [`${DEFAULT_HOST}:443`]: LOOPBACK } };

  it('default endpoint resolved (pinned) to 127.0.0.1 → success, not a Cloudflare address', async () => {
    const server = await startHttpsServer({ cert: pki.valid, alpn: 'h2', port: 443 });
    const outcome = await runOnce(spec(0, pinned));

    expect(outcome.planned.instance.endpoints.cloud_connector).toBe('https://cloud.gitlab.com');
    await expectOutcome(outcome, undefined);
    await expectSocketsClosed(outcome);
    expect(server.requests[0]!.headers[':authority'] ?? server.requests[0]!.headers.host).toBe(DEFAULT_HOST);
    await expectSample(outcome.registry, 'gitlab_duo_cloudflare_addresses', labels, 0);
    await expectSample(await outcome.exposition(), 'gitlab_duo_cloudflare_addresses', labels, 0);
  });

  it('default endpoint inside the configured ranges → 1', async () => {
    await startHttpsServer({ cert: pki.valid, alpn: 'h2', port: 443 });
    const outcome = await runOnce(spec(0, { ...pinned, cloudflareRanges: '# loopback as if it were Cloudflare\n127.0.0.0/8\n' }));
    await expectOutcome(outcome, undefined);
    await expectSample(outcome.registry, 'gitlab_duo_cloudflare_addresses', labels, 1);
  });

  it('an overridden endpoint → no Cloudflare series', async () => {
    const server = await startHttpsServer({ cert: pki.valid, alpn: 'h2' });
    const outcome = await runOnce(spec(server.port));
    await expectOutcome(outcome, undefined);
    await expectNoSample(outcome.registry, 'gitlab_duo_cloudflare_addresses');
    await expectNoSample(await outcome.exposition(), 'gitlab_duo_cloudflare_addresses');
  });

  it('the default endpoint through a proxy (the proxy resolves) → no Cloudflare series', async () => {
    await startHttpsServer({ cert: pki.valid, alpn: 'h2', port: 443 });
    const proxy = await startConnectProxy({ mode: 'allow', hosts: { [DEFAULT_HOST]: LOOPBACK } });
    const outcome = await runOnce(spec(0, { endpoints: {}, resolve: {}, proxy: { url: proxy.url } }));
    await expectOutcome(outcome, undefined);
    expect(proxy.targets()).toEqual([`${DEFAULT_HOST}:443`]);
    await expectNoSample(outcome.registry, 'gitlab_duo_cloudflare_addresses');
  });

  it('a failed run reports no Cloudflare verdict', async () => {
    await startHttpsServer({ cert: pki.expired, alpn: 'h2', port: 443 });
    const outcome = await runOnce(spec(0, pinned));
    await expectOutcome(outcome, 'tls');
    await expectNoSample(outcome.registry, 'gitlab_duo_cloudflare_addresses');
  });
});
