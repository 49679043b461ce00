import { createHash, X509Certificate } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import type { FailureReason } from '../../src/core/errors.js';
import { labelText, MAX_LABEL_CHARS } from '../../src/net/tls-peer.js';
import { expectNoSample, expectSample, findSamples } from '../helpers/exposition.js';
import { runOnce, type RunSpec } from '../helpers/network-probe.js';
import { expectOutcome, expectSocketsClosed } from '../helpers/probe-harness.js';
import { promtoolCheckMetrics } from '../helpers/promtool.js';
import { startConnectProxy } from '../helpers/proxy.js';
import { closedPort, LOOPBACK, startHttpsServer } from '../helpers/servers.js';
import { createPki, issueLeaf, type TestPki } from '../helpers/tls.js';
import { createCaNamed, HOSTILE_CN, issueLeafNamed, nameWithCn } from '../net/tls-certs.js';

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

const sha256Hex = (pem: string): string => createHash('sha256').update(new X509Certificate(pem).raw).digest('hex');

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

describe('the TLS peer, and TLS interception on GitLab hosts', () => {
  // Under gitlab.com, as GitLab's hosts are: served by a private CA, that is interception.
  const GITLAB_NAMED = 'cloud.staging.gitlab.com';

  it('a private CA trusted through ca_file → success, public_ca 0, the leaf in the info gauge', async () => {
    const server = await startHttpsServer({ cert: pki.valid, alpn: 'h2' });
    const outcome = await runOnce(spec(server.port));
    await expectOutcome(outcome, undefined);
    await expectSample(outcome.registry, 'gitlab_duo_tls_public_ca', labels, 0);
    const info = { ...labels, subject_cn: DEFAULT_HOST, issuer_cn: 'gitlab-duo-exporter test CA', fingerprint_sha256: sha256Hex(pki.valid.certPem) };
    await expectSample(outcome.registry, 'gitlab_duo_tls_peer_info', info, 1);
    await expectSample(await outcome.exposition(), 'gitlab_duo_tls_peer_info', info, 1);
    expect(await findSamples(outcome.registry, 'gitlab_duo_tls_peer_info')).toHaveLength(1);
    // cloud.test is not GitLab's: a private CA there says nothing about interception.
    expect(outcome.result!.notes.join('\n')).not.toMatch(/not a public CA/);
    expect(outcome.result!.message).toMatch(/^HEAD https:\/\/cloud\.test:\d+\/ answered 200/);
  });

  it('the default endpoint cloud.gitlab.com served by the private CA → the interception note is the message', async () => {
    await startHttpsServer({ cert: pki.valid, alpn: 'h2', port: 443 });
    const outcome = await runOnce(spec(0, { endpoints: {}, resolve: { [`${DEFAULT_HOST}:443`]: LOOPBACK } }));
    await expectOutcome(outcome, undefined);
    const note = `cloud.gitlab.com is served by a certificate from "gitlab-duo-exporter test CA", not a public CA: a TLS-inspecting proxy is in the path; it breaks the Duo Workflow Service's gRPC stream (docs/runbook.md#tls-interception)`;
    expect(outcome.result!.notes).toEqual([note, 'HEAD https://cloud.gitlab.com/ answered 200 over HTTP/2']);
    expect(outcome.result!.message).toBe(note);
    await expectSample(outcome.registry, 'gitlab_duo_tls_public_ca', labels, 0);
  });

  it('another GitLab host (any port) behind the same CA → the note names that host', async () => {
    const leaf = await issueLeaf(pki.ca, { dns: [GITLAB_NAMED] });
    const server = await startHttpsServer({ cert: leaf, alpn: 'http/1.1', reply: 403 });
    const outcome = await runOnce(spec(server.port, { endpoints: { cloud_connector: `https://${GITLAB_NAMED}:${server.port}` }, resolve: { [`${GITLAB_NAMED}:${server.port}`]: LOOPBACK } }));
    await expectOutcome(outcome, undefined);
    expect(outcome.result!.message).toMatch(new RegExp(`^${GITLAB_NAMED.replace(/\./g, '\\.')} is served by a certificate from "gitlab-duo-exporter test CA", not a public CA`));
    await expectSample(outcome.registry, 'gitlab_duo_tls_peer_info', { ...labels, subject_cn: GITLAB_NAMED, fingerprint_sha256: sha256Hex(leaf.certPem) }, 1);
  });

  it('a hostile certificate: bounded, escaped labels; the note stays one line; promtool finds nothing', async () => {
    const ca = await createCaNamed(nameWithCn(`${HOSTILE_CN} CA`));
    const leaf = await issueLeafNamed(ca, nameWithCn(HOSTILE_CN), [GITLAB_NAMED]);
    const server = await startHttpsServer({ cert: leaf, alpn: 'h2' });
    const outcome = await runOnce(spec(server.port, { caPem: ca.certPem, endpoints: { cloud_connector: `https://${GITLAB_NAMED}:${server.port}` }, resolve: { [`${GITLAB_NAMED}:${server.port}`]: LOOPBACK } }));
    await expectOutcome(outcome, undefined);
    const exposition = await outcome.exposition();
    expect(promtoolCheckMetrics(exposition)).toBe('');
    const [sample, ...more] = await findSamples(exposition, 'gitlab_duo_tls_peer_info', labels);
    expect(more).toEqual([]);
    expect(sample!.labels.subject_cn).toBe(labelText(HOSTILE_CN));
    expect(sample!.labels.issuer_cn).toBe(labelText(`${HOSTILE_CN} CA`));
    for (const value of [sample!.labels.subject_cn!, sample!.labels.issuer_cn!]) expect(Array.from(value).length).toBeLessThanOrEqual(MAX_LABEL_CHARS);
    // One line per series: nothing of the CN escaped the label.
    const lines = exposition.split('\n').filter((line) => line.includes('gitlab_duo_tls_peer_info{'));
    expect(lines).toHaveLength(1);
    expect(exposition).not.toMatch(/^fake_metric/m);
    expect(exposition).not.toContain('\x1b');
    for (const control of ['\n', '\r', '\x1b']) expect(outcome.result!.message).not.toContain(control);
    expect(outcome.result!.message).toContain(`from "${labelText(`${HOSTILE_CN} CA`)}", not a public CA`);
  });

  it('a failed handshake exports no peer', async () => {
    const server = await startHttpsServer({ cert: pki.expired, alpn: 'h2' });
    const outcome = await runOnce(spec(server.port));
    await expectOutcome(outcome, 'tls');
    await expectNoSample(outcome.registry, 'gitlab_duo_tls_peer_info');
    await expectNoSample(outcome.registry, 'gitlab_duo_tls_public_ca');
  });
});
