import { createServer as createHttpsServer } from 'node:https';
import { constants as h2, createSecureServer, type Http2ServerRequest, type Http2ServerResponse, type ServerHttp2Session } from 'node:http2';
import type { AddressInfo, Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { loadCloudflareRanges } from '../../src/net/cloudflare.js';
import { timedRequest } from '../../src/net/http-request.js';
import type { NetOptions } from '../../src/net/options.js';
import { RunRecorder } from '../../src/runner/recorder.js';
import { PHASES } from '../../src/core/run.js';
import { baselineSocketCount, closeOnTestEnd, LOOPBACK, settledSocketCount, startHttpsServer } from '../helpers/servers.js';
import { createPki, type TestPki } from '../helpers/tls.js';
import { failure } from '../helpers/failure.js';

/** timedRequest on its own: one request on a fresh connection, timed, bounded by the signal. */

const HOST = 'api.test';
let pki: TestPki;

beforeAll(async () => {
  pki = await createPki({ dns: [HOST], ips: ['127.0.0.1', '::1'] });
});

function net(port: number, extra: Partial<NetOptions> = {}): NetOptions {
  return {
    proxy: undefined,
    ca: [pki.ca.certPem],
    insecureSkipVerify: false,
    resolve: new Map([[`${HOST}:${port}`, LOOPBACK]]),
    cloudflare: loadCloudflareRanges(),
    ...extra,
  };
}

/** An HTTP/2 server whose handler does what the test wants with each stream. */
async function h2Server(handler: (req: Http2ServerRequest, res: Http2ServerResponse) => void): Promise<number> {
  const server = createSecureServer({ key: pki.valid.keyPem, cert: pki.valid.chainPem }, handler);
  const sessions = new Set<ServerHttp2Session>();
  server.on('session', (session) => {
    sessions.add(session);
    session.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, LOOPBACK, resolve));
  closeOnTestEnd(server, new Set(), () => sessions.forEach((session) => session.destroy()));
  return (server.address() as AddressInfo).port;
}

function context(port: number, timeoutMs = 2000, extra: Partial<NetOptions> = {}): { net: NetOptions; signal: AbortSignal; record: RunRecorder } {
  return { net: net(port, extra), signal: AbortSignal.timeout(timeoutMs), record: new RunRecorder(PHASES) };
}


describe('timedRequest', () => {
  it.each(['h2', 'http/1.1'] as const)('GET over %s returns status, headers and body, and times every phase', async (alpn) => {
    const server = await startHttpsServer({ cert: pki.valid, alpn, reply: { status: 201, headers: { 'x-answer': '42' }, body: 'hello' } });
    const ctx = context(server.port);
    const before = await baselineSocketCount();
    const response = await timedRequest({ url: new URL(`https://${HOST}:${server.port}/api/v4/x?y=1`), alpn: ['h2', 'http/1.1'], headers: { 'x-probe': 'yes' } }, ctx);
    expect(response.status).toBe(201);
    expect(response.headers['x-answer']).toBe('42');
    expect(response.body.toString()).toBe('hello');
    expect(response.httpVersion).toBe(alpn === 'h2' ? '2' : '1.1');
    expect(response.connection.resolvedAddresses).toEqual([LOOPBACK]);
    expect(response.connection.viaProxy).toBe(false);
    expect(server.requests).toHaveLength(1);
    expect(server.requests[0]!.path).toBe('/api/v4/x?y=1');
    expect(server.requests[0]!.headers['x-probe']).toBe('yes');
    expect(server.requests[0]!.headers['user-agent']).toBe('gitlab-duo-exporter');
    for (const phase of ['dns', 'connect', 'tls', 'first_byte', 'transfer'] as const) expect(ctx.record.phases.get(phase)).toBeGreaterThan(0);
    expect(await settledSocketCount(before)).toBe(before);
  });

  it('POST sends its body (HTTP/1.1)', async () => {
    const server = await startHttpsServer({ cert: pki.valid, alpn: 'http/1.1', reply: (req) => ({ status: 200, body: String(req.headers['content-length']) }) });
    const response = await timedRequest({ url: new URL(`https://${HOST}:${server.port}/`), method: 'POST', body: '{"a":1}', headers: { 'content-type': 'application/json' } }, context(server.port));
    expect(response.body.toString()).toBe('7');
  });

  it('does not follow redirects', async () => {
    const server = await startHttpsServer({ cert: pki.valid, alpn: 'http/1.1', reply: { status: 302, headers: { location: `https://${HOST}:1/` } } });
    const response = await timedRequest({ url: new URL(`https://${HOST}:${server.port}/`) }, context(server.port));
    expect(response.status).toBe(302);
    expect(server.requests).toHaveLength(1);
  });

  it('a body over maxBodyBytes → unexpected_response', async () => {
    const server = await startHttpsServer({ cert: pki.valid, alpn: 'http/1.1', reply: { status: 200, body: 'x'.repeat(5000) } });
    const err = await failure(timedRequest({ url: new URL(`https://${HOST}:${server.port}/`), maxBodyBytes: 1000 }, context(server.port)));
    expect(err.reason).toBe('unexpected_response');
    expect(err.message).toMatch(/exceeds 1000 bytes/);
  });

  it('headers then a stalled body → timeout in transfer, bounded by the signal', async () => {
    const server = createHttpsServer({ key: pki.valid.keyPem, cert: pki.valid.chainPem }, (_req, res) => {
      res.writeHead(200, { 'content-length': '100' });
      res.write('partial');
    });
    await new Promise<void>((resolve) => server.listen(0, LOOPBACK, resolve));
    onTestFinished(() => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }));
    const port = (server.address() as AddressInfo).port;
    const ctx = context(port, 500);
    const started = Date.now();
    const before = await baselineSocketCount();
    const err = await failure(timedRequest({ url: new URL(`https://${HOST}:${port}/`) }, ctx));
    expect(err.reason).toBe('timeout');
    expect(Date.now() - started).toBeLessThan(500 + 250);
    expect(ctx.record.phases.get('transfer')).toBeGreaterThan(0);
    expect(await settledSocketCount(before)).toBe(before);
  });

  it('HTTP/1.1: repeated response headers come as arrays, and Host names the origin', async () => {
    let host: string | undefined;
    const server = createHttpsServer({ key: pki.valid.keyPem, cert: pki.valid.chainPem }, (req, res) => {
      host = req.headers.host;
      res.setHeader('x-twice', ['a', 'b']);
      res.end();
    });
    await new Promise<void>((resolve) => server.listen(0, LOOPBACK, resolve));
    closeOnTestEnd(server, new Set(), () => server.closeAllConnections());
    const port = (server.address() as AddressInfo).port;
    const response = await timedRequest({ url: new URL(`https://${HOST}:${port}/`) }, context(port));
    expect(response.headers['x-twice']).toEqual(['a', 'b']);
    expect(host).toBe(`${HOST}:${port}`);
  });

  it('HTTP/2: a stream reset before the response → unexpected_response at once, nothing left open', async () => {
    const port = await h2Server((req) => req.stream.close(h2.NGHTTP2_NO_ERROR));
    const ctx = context(port);
    const before = await baselineSocketCount();
    const started = Date.now();
    const err = await failure(timedRequest({ url: new URL(`https://${HOST}:${port}/`), alpn: ['h2'] }, ctx));
    expect(err.reason).toBe('unexpected_response');
    expect(Date.now() - started).toBeLessThan(1000);
    expect(await settledSocketCount(before)).toBe(before);
  });

  it('HTTP/2: a GOAWAY that leaves the request out → unexpected_response, not a wait for the deadline', async () => {
    // SETTINGS, then GOAWAY (last stream 0, NO_ERROR) once the request has arrived.
    const goaway = Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 8, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    const sockets = new Set<Socket>();
    const server = createTlsServer({ key: pki.valid.keyPem, cert: pki.valid.chainPem, ALPNProtocols: ['h2'] }, (socket) => {
      sockets.add(socket);
      socket.on('error', () => undefined);
      let received = 0;
      socket.on('data', (chunk: Buffer) => {
        received += chunk.length;
        // The client preface (24 bytes) and its SETTINGS come first; a HEADERS frame follows.
        if (received > 24 + 9 && !socket.destroyed) socket.write(goaway);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, LOOPBACK, resolve));
    closeOnTestEnd(server, sockets);
    const port = (server.address() as AddressInfo).port;
    const started = Date.now();
    const err = await failure(timedRequest({ url: new URL(`https://${HOST}:${port}/`), alpn: ['h2'] }, context(port)));
    expect(err.reason).toBe('unexpected_response');
    expect(err.message).toMatch(/GOAWAY/);
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('HTTP/2: a graceful GOAWAY that still covers the request (a proxy reloading) → the answer, not a failure', async () => {
    const port = await h2Server((req, res) => {
      req.stream.session?.goaway(h2.NGHTTP2_NO_ERROR, req.stream.id ?? 1);
      res.end('still answered');
    });
    const response = await timedRequest({ url: new URL(`https://${HOST}:${port}/`), alpn: ['h2'] }, context(port));
    expect(response.status).toBe(200);
    expect(response.body.toString()).toBe('still answered');
  });

  it('an already aborted signal → timeout before any connection', async () => {
    const server = await startHttpsServer({ cert: pki.valid, alpn: 'h2' });
    const ctx = { ...context(server.port), signal: AbortSignal.abort() };
    const err = await failure(timedRequest({ url: new URL(`https://${HOST}:${server.port}/`) }, ctx));
    expect(err.reason).toBe('timeout');
    expect(server.requests).toEqual([]);
  });

  it.each([
    ['IPv4 literal', '127.0.0.1', LOOPBACK],
    ['IPv6 literal', '[::1]', '::1'],
  ] as const)('an %s URL: no SNI name, certificate checked against the IP', async (_name, urlHost, listenOn) => {
    const server = await startHttpsServer({ cert: pki.valid, alpn: 'h2', host: listenOn });
    const response = await timedRequest({ url: new URL(`https://${urlHost}:${server.port}/`), alpn: ['h2', 'http/1.1'] }, context(server.port));
    expect(response.status).toBe(200);
    expect(response.connection.resolvedAddresses).toEqual([listenOn]);
  });

  it('an IP literal the certificate does not name → tls', async () => {
    const named = await createPki({ dns: [HOST] });
    const server = await startHttpsServer({ cert: named.valid, alpn: 'h2', host: '::1' });
    const err = await failure(timedRequest({ url: new URL(`https://[::1]:${server.port}/`) }, context(server.port, 2000, { ca: [named.ca.certPem] })));
    expect(err.reason).toBe('tls');
  });
});
