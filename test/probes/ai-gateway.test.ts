import { beforeAll, describe, expect, it } from 'vitest';
import type { FailureReason } from '../../src/core/errors.js';
import { expectNoSample, expectSample, findSamples } from '../helpers/exposition.js';
import { runOnce, type RunSpec } from '../helpers/network-probe.js';
import { expectOutcome, expectSocketsClosed } from '../helpers/probe-harness.js';
import { startConnectProxy } from '../helpers/proxy.js';
import { LOOPBACK, startHttpServer, startHttpsServer, startSilentServer } from '../helpers/servers.js';
import { createPki, type TestPki } from '../helpers/tls.js';

/**
 * ai_gateway: off unless `endpoints.ai_gateway` is set (Duo Self-Hosted or hybrid); then
 * GET /monitoring/healthz must answer 200. /monitoring/ready is never asked: it calls the
 * vendors' models (billable) and fails on an air-gapped gateway that serves its own models.
 */

const HOST = 'aigw.test';
const PROBE = 'ai_gateway';
const labels = { gitlab: 'test', probe: PROBE };

let pki: TestPki;

beforeAll(async () => {
  pki = await createPki({ dns: [HOST] });
});

function spec(port: number, path = '', extra: Partial<RunSpec> = {}): RunSpec {
  return {
    probe: PROBE,
    endpoints: { ai_gateway: `https://${HOST}:${port}${path}` },
    resolve: { [`${HOST}:${port}`]: LOOPBACK },
    caPem: pki.ca.certPem,
    timeout: '2s',
    ...extra,
  };
}

