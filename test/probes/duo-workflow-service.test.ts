import { createHash, X509Certificate } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import type { FailureReason } from '../../src/core/errors.js';
import { expectSample, findSamples } from '../helpers/exposition.js';
import { runOnce, type RunSpec } from '../helpers/network-probe.js';
import { expectOutcome, expectSocketsClosed, factValue, phaseSeconds } from '../helpers/probe-harness.js';
import { startConnectProxy } from '../helpers/proxy.js';
import {
  closedPort,
  LOOPBACK,
  openSocketCount,
  settledSocketCount,
  startGrpcServer,
  startHttpsServer,
  startMuteTlsServer,
  startSilentServer,
  type GrpcHealthMode,
} from '../helpers/servers.js';
import { createPki, issueLeaf, type TestPki } from '../helpers/tls.js';

/**
 * duo_workflow_service: TLS with ALPN h2, then grpc.health.v1.Health/Check on the same socket.
 * Any gRPC answer proves TLS + HTTP/2 + gRPC reached the service (UNIMPLEMENTED included); a
 * NOT_SERVING answer fails with reason grpc.
 */

const HOST = 'dws.test';
const PROBE = 'duo_workflow_service';
const labels = { gitlab: 'test', probe: PROBE };
const SERVING_STATUSES = ['UNKNOWN', 'SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN', 'UNIMPLEMENTED'];

let pki: TestPki;
let socketsBefore: number;

beforeAll(async () => {
  socketsBefore = openSocketCount();
  pki = await createPki({ dns: [HOST] });
});

function spec(port: number, extra: Partial<RunSpec> = {}): RunSpec {
  return {
    probe: PROBE,
    endpoints: { duo_workflow_service: `${HOST}:${port}` },
    resolve: { [`${HOST}:${port}`]: LOOPBACK },
    caPem: pki.ca.certPem,
    timeout: '3s',
    ...extra,
  };
}

async function expectServingStatus(outcome: Awaited<ReturnType<typeof runOnce>>, expected: string | undefined): Promise<void> {
  for (const status of SERVING_STATUSES) {
    await expectSample(outcome.registry, 'gitlab_duo_grpc_serving_status', { ...labels, status }, status === expected ? 1 : 0);
  }
  expect(await findSamples(outcome.registry, 'gitlab_duo_grpc_serving_status')).toHaveLength(SERVING_STATUSES.length);
}

describe('duo_workflow_service against a grpc-js server', () => {
  it.each<{ mode: GrpcHealthMode; reason: FailureReason | undefined; grpcStatus: number }>([
    { mode: 'SERVING', reason: undefined, grpcStatus: 0 },
    { mode: 'NOT_SERVING', reason: 'grpc', grpcStatus: 0 },
    // A build without the health service: the path (TLS, h2, gRPC) is still proven.
    { mode: 'UNIMPLEMENTED', reason: undefined, grpcStatus: 12 },
  ])('health $mode → $reason', async ({ mode, reason, grpcStatus }) => {
    const server = await startGrpcServer({ cert: pki.valid, mode });
    const outcome = await runOnce(spec(server.port));

    await expectOutcome(outcome, reason);
    await expectSocketsClosed(outcome);
    await expectSample(outcome.registry, 'gitlab_duo_grpc_status_code', labels, grpcStatus);
    await expectServingStatus(outcome, mode);
    await expectSample(outcome.registry, 'gitlab_duo_http_version', labels, 2);
    await expectSample(outcome.registry, 'gitlab_duo_tls_cert_expiry_timestamp_seconds', labels, pki.valid.notAfter);
    if (mode !== 'UNIMPLEMENTED') expect(server.checks).toEqual(['']);
    for (const phase of ['dns', 'connect', 'tls', 'grpc']) expect(await phaseSeconds(outcome, phase)).toBeGreaterThan(0);
    // No proxy configured: no run can have the phase, so it has no series.
    expect(await phaseSeconds(outcome, 'proxy_connect')).toBeUndefined();
  });

  it('through an HTTP CONNECT proxy → success, the proxy tunnels to the name', async () => {
    const server = await startGrpcServer({ cert: pki.valid, mode: 'SERVING' });
    const proxy = await startConnectProxy({ mode: 'auth', user: 'svc', password: 'secret', hosts: { [HOST]: LOOPBACK } });
    const outcome = await runOnce({ ...spec(server.port), resolve: {}, proxy: { url: proxy.urlWith('svc', 'secret') } });

    await expectOutcome(outcome, undefined);
    await expectSocketsClosed(outcome);
    expect(proxy.targets()).toEqual([`${HOST}:${server.port}`]);
    await expectServingStatus(outcome, 'SERVING');
    expect(await phaseSeconds(outcome, 'proxy_connect')).toBeGreaterThan(0);
  });

  it('through a proxy taken from https_proxy → success', async () => {
    const server = await startGrpcServer({ cert: pki.valid, mode: 'SERVING' });
    const proxy = await startConnectProxy({ mode: 'allow', hosts: { [HOST]: LOOPBACK } });
    const outcome = await runOnce({ ...spec(server.port), resolve: {}, env: { https_proxy: proxy.url } });
    await expectOutcome(outcome, undefined);
    expect(proxy.targets()).toEqual([`${HOST}:${server.port}`]);
  });

  it('a proxy that refuses the tunnel → proxy', async () => {
    const server = await startGrpcServer({ cert: pki.valid, mode: 'SERVING' });
    const proxy = await startConnectProxy({ mode: 'deny' });
    const outcome = await runOnce({ ...spec(server.port), proxy: { url: proxy.url } });
    await expectOutcome(outcome, 'proxy');
    await expectSocketsClosed(outcome);
    expect(server.checks).toEqual([]);
  });
});

