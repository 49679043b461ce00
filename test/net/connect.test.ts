import { once } from 'node:events';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import type { PeerCertificate } from 'node:tls';
import { beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { loadCloudflareRanges } from '../../src/net/cloudflare.js';
import { earliestExpiry, openConnection, type Endpoint } from '../../src/net/connect.js';
import type { NetOptions, ProxySettings } from '../../src/net/options.js';
import { PHASES } from '../../src/core/run.js';
import { RunRecorder } from '../../src/runner/recorder.js';
import { startConnectProxy } from '../helpers/proxy.js';
import { baselineSocketCount, LOOPBACK, settledSocketCount, startHttpsServer } from '../helpers/servers.js';
import { createPki, type TestPki } from '../helpers/tls.js';
import { failure } from '../helpers/failure.js';

/** openConnection: DNS, TCP, the CONNECT tunnel and TLS, each timed and classified. */

const HOST = 'svc.test';
let pki: TestPki;

beforeAll(async () => {
  pki = await createPki({ dns: [HOST, 'proxy.test'], ips: ['127.0.0.1', '::1'] });
});

function ctx(options: { proxy?: ProxySettings; resolve?: Record<string, string>; timeoutMs?: number } = {}): { net: NetOptions; signal: AbortSignal; record: RunRecorder } {
  return {
    net: {
      proxy: options.proxy,
      ca: [pki.ca.certPem],
      insecureSkipVerify: false,
      resolve: new Map(Object.entries(options.resolve ?? {})),
      cloudflare: loadCloudflareRanges(),
    },
    signal: AbortSignal.timeout(options.timeoutMs ?? 2000),
    record: new RunRecorder(PHASES),
  };
}

const proxyAt = (url: string, noProxy: string[] = []): ProxySettings => ({ url: new URL(url), noProxy });


/** A raw TCP server whose `onConnection` writes what the test wants, byte for byte. */
async function rawServer(onConnection: (socket: Socket, firstChunk: Buffer) => void): Promise<number> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.once('data', (chunk: Buffer) => onConnection(socket, chunk));
  });
  server.listen(0, LOOPBACK);
  await once(server, 'listening');
  onTestFinished(async () => {
    const closed = once(server, 'close');
    server.close();
    for (const s of sockets) s.destroy();
    await closed;
  });
  return (server.address() as AddressInfo).port;
}

