import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { describe, expect, it, onTestFinished } from 'vitest';
import type { FailureReason } from '../../src/core/errors.js';
import { pki } from '../helpers/fake-gitlab.js';
import { runInstanceProbe } from '../helpers/instance-probe.js';
import { fact, phaseSeconds } from '../helpers/probe-harness.js';
import { LOOPBACK, openSocketCount, settledSocketCount, startHttpsServer, startMuteTlsServer } from '../helpers/servers.js';

/** instance_http2: ALPN must pick h2 and one HTTP/2 request must complete; any status counts. */

describe('instance_http2', () => {
  it.each<{ name: string; alpn: 'h2' | 'http/1.1'; status: number; reason: FailureReason | undefined; version: number }>([
    { name: 'h2 negotiated, 401 without a token', alpn: 'h2', status: 401, reason: undefined, version: 2 },
    { name: 'h2 negotiated, 200', alpn: 'h2', status: 200, reason: undefined, version: 2 },
    { name: 'h2 negotiated, 503 still completes a request', alpn: 'h2', status: 503, reason: undefined, version: 2 },
    { name: 'downgraded to http/1.1', alpn: 'http/1.1', status: 200, reason: 'http2_not_negotiated', version: 1.1 },
  ])('$name → $reason', async ({ alpn, status, reason, version }) => {
    const before = openSocketCount();
    const { valid } = await pki();
    const server = await startHttpsServer({ cert: valid, alpn, reply: status });
    const outcome = await runInstanceProbe('instance_http2', { port: server.port, adminToken: null, duoUserToken: null });
    expect(outcome.result?.reason, outcome.result?.message).toBe(reason);
    expect(await fact(outcome, 'gitlab_duo_http_version')).toBe(version);
    expect(await fact(outcome, 'gitlab_duo_http_status_code')).toBe(status);
    expect(await fact(outcome, 'gitlab_duo_tls_cert_expiry_timestamp_seconds')).toBe(valid.notAfter);
    expect(await fact(outcome, 'gitlab_duo_tls_public_ca')).toBe(0);
    // No token is sent: the protocol is what is tested.
    expect(server.requests).toHaveLength(1);
    expect(server.requests[0]!.headers.authorization).toBeUndefined();
    expect(server.requests[0]!.httpVersion).toBe(alpn === 'h2' ? '2.0' : '1.1');
    if (reason) expect(outcome.result?.message).toMatch(/chose ALPN http\/1.1 when offered h2,http\/1.1/);
    else expect(await phaseSeconds(outcome, 'first_byte')).toBeGreaterThan(0);
    await server.close();
    expect(await settledSocketCount(before)).toBe(before);
  });

  it('a front that never answers ends at the deadline', async () => {
    const { valid } = await pki();
    const server = await startMuteTlsServer({ cert: valid, alpn: ['h2'] });
    const outcome = await runInstanceProbe('instance_http2', { port: server.port, timeout: '1s' });
    expect(outcome.result?.reason).toBe('timeout');
    expect(outcome.result?.durationSeconds).toBeLessThan(1.5);
  });

  it('h2 negotiated but no working HTTP/2 behind it is http2_not_negotiated', async () => {
    const { valid } = await pki();
    // Says h2 in ALPN, then talks HTTP/1.1: what a misconfigured TLS terminator does.
    const before = openSocketCount();
    const server = createTlsServer({ key: valid.keyPem, cert: valid.chainPem, ALPNProtocols: ['h2'] }, (socket) => {
      socket.on('error', () => undefined);
      // Read what the client sends, so its FIN is seen and the socket closes.
      socket.resume();
      socket.end('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n');
    });
    server.listen(0, LOOPBACK);
    await once(server, 'listening');
    onTestFinished(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const outcome = await runInstanceProbe('instance_http2', { port: (server.address() as AddressInfo).port });
    expect(outcome.result?.reason, outcome.result?.message).toBe('http2_not_negotiated');
    expect(outcome.result?.message).toMatch(/the HTTP\/2 request did not complete/);
    expect(await settledSocketCount(before)).toBe(before);
  });

  it('plain http:// cannot negotiate HTTP/2', async () => {
    const outcome = await runInstanceProbe('instance_http2', { url: 'http://gitlab.test:1' });
    expect(outcome.result?.reason).toBe('http2_not_negotiated');
    expect(outcome.result?.message).toMatch(/plain HTTP/);
  });
});
