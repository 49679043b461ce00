import type { TLSSocket } from 'node:tls';
import { beforeAll, describe, expect, it } from 'vitest';
import { ProbeError } from '../../src/core/errors.js';
import { loadCloudflareRanges } from '../../src/net/cloudflare.js';
import { openConnection } from '../../src/net/connect.js';
import { grpcHealthCheck } from '../../src/net/grpc-health.js';
import { PHASES } from '../../src/core/run.js';
import { RunRecorder } from '../../src/runner/recorder.js';
import { baselineSocketCount, LOOPBACK, settledSocketCount, startGrpcServer, startHttpsServer, startMuteTlsServer } from '../helpers/servers.js';
import { createPki, type TestPki } from '../helpers/tls.js';

/** grpcHealthCheck on a socket openConnection negotiated (h2), against grpc-js and raw h2 servers. */

const HOST = 'grpc.test';
let pki: TestPki;

beforeAll(async () => {
  pki = await createPki({ dns: [HOST] });
});

async function connect(port: number, timeoutMs = 2000): Promise<{ socket: TLSSocket; signal: AbortSignal; deadline: number }> {
  const signal = AbortSignal.timeout(timeoutMs);
  const connection = await openConnection(
    { host: HOST, port, tls: { alpn: ['h2'] } },
    {
      net: { proxy: undefined, ca: [pki.ca.certPem], insecureSkipVerify: false, resolve: new Map([[`${HOST}:${port}`, LOOPBACK]]), cloudflare: loadCloudflareRanges() },
      signal,
      record: new RunRecorder(PHASES),
    },
  );
  expect(connection.alpn).toBe('h2');
  return { socket: connection.socket as TLSSocket, signal, deadline: Date.now() + timeoutMs };
}

describe('grpcHealthCheck', () => {
  it('asks for the named service and decodes the answer', async () => {
    const server = await startGrpcServer({ cert: pki.valid, mode: 'SERVING' });
    const before = await baselineSocketCount();
    const { socket, signal, deadline } = await connect(server.port);
    const answer = await grpcHealthCheck(socket, `${HOST}:${server.port}`, 'DuoWorkflow', signal, deadline);
    expect(answer).toMatchObject({ grpcStatus: 0, servingStatus: 'SERVING' });
    expect(server.checks).toEqual(['DuoWorkflow']);
    // The session is torn down with the call: nothing of ours stays open.
    expect(await settledSocketCount(before)).toBe(before);
  });

  it('sends a proper gRPC request: POST, te: trailers, a grpc-timeout within the deadline', async () => {
    const server = await startHttpsServer({ cert: pki.valid, alpn: 'h2', reply: { status: 200, headers: { 'content-type': 'application/grpc', 'grpc-status': '12' } } });
    const { socket, signal, deadline } = await connect(server.port, 1500);
    const answer = await grpcHealthCheck(socket, `${HOST}:${server.port}`, '', signal, deadline);
    expect(answer.grpcStatus).toBe(12);
    expect(answer.servingStatus).toBeUndefined();
    const seen = server.requests[0]!;
    expect(seen.method).toBe('POST');
    expect(seen.path).toBe('/grpc.health.v1.Health/Check');
    expect(seen.headers['content-type']).toBe('application/grpc');
    expect(seen.headers.te).toBe('trailers');
    const timeout = String(seen.headers['grpc-timeout']);
    expect(timeout).toMatch(/^\d{1,8}m$/);
    expect(Number(timeout.slice(0, -1))).toBeLessThanOrEqual(1500);
  });

  it('a server that never answers → timeout when the signal fires', async () => {
    const server = await startMuteTlsServer({ cert: pki.valid, alpn: ['h2'] });
    const { socket, signal, deadline } = await connect(server.port, 1000);
    const err = await grpcHealthCheck(socket, `${HOST}:${server.port}`, '', signal, deadline).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ProbeError);
    expect((err as ProbeError).reason).toBe('timeout');
  });
});
