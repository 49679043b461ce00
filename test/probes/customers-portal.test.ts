import { beforeAll, describe, expect, it } from 'vitest';
import type { FailureReason } from '../../src/core/errors.js';
import { expectNoSample, expectSample } from '../helpers/exposition.js';
import { runOnce, type RunSpec } from '../helpers/network-probe.js';
import { expectOutcome, expectSocketsClosed, phaseSeconds } from '../helpers/probe-harness.js';
import { startConnectProxy, type ProxyMode } from '../helpers/proxy.js';
import { closedPort, LOOPBACK, openSocketCount, settledSocketCount, startHttpsServer, startMuteTlsServer, startSilentServer } from '../helpers/servers.js';
import { createCa, createPki, issueLeaf, type TestCert, type TestPki } from '../helpers/tls.js';

/**
 * customers_portal is GitLab's host_probe from the exporter's vantage point: any HTTP answer
 * proves the path; only DNS, TCP, proxy, TLS or the deadline fail it. Every row runs a real
 * server on 127.0.0.1 reached through a `resolve:` pin, as a user would pin a host.
 */

const HOST = 'portal.test';
const PROBE = 'customers_portal';
const labels = { gitlab: 'test', probe: PROBE };

let pki: TestPki;
let socketsBefore: number;

beforeAll(async () => {
  socketsBefore = openSocketCount();
  pki = await createPki({ dns: [HOST] });
});

/** A spec aimed at https://portal.test:<port>, pinned to 127.0.0.1, trusting the test CA. */
function spec(port: number, extra: Partial<RunSpec> = {}): RunSpec {
  return {
    probe: PROBE,
    endpoints: { customers_portal: `https://${HOST}:${port}` },
    resolve: { [`${HOST}:${port}`]: LOOPBACK },
    caPem: pki.ca.certPem,
    timeout: '2s',
    ...extra,
  };
}

type CertName = 'valid' | 'expired' | 'untrusted' | 'wrongName';

