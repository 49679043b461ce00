import { once } from 'node:events';
import { createServer, type IncomingMessage, type RequestListener } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { connect, isIP, type AddressInfo, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { onTestFinished } from 'vitest';
import { LOOPBACK, type KeyAndChain, type Loopback } from './servers.js';

/**
 * A real forward proxy speaking HTTP CONNECT (node:http's 'connect' event), on 127.0.0.1 port 0.
 * It resolves target names itself, from `hosts` only: it can reach loopback and nothing else.
 */

export type ProxyMode = 'allow' | 'deny' | 'auth';

export interface ProxyOptions {
  readonly mode: ProxyMode;
  /** For `auth`: the credentials Proxy-Authorization must carry (Basic). */
  readonly user?: string;
  readonly password?: string;
  /** The proxy's own "DNS": target name → loopback address. Loopback IP literals always pass. */
  readonly hosts?: Readonly<Record<string, string>>;
  /** Serve the proxy itself over TLS (an `https://` proxy URL) with this certificate. */
  readonly tls?: KeyAndChain;
  /** Where the proxy listens; default 127.0.0.1. */
  readonly listenOn?: Loopback;
}

export interface SeenConnect {
  /** The CONNECT request target, exactly as sent (`host:port`). */
  readonly target: string;
  readonly proxyAuthorization: string | undefined;
  /** What the proxy answered. */
  readonly status: number;
}

export interface TestProxy {
  readonly port: number;
  /** `http://127.0.0.1:port` (`https://` for a TLS proxy; add credentials with `urlWith`). */
  readonly url: string;
  urlWith(user: string, password: string): string;
  readonly seen: SeenConnect[];
  /** Just the CONNECT targets, in order. */
  targets(): string[];
  close(): Promise<void>;
}

const LOOPBACK_ADDRESSES = new Set(['127.0.0.1', '::1']);

export async function startConnectProxy(options: ProxyOptions): Promise<TestProxy> {
  const seen: SeenConnect[] = [];
  const sockets = new Set<Socket | Duplex>();
  const track = (socket: Socket | Duplex): void => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  };
  const refuse: RequestListener = (_req, res) => {
    // Plain (non-CONNECT) proxying is not what this proxy is for.
    res.writeHead(405, { connection: 'close' }).end();
  };
  const server = options.tls ? createHttpsServer({ key: options.tls.keyPem, cert: options.tls.chainPem }, refuse) : createServer(refuse);
  server.on('connection', track);
  server.on('tlsClientError', () => undefined);
  server.on('connect', (req: IncomingMessage, client: Duplex, head: Buffer) => {
    track(client);
    client.on('error', () => undefined);
    const target = req.url ?? '';
    const auth = req.headers['proxy-authorization'];
    const answer = (status: number, text: string, extra = ''): void => {
      seen.push({ target, proxyAuthorization: auth, status });
      client.end(`HTTP/1.1 ${status} ${text}\r\n${extra}content-length: 0\r\nconnection: close\r\n\r\n`);
    };
    if (options.mode === 'deny') return answer(403, 'Forbidden');
    if (options.mode === 'auth') {
      const expected = `Basic ${Buffer.from(`${options.user ?? ''}:${options.password ?? ''}`).toString('base64')}`;
      if (auth !== expected) return answer(407, 'Proxy Authentication Required', 'proxy-authenticate: Basic realm="test"\r\n');
    }
    const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(target);
    const host = match?.[1] ?? match?.[2];
    const address = host === undefined ? undefined : (options.hosts?.[host] ?? (isIP(host) ? host : undefined));
    if (!match || address === undefined || !LOOPBACK_ADDRESSES.has(address)) return answer(502, 'Bad Gateway');
    const upstream = connect({ host: address, port: Number(match[3]) });
    track(upstream);
    let established = false;
    upstream.once('error', () => {
      if (!established) answer(502, 'Bad Gateway');
      else client.destroy();
    });
    upstream.once('connect', () => {
      established = true;
      seen.push({ target, proxyAuthorization: auth, status: 200 });
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    client.once('close', () => upstream.destroy());
    upstream.once('close', () => {
      if (established) client.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, options.listenOn ?? LOOPBACK, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const scheme = options.tls ? 'https' : 'http';
  const authority = options.listenOn === '::1' ? `[::1]:${port}` : `${LOOPBACK}:${port}`;
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      const closed = once(server, 'close');
      server.close();
      const open = [...sockets];
      for (const socket of open) socket.destroy();
      await closed;
      await Promise.all(open.map((s) => (s.closed ? undefined : once(s, 'close').catch(() => undefined))));
    })();
    return closing;
  };
  onTestFinished(close);
  return {
    port,
    url: `${scheme}://${authority}`,
    urlWith: (user, password) => `${scheme}://${encodeURIComponent(user)}:${encodeURIComponent(password)}@${authority}`,
    seen,
    targets: () => seen.map((s) => s.target),
    close,
  };
}