describe('openConnection', () => {
  it('direct TLS: phases, ALPN, addresses, certificate expiry', async () => {
    const server = await startHttpsServer({ cert: pki.valid, alpn: 'h2' });
    const c = ctx({ resolve: { [`${HOST}:${server.port}`]: LOOPBACK } });
    const connection = await openConnection({ host: HOST, port: server.port, tls: { alpn: ['h2'] } }, c);
    connection.socket.destroy();
    expect(connection.alpn).toBe('h2');
    expect(connection.viaProxy).toBe(false);
    expect(connection.resolvedAddresses).toEqual([LOOPBACK]);
    expect(connection.certExpiry).toBe(pki.valid.notAfter);
    for (const phase of ['dns', 'connect', 'tls'] as const) expect(c.record.phases.get(phase)).toBeGreaterThan(0);
    expect(c.record.phases.get('proxy_connect')).toBe(0);
  });

  it('a resolve pin for a host:port does not apply to another port of the same host', async () => {
    const err = await failure(openConnection({ host: 'pinned.gitlab-duo-exporter.invalid', port: 443 }, ctx({ resolve: { 'pinned.gitlab-duo-exporter.invalid:8443': LOOPBACK } })));
    expect(err.reason).toBe('dns');
  });

  it('through a proxy: the proxy is resolved and tunnels to the name; no addresses of the target are known', async () => {
    const server = await startHttpsServer({ cert: pki.valid, alpn: 'http/1.1' });
    const proxy = await startConnectProxy({ mode: 'allow', hosts: { [HOST]: LOOPBACK } });
    // The proxy itself is named, and pinned: the pin applies to the first hop.
    const c = ctx({ proxy: proxyAt(`http://proxy.test:${proxy.port}`), resolve: { [`proxy.test:${proxy.port}`]: LOOPBACK } });
    const connection = await openConnection({ host: HOST, port: server.port, tls: { alpn: ['http/1.1'] } }, c);
    connection.socket.destroy();
    expect(proxy.targets()).toEqual([`${HOST}:${server.port}`]);
    expect(connection.viaProxy).toBe(true);
    expect(connection.resolvedAddresses).toEqual([]);
    expect(connection.alpn).toBe('http/1.1');
    expect(c.record.phases.get('proxy_connect')).toBeGreaterThan(0);
  });

  it('through an https:// proxy (TLS to the proxy, then TLS to the target inside the tunnel)', async () => {
    const server = await startHttpsServer({ cert: pki.valid, alpn: 'h2' });
    const proxy = await startConnectProxy({ mode: 'allow', hosts: { [HOST]: LOOPBACK }, tls: pki.valid });
    expect(proxy.url).toMatch(/^https:/);
    const connection = await openConnection({ host: HOST, port: server.port, tls: { alpn: ['h2'] } }, ctx({ proxy: proxyAt(proxy.url) }));
    connection.socket.destroy();
    expect(proxy.targets()).toEqual([`${HOST}:${server.port}`]);
    expect(connection.alpn).toBe('h2');
  });

  it('an https:// proxy with an untrusted certificate → proxy', async () => {
    const proxy = await startConnectProxy({ mode: 'allow', hosts: { [HOST]: LOOPBACK }, tls: pki.untrusted });
    const err = await failure(openConnection({ host: HOST, port: 443, tls: { alpn: [] } }, ctx({ proxy: proxyAt(proxy.url) })));
    expect(err.reason).toBe('proxy');
    expect(proxy.seen).toEqual([]);
  });

  it('an IPv6 proxy URL and an IPv6 target: bracketed authority in CONNECT', async () => {
    const server = await startHttpsServer({ cert: pki.valid, alpn: 'h2', host: '::1' });
    const proxy = await startConnectProxy({ mode: 'allow', listenOn: '::1' });
    expect(proxy.url).toBe(`http://[::1]:${proxy.port}`);
    const connection = await openConnection({ host: '::1', port: server.port, tls: { alpn: ['h2'] } }, ctx({ proxy: proxyAt(proxy.url) }));
    connection.socket.destroy();
    expect(proxy.targets()).toEqual([`[::1]:${server.port}`]);
    expect(connection.alpn).toBe('h2');
  });

  it('bytes the proxy sends right after its 200 belong to the tunnel', async () => {
    const port = await rawServer((socket, chunk) => {
      expect(chunk.toString()).toMatch(/^CONNECT banner\.test:25 HTTP\/1\.1\r\n/);
      // The reply and the target's first bytes in one segment, as a fast proxy may send them.
      socket.write('HTTP/1.1 200 Connection established\r\n\r\n220 banner ready\r\n');
    });
    const connection = await openConnection({ host: 'banner.test', port: 25 }, ctx({ proxy: proxyAt(`http://${LOOPBACK}:${port}`) }));
    const [data] = (await once(connection.socket, 'data')) as [Buffer];
    connection.socket.destroy();
    expect(data.toString()).toBe('220 banner ready\r\n');
  });

  it.each<{ name: string; reply: string | undefined }>([
    { name: 'closes without answering', reply: undefined },
    { name: 'answers something that is not HTTP', reply: 'SSH-2.0-OpenSSH_9.6\r\n' },
    { name: 'answers with headers over 16 KiB', reply: `HTTP/1.1 200 OK\r\nx-big: ${'a'.repeat(20_000)}\r\n\r\n` },
    { name: 'answers 407 with a body', reply: 'HTTP/1.1 407 Proxy Authentication Required\r\ncontent-length: 5\r\n\r\nnope!' },
  ])('a proxy that $name → proxy', async ({ reply }) => {
    const port = await rawServer((socket) => {
      if (reply === undefined) socket.destroy();
      else socket.end(reply);
    });
    const before = await baselineSocketCount();
    const err = await failure(openConnection({ host: HOST, port: 443, tls: { alpn: ['h2'] } }, ctx({ proxy: proxyAt(`http://${LOOPBACK}:${port}`) })));
    expect(err.reason).toBe('proxy');
    expect(await settledSocketCount(before)).toBe(before);
  });

  it('a proxy that never answers CONNECT → timeout, bounded by the signal', async () => {
    await rawServer(() => undefined).then(async (port) => {
      const started = Date.now();
      const before = await baselineSocketCount();
      const err = await failure(openConnection({ host: HOST, port: 443 }, ctx({ proxy: proxyAt(`http://${LOOPBACK}:${port}`), timeoutMs: 400 })));
      expect(err.reason).toBe('timeout');
      expect(Date.now() - started).toBeLessThan(400 + 250);
      expect(await settledSocketCount(before)).toBe(before);
    });
  });

  it('NO_PROXY lets a host bypass the proxy', async () => {
    const server = await startHttpsServer({ cert: pki.valid, alpn: 'h2' });
    const proxy = await startConnectProxy({ mode: 'deny' });
    const endpoint: Endpoint = { host: HOST, port: server.port, tls: { alpn: ['h2'] } };
    const connection = await openConnection(endpoint, ctx({ proxy: proxyAt(proxy.url, ['svc.test']), resolve: { [`${HOST}:${server.port}`]: LOOPBACK } }));
    connection.socket.destroy();
    expect(connection.viaProxy).toBe(false);
    expect(proxy.seen).toEqual([]);
  });
});

describe('earliestExpiry', () => {
  const cert = (fingerprint256: string, validTo: string, issuer?: PeerCertificate): PeerCertificate & { issuerCertificate?: PeerCertificate } =>
    ({ fingerprint256, valid_to: validTo, issuerCertificate: issuer }) as unknown as PeerCertificate;

  it('walks the chain and stops at the self-signed root', () => {
    const root = cert('root', 'Jan  1 00:00:00 2031 GMT');
    (root as { issuerCertificate?: PeerCertificate }).issuerCertificate = root;
    const intermediate = cert('mid', 'Jun  1 00:00:00 2029 GMT', root);
    const leaf = cert('leaf', 'Jan  1 00:00:00 2030 GMT', intermediate);
    expect(earliestExpiry(leaf)).toBe(Date.UTC(2029, 5, 1) / 1000);
  });

  it('a leaf alone, and nothing at all', () => {
    expect(earliestExpiry(cert('leaf', 'Mar  3 12:00:00 2030 GMT'))).toBe(Date.UTC(2030, 2, 3, 12) / 1000);
    expect(earliestExpiry({} as PeerCertificate)).toBeUndefined();
  });
});