describe('customers_portal over TLS', () => {
  it.each<{ name: string; cert: CertName; alpn: 'h2' | 'http/1.1'; status: number; insecure?: boolean; reason: FailureReason | undefined }>([
    { name: 'valid certificate, HTTP/2', cert: 'valid', alpn: 'h2', status: 200, reason: undefined },
    { name: 'valid certificate, HTTP/1.1 only', cert: 'valid', alpn: 'http/1.1', status: 200, reason: undefined },
    { name: 'expired certificate', cert: 'expired', alpn: 'h2', status: 200, reason: 'tls' },
    { name: 'certificate from an untrusted CA', cert: 'untrusted', alpn: 'h2', status: 200, reason: 'tls' },
    { name: 'certificate for another name', cert: 'wrongName', alpn: 'h2', status: 200, reason: 'tls' },
    { name: 'untrusted CA with insecure_skip_verify', cert: 'untrusted', alpn: 'h2', status: 200, insecure: true, reason: undefined },
    { name: 'HTTP 503 still proves the path', cert: 'valid', alpn: 'h2', status: 503, reason: undefined },
    { name: 'HTTP 404 still proves the path', cert: 'valid', alpn: 'http/1.1', status: 404, reason: undefined },
    { name: 'HTTP 302 is reported, not followed', cert: 'valid', alpn: 'http/1.1', status: 302, reason: undefined },
  ])('$name → $reason', async ({ cert, alpn, status, insecure, reason }) => {
    const leaf: TestCert = pki[cert];
    const server = await startHttpsServer({ cert: leaf, alpn, reply: status });
    const outcome = await runOnce(spec(server.port, insecure ? { insecureSkipVerify: true } : {}));

    await expectOutcome(outcome, reason);

    await expectSocketsClosed(outcome);
    if (reason === undefined) {
      expect(server.requests.map((r) => `${r.method} ${r.path}`)).toEqual(['HEAD /']);
      await expectSample(outcome.registry, 'gitlab_duo_http_status_code', labels, status);
      await expectSample(outcome.registry, 'gitlab_duo_http_version', labels, alpn === 'h2' ? 2 : 1.1);
      await expectSample(outcome.registry, 'gitlab_duo_tls_cert_expiry_timestamp_seconds', labels, leaf.notAfter);
      // Test CAs are private; portal.test is not a GitLab host, so no interception note.
      await expectSample(outcome.registry, 'gitlab_duo_tls_public_ca', labels, 0);
      const issuer = cert === 'untrusted' ? 'untrusted test CA' : 'gitlab-duo-exporter test CA';
      await expectSample(outcome.registry, 'gitlab_duo_tls_peer_info', { ...labels, subject_cn: HOST, issuer_cn: issuer }, 1);
      expect(outcome.result!.notes).toEqual([`HEAD https://${HOST}:${server.port}/ answered ${status} over HTTP/${alpn === 'h2' ? '2' : '1.1'}`]);
      for (const phase of ['dns', 'connect', 'tls', 'first_byte']) expect(await phaseSeconds(outcome, phase)).toBeGreaterThan(0);
      // No proxy configured: no run can have the phase, so it has no series.
      expect(await phaseSeconds(outcome, 'proxy_connect')).toBeUndefined();
    } else {
      expect(server.requests).toEqual([]);
      await expectNoSample(outcome.registry, 'gitlab_duo_http_status_code', labels);
    }
    // An overridden endpoint is not GitLab's own host: no Cloudflare verdict either way.
    await expectNoSample(outcome.registry, 'gitlab_duo_cloudflare_addresses');
  });

  it('reports the earliest expiry of the chain: a CA expiring before the leaf', async () => {
    const shortCa = await createCa('short-lived test CA', { notAfter: new Date(Date.now() + 2 * 86_400_000) });
    const leaf = await issueLeaf(shortCa, { dns: [HOST], notAfter: new Date(Date.now() + 20 * 86_400_000) });
    expect(shortCa.notAfter).toBeLessThan(leaf.notAfter);
    // Presenting the leaf alone: the issuer comes from the trust store and still counts.
    for (const chainPem of [leaf.chainPem, leaf.certPem]) {
      const server = await startHttpsServer({ cert: { keyPem: leaf.keyPem, chainPem }, alpn: 'h2' });
      const outcome = await runOnce(spec(server.port, { caPem: shortCa.certPem }));
      await expectOutcome(outcome, undefined);
      await expectSocketsClosed(outcome);
      await expectSample(outcome.registry, 'gitlab_duo_tls_cert_expiry_timestamp_seconds', labels, shortCa.notAfter);
    }
  });
});

describe('customers_portal network failures', () => {
  it.each<{ name: string; reason: FailureReason; target: () => Promise<{ url: string; resolve?: Record<string, string> }> }>([
    {
      name: 'closed port',
      reason: 'connect',
      target: async () => {
        const port = await closedPort();
        return { url: `https://${HOST}:${port}`, resolve: { [`${HOST}:${port}`]: LOOPBACK } };
      },
    },
    {
      name: 'server accepts and never answers',
      reason: 'timeout',
      target: async () => {
        const { port } = await startSilentServer();
        return { url: `https://${HOST}:${port}`, resolve: { [`${HOST}:${port}`]: LOOPBACK } };
      },
    },
    {
      name: 'TLS completes, HTTP never answers',
      reason: 'timeout',
      target: async () => {
        const { port } = await startMuteTlsServer({ cert: pki.valid, alpn: ['http/1.1'] });
        return { url: `https://${HOST}:${port}`, resolve: { [`${HOST}:${port}`]: LOOPBACK } };
      },
    },
    // RFC 6761: names under .invalid never resolve.
    { name: 'name does not resolve', reason: 'dns', target: async () => ({ url: 'https://customers.gitlab-duo-exporter.invalid' }) },
  ])('$name → $reason', async ({ reason, target }) => {
    const { url, resolve } = await target();
    const outcome = await runOnce({ probe: PROBE, endpoints: { customers_portal: url }, resolve, caPem: pki.ca.certPem, timeout: '800ms' });
    await expectOutcome(outcome, reason);
    await expectSocketsClosed(outcome);
    expect(outcome.result!.timeoutSeconds).toBe(0.8);
    await expectNoSample(outcome.registry, 'gitlab_duo_http_status_code', labels);
  });
});