describe('duo_workflow_service against other HTTP/2 answers', () => {
  it.each<{ name: string; headers: Record<string, string>; status: number; reason: FailureReason | undefined; grpcStatus: number | undefined }>([
    // A front that wants credentials still proves TLS, h2 and gRPC reached a gRPC server.
    { name: 'trailers-only UNAUTHENTICATED (16)', status: 200, headers: { 'content-type': 'application/grpc', 'grpc-status': '16' }, reason: undefined, grpcStatus: 16 },
    { name: 'trailers-only INTERNAL (13)', status: 200, headers: { 'content-type': 'application/grpc', 'grpc-status': '13', 'grpc-message': 'boom' }, reason: 'grpc', grpcStatus: 13 },
    // grpc-message should be percent-encoded; a stray % must not turn a proven path into a failure.
    { name: 'UNIMPLEMENTED with a malformed grpc-message', status: 200, headers: { 'content-type': 'application/grpc', 'grpc-status': '12', 'grpc-message': 'Method not found: 100%' }, reason: undefined, grpcStatus: 12 },
    { name: 'an HTTP/2 server that is not gRPC (404, no grpc-status)', status: 404, headers: {}, reason: 'grpc', grpcStatus: undefined },
  ])('$name → $reason', async ({ headers, status, reason, grpcStatus }) => {
    const server = await startHttpsServer({ cert: pki.valid, alpn: 'h2', reply: { status, headers } });
    const outcome = await runOnce(spec(server.port));

    await expectOutcome(outcome, reason);
    await expectSocketsClosed(outcome);
    expect(server.requests.map((r) => `${r.method} ${r.path} HTTP/${r.httpVersion}`)).toEqual(['POST /grpc.health.v1.Health/Check HTTP/2.0']);
    expect(server.requests[0]!.headers['content-type']).toBe('application/grpc');
    expect(await factValue(outcome, 'gitlab_duo_grpc_status_code')).toBe(grpcStatus);
    if (grpcStatus === undefined) expect(await findSamples(outcome.registry, 'gitlab_duo_grpc_serving_status')).toEqual([]);
    else await expectServingStatus(outcome, grpcStatus === 12 ? 'UNIMPLEMENTED' : undefined);
  });
});