describe('ai_gateway', () => {
  it('not configured → skipped: enabled 0, never run, no run series', async () => {
    const outcome = await runOnce({ probe: PROBE });
    expect(outcome.result).toBeUndefined();
    expect(outcome.planned.skippedBecause).toMatch(/ai_gateway/);
    await expectSample(outcome.registry, 'gitlab_duo_probe_enabled', labels, 0);
    await expectNoSample(outcome.registry, 'gitlab_duo_probe_success', labels);
    await expectNoSample(outcome.registry, 'gitlab_duo_probe_failure_reason', labels);
    await expectNoSample(outcome.registry, 'gitlab_duo_probe_timeout_seconds', labels);
  });

  it.each<{ name: string; healthz: number; reason: FailureReason | undefined }>([
    { name: 'healthz 200', healthz: 200, reason: undefined },
    { name: 'healthz 500', healthz: 500, reason: 'http_status' },
    { name: 'healthz 503', healthz: 503, reason: 'http_status' },
    { name: 'healthz 404 (not an AI gateway)', healthz: 404, reason: 'http_status' },
    { name: 'healthz 204 (not exactly 200)', healthz: 204, reason: 'http_status' },
  ])('$name → $reason', async ({ healthz, reason }) => {
    const server = await startHttpsServer({
      cert: pki.valid,
      alpn: 'http/1.1',
      // /monitoring/ready fails here: a probe that asked it would fail even when healthz passes.
      reply: (req) => (req.path.endsWith('/healthz') ? { status: healthz, body: healthz === 204 ? '' : '{}' } : { status: 503, body: '{"status":"down"}' }),
    });
    const outcome = await runOnce(spec(server.port));

    await expectOutcome(outcome, reason);
    await expectSocketsClosed(outcome);
    await expectSample(outcome.registry, 'gitlab_duo_probe_enabled', labels, 1);
    expect(server.requests.map((r) => `${r.method} ${r.path}`)).toEqual(['GET /monitoring/healthz']);
    expect(server.requests.some((r) => r.path.includes('/monitoring/ready'))).toBe(false);
    await expectSample(outcome.registry, 'gitlab_duo_http_status_code', labels, healthz);
    await expectSample(outcome.registry, 'gitlab_duo_http_version', labels, 1.1);
    await expectSample(outcome.registry, 'gitlab_duo_tls_cert_expiry_timestamp_seconds', labels, pki.valid.notAfter);
    // A self-hosted gateway's private CA: reported (public_ca 0), never an interception note.
    await expectSample(outcome.registry, 'gitlab_duo_tls_public_ca', labels, 0);
    await expectSample(outcome.registry, 'gitlab_duo_tls_peer_info', { ...labels, issuer_cn: 'gitlab-duo-exporter test CA' }, 1);
    expect(outcome.result!.notes.join('\n')).not.toMatch(/not a public CA/);
    if (reason === undefined) expect(outcome.result!.notes).toContain('GET /monitoring/healthz answered 200');
    else expect(outcome.result!.message).toContain(`GET /monitoring/healthz answered ${healthz}`);
  });

  it('keeps a path prefix of the configured URL', async () => {
    const server = await startHttpsServer({ cert: pki.valid, alpn: 'h2' });
    const outcome = await runOnce(spec(server.port, '/aigw/'));
    await expectOutcome(outcome, undefined);
    expect(server.requests.map((r) => r.path)).toEqual(['/aigw/monitoring/healthz']);
    // The probe offers only http/1.1, even to a server that could speak h2.
    await expectSample(outcome.registry, 'gitlab_duo_http_version', labels, 1.1);
  });

  it('keeps a path prefix without a trailing slash too', async () => {
    const server = await startHttpsServer({ cert: pki.valid, alpn: 'http/1.1' });
    const outcome = await runOnce(spec(server.port, '/gateway'));
    await expectOutcome(outcome, undefined);
    expect(server.requests.map((r) => r.path)).toEqual(['/gateway/monitoring/healthz']);
  });

  it('records the phases of its one request', async () => {
    const server = await startHttpsServer({ cert: pki.valid, alpn: 'http/1.1' });
    const outcome = await runOnce(spec(server.port));
    await expectOutcome(outcome, undefined);
    const phases = await findSamples(outcome.registry, 'gitlab_duo_probe_phase_duration_seconds', labels);
    // Its phases but proxy_connect, which no run can enter without a proxy configured.
    expect(phases.map((s) => s.labels.phase).sort()).toEqual(['connect', 'dns', 'first_byte', 'tls', 'transfer']);
    const total = phases.reduce((sum, s) => sum + s.value, 0);
    expect(total).toBeLessThanOrEqual(outcome.result!.durationSeconds);
  });

  it('through a proxy → success', async () => {
    const server = await startHttpsServer({ cert: pki.valid, alpn: 'h2' });
    const proxy = await startConnectProxy({ mode: 'allow', hosts: { [HOST]: LOOPBACK } });
    const outcome = await runOnce(spec(server.port, '', { resolve: {}, env: { HTTPS_PROXY: proxy.url } }));
    await expectOutcome(outcome, undefined);
    // One request, one tunnel.
    expect(proxy.targets()).toEqual([`${HOST}:${server.port}`]);
    expect(server.requests.map((r) => r.path)).toEqual(['/monitoring/healthz']);
  });

  it('a plain http:// gateway (no TLS) → success, no certificate expiry', async () => {
    const server = await startHttpServer();
    const outcome = await runOnce({ ...spec(server.port), endpoints: { ai_gateway: `http://${HOST}:${server.port}` } });
    await expectOutcome(outcome, undefined);
    await expectSocketsClosed(outcome);
    expect(server.requests.map((r) => r.path)).toEqual(['/monitoring/healthz']);
    await expectSample(outcome.registry, 'gitlab_duo_http_version', labels, 1.1);
    await expectNoSample(outcome.registry, 'gitlab_duo_tls_cert_expiry_timestamp_seconds', labels);
    expect(await findSamples(outcome.registry, 'gitlab_duo_probe_phase_duration_seconds', { ...labels, phase: 'tls' })).toEqual([
      expect.objectContaining({ value: 0 }),
    ]);
  });

  it('a gateway that never answers → timeout within the deadline', async () => {
    const server = await startSilentServer();
    const outcome = await runOnce(spec(server.port, '', { timeout: '700ms' }));
    await expectOutcome(outcome, 'timeout');
    await expectSocketsClosed(outcome);
  });
});