describe('customers_portal through an HTTP CONNECT proxy', () => {
  it.each<{ name: string; mode: ProxyMode; credentials?: [string, string]; reason: FailureReason | undefined; sawAuth?: boolean }>([
    { name: 'proxy allows', mode: 'allow', reason: undefined },
    { name: 'proxy denies with 403', mode: 'deny', reason: 'proxy' },
    { name: 'proxy wants credentials, none given (407)', mode: 'auth', reason: 'proxy', sawAuth: false },
    { name: 'proxy wants credentials, wrong ones given (407)', mode: 'auth', credentials: ['duo', 'wrong'], reason: 'proxy', sawAuth: true },
    { name: 'proxy wants credentials, right ones in the proxy URL', mode: 'auth', credentials: ['duo', 'p@ss:w/rd'], reason: undefined, sawAuth: true },
  ])('$name → $reason', async ({ mode, credentials, reason, sawAuth }) => {
    const server = await startHttpsServer({ cert: pki.valid, alpn: 'h2', reply: 204 });
    const proxy = await startConnectProxy({ mode, user: 'duo', password: 'p@ss:w/rd', hosts: { [HOST]: LOOPBACK } });
    const url = credentials ? proxy.urlWith(...credentials) : proxy.url;
    // No resolve pin: only the proxy can resolve portal.test, so a success proves the tunnel.
    const outcome = await runOnce({ ...spec(server.port), resolve: {}, proxy: { url } });

    await expectOutcome(outcome, reason);

    await expectSocketsClosed(outcome);
    // The proxy is asked for the name, never an address the exporter resolved.
    expect(proxy.targets()).toEqual([`${HOST}:${server.port}`]);
    if (sawAuth !== undefined) expect(proxy.seen[0]!.proxyAuthorization !== undefined).toBe(sawAuth);
    expect(await phaseSeconds(outcome, 'proxy_connect')).toBeGreaterThan(0);
    if (reason === undefined) {
      await expectSample(outcome.registry, 'gitlab_duo_http_status_code', labels, 204);
      expect(await phaseSeconds(outcome, 'tls')).toBeGreaterThan(0);
    } else {
      expect(server.requests).toEqual([]);
      expect(await phaseSeconds(outcome, 'tls')).toBe(0);
    }
    // The message names the proxy without its credentials.
    expect(outcome.result!.message).not.toContain('w/rd');
    expect(outcome.result!.message).not.toContain('wrong');
  });

  it('the proxy cannot reach the target (502) → proxy', async () => {
    const proxy = await startConnectProxy({ mode: 'allow', hosts: {} });
    const outcome = await runOnce({ ...spec(443), resolve: {}, proxy: { url: proxy.url }, timeout: '1s' });
    await expectOutcome(outcome, 'proxy');
    await expectSocketsClosed(outcome);
    expect(proxy.seen.map((s) => s.status)).toEqual([502]);
  });

  it.each<{ name: string; noProxy: string[]; proxied: boolean }>([
    { name: 'NO_PROXY names the host', noProxy: [HOST], proxied: false },
    { name: 'NO_PROXY names the parent domain', noProxy: ['.test'], proxied: false },
    { name: 'NO_PROXY is *', noProxy: ['*'], proxied: false },
    { name: 'NO_PROXY names the host and another port', noProxy: [`${HOST}:1`], proxied: true },
    { name: 'NO_PROXY names another host', noProxy: ['gitlab.example.com'], proxied: true },
  ])('$name → proxied: $proxied', async ({ noProxy, proxied }) => {
    const server = await startHttpsServer({ cert: pki.valid, alpn: 'h2' });
    const proxy = await startConnectProxy({ mode: 'allow', hosts: { [HOST]: LOOPBACK } });
    const outcome = await runOnce(spec(server.port, { proxy: { url: proxy.url, no_proxy: noProxy } }));
    await expectOutcome(outcome, undefined);
    await expectSocketsClosed(outcome);
    expect(proxy.targets()).toEqual(proxied ? [`${HOST}:${server.port}`] : []);
    const proxyConnect = await phaseSeconds(outcome, 'proxy_connect');
    if (proxied) expect(proxyConnect).toBeGreaterThan(0);
    else expect(proxyConnect).toBe(0);
  });
});