describe('duo_workflow_service failures before gRPC', () => {
  it.each<{ name: string; reason: FailureReason; start: () => Promise<number>; httpVersion?: number }>([
    {
      name: 'TLS server offering only http/1.1',
      reason: 'http2_not_negotiated',
      // Node, like many servers, refuses the handshake (alert no_application_protocol) when
      // offered only h2: nothing was negotiated, so no http_version either.
      start: async () => (await startHttpsServer({ cert: pki.valid, alpn: 'http/1.1', reply: 404 })).port,
    },
    {
      name: 'TLS server without ALPN',
      reason: 'http2_not_negotiated',
      start: async () => (await startMuteTlsServer({ cert: pki.valid })).port,
      httpVersion: 1.1,
    },
    { name: 'expired certificate', reason: 'tls', start: async () => (await startGrpcServer({ cert: pki.expired, mode: 'SERVING' })).port },
    { name: 'certificate from an untrusted CA', reason: 'tls', start: async () => (await startGrpcServer({ cert: pki.untrusted, mode: 'SERVING' })).port },
    { name: 'closed port', reason: 'connect', start: () => closedPort() },
    { name: 'accepts and never answers', reason: 'timeout', start: async () => (await startSilentServer()).port },
    {
      name: 'TLS h2 completes, gRPC never answers',
      reason: 'timeout',
      start: async () => (await startMuteTlsServer({ cert: pki.valid, alpn: ['h2'] })).port,
      httpVersion: 2,
    },
  ])('$name → $reason', async ({ reason, start, httpVersion }) => {
    const port = await start();
    const outcome = await runOnce(spec(port, { timeout: '800ms' }));

    await expectOutcome(outcome, reason);
    await expectSocketsClosed(outcome);
    expect(await factValue(outcome, 'gitlab_duo_http_version')).toBe(httpVersion);
    expect(await factValue(outcome, 'gitlab_duo_grpc_status_code')).toBeUndefined();
  });

  it('a name that does not resolve → dns', async () => {
    const outcome = await runOnce({ probe: PROBE, endpoints: { duo_workflow_service: 'duo-workflow-svc.gitlab-duo-exporter.invalid:443' }, timeout: '2s' });
    await expectOutcome(outcome, 'dns');
  });
});

describe('duo_workflow_service: the TLS peer, and TLS interception', () => {
  // Under gitlab.net like the default duo-workflow-svc.runway.gitlab.net: a private CA there is interception.
  const GITLAB_NAMED = 'dws.staging.gitlab.net';
  const gitlabSpec = (port: number): RunSpec => spec(port, { endpoints: { duo_workflow_service: `${GITLAB_NAMED}:${port}` }, resolve: { [`${GITLAB_NAMED}:${port}`]: LOOPBACK } });
  const NOTE = `${GITLAB_NAMED} is served by a certificate from "gitlab-duo-exporter test CA", not a public CA: a TLS-inspecting proxy is in the path; it breaks the Duo Workflow Service's gRPC stream (docs/runbook.md#tls-interception)`;

  it('SERVING through the private CA → success; public_ca 0, the leaf, and the note as the message', async () => {
    const leaf = await issueLeaf(pki.ca, { dns: [GITLAB_NAMED] });
    const server = await startGrpcServer({ cert: leaf, mode: 'SERVING' });
    const outcome = await runOnce(gitlabSpec(server.port));
    await expectOutcome(outcome, undefined);
    await expectSample(outcome.registry, 'gitlab_duo_tls_public_ca', labels, 0);
    const fingerprint = createHash('sha256').update(new X509Certificate(leaf.certPem).raw).digest('hex');
    await expectSample(outcome.registry, 'gitlab_duo_tls_peer_info', { ...labels, subject_cn: GITLAB_NAMED, issuer_cn: 'gitlab-duo-exporter test CA', fingerprint_sha256: fingerprint }, 1);
    expect(outcome.result!.notes).toEqual([NOTE, 'Health/Check answered status 0 (SERVING)']);
    expect(outcome.result!.message).toBe(NOTE);
  });

  it('the proxy speaks no HTTP/2 → http2_not_negotiated, and the note and the peer survive the failure', async () => {
    const leaf = await issueLeaf(pki.ca, { dns: [GITLAB_NAMED] });
    const { port } = await startMuteTlsServer({ cert: leaf });
    const outcome = await runOnce({ ...gitlabSpec(port), timeout: '800ms' });
    await expectOutcome(outcome, 'http2_not_negotiated');
    expect(outcome.result!.notes).toEqual([NOTE]);
    await expectSample(outcome.registry, 'gitlab_duo_tls_public_ca', labels, 0);
    expect(await findSamples(outcome.registry, 'gitlab_duo_tls_peer_info', { ...labels, subject_cn: GITLAB_NAMED })).toHaveLength(1);
  });

  it('a self-hosted service (not a GitLab host) with a private CA → public_ca 0, no note', async () => {
    const server = await startGrpcServer({ cert: pki.valid, mode: 'SERVING' });
    const outcome = await runOnce(spec(server.port));
    await expectOutcome(outcome, undefined);
    await expectSample(outcome.registry, 'gitlab_duo_tls_public_ca', labels, 0);
    expect(outcome.result!.notes).toEqual(['Health/Check answered status 0 (SERVING)']);
  });
});

describe('duo_workflow_service resources', () => {
  it('leaves no socket open once the servers are closed', async () => {
    expect(await settledSocketCount(socketsBefore)).toBe(socketsBefore);
  });
});