describe('customers_portal proxy from the environment', () => {
  it.each<{ name: string; env: (allow: string, deny: string) => Record<string, string>; via: 'allow' | 'deny' | 'none'; reason: FailureReason | undefined }>([
    { name: 'HTTPS_PROXY', env: (allow) => ({ HTTPS_PROXY: allow }), via: 'allow', reason: undefined },
    { name: 'https_proxy', env: (allow) => ({ https_proxy: allow }), via: 'allow', reason: undefined },
    { name: 'https_proxy wins over HTTPS_PROXY', env: (allow, deny) => ({ https_proxy: allow, HTTPS_PROXY: deny }), via: 'allow', reason: undefined },
    { name: 'HTTPS_PROXY to a denying proxy', env: (_allow, deny) => ({ HTTPS_PROXY: deny }), via: 'deny', reason: 'proxy' },
    { name: 'NO_PROXY excludes the host', env: (_allow, deny) => ({ HTTPS_PROXY: deny, NO_PROXY: `other.example, ${HOST}` }), via: 'none', reason: undefined },
    { name: 'no_proxy excludes the domain', env: (_allow, deny) => ({ https_proxy: deny, no_proxy: '.test' }), via: 'none', reason: undefined },
    { name: 'no proxy variables', env: () => ({ PATH: '/usr/bin' }), via: 'none', reason: undefined },
  ])('$name → via $via', async ({ env, via, reason }) => {
    const server = await startHttpsServer({ cert: pki.valid, alpn: 'h2' });
    const allow = await startConnectProxy({ mode: 'allow', hosts: { [HOST]: LOOPBACK } });
    const deny = await startConnectProxy({ mode: 'deny' });
    const outcome = await runOnce(spec(server.port, { env: env(allow.url, deny.url) }));
    await expectOutcome(outcome, reason);
    await expectSocketsClosed(outcome);
    const target = `${HOST}:${server.port}`;
    expect(allow.targets()).toEqual(via === 'allow' ? [target] : []);
    expect(deny.targets()).toEqual(via === 'deny' ? [target] : []);
    // A proxy set but NO_PROXY matching keeps the phase, at 0; no proxy at all has none.
    if (via === 'none') expect(await phaseSeconds(outcome, 'proxy_connect')).toBe(outcome.planned.net.proxy ? 0 : undefined);
    else expect(await phaseSeconds(outcome, 'proxy_connect')).toBeGreaterThan(0);
  });

  it('a proxy in the config wins over the environment', async () => {
    const server = await startHttpsServer({ cert: pki.valid, alpn: 'h2' });
    const fromConfig = await startConnectProxy({ mode: 'allow', hosts: { [HOST]: LOOPBACK } });
    const fromEnv = await startConnectProxy({ mode: 'deny' });
    const outcome = await runOnce(spec(server.port, { proxy: { url: fromConfig.url }, env: { HTTPS_PROXY: fromEnv.url } }));
    await expectOutcome(outcome, undefined);
    await expectSocketsClosed(outcome);
    expect(fromConfig.targets()).toEqual([`${HOST}:${server.port}`]);
    expect(fromEnv.targets()).toEqual([]);
  });

  it('the config no_proxy replaces the environment NO_PROXY', async () => {
    const server = await startHttpsServer({ cert: pki.valid, alpn: 'h2' });
    const proxy = await startConnectProxy({ mode: 'allow', hosts: { [HOST]: LOOPBACK } });
    const outcome = await runOnce(spec(server.port, { proxy: { url: proxy.url }, env: { NO_PROXY: HOST } }));
    await expectOutcome(outcome, undefined);
    await expectSocketsClosed(outcome);
    expect(proxy.targets()).toEqual([`${HOST}:${server.port}`]);
  });
});

describe('customers_portal resources', () => {
  it('leaves no socket open once the servers of the table are closed', async () => {
    expect(await settledSocketCount(socketsBefore)).toBe(socketsBefore);
  });
});
