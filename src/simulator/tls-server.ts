import type { IncomingMessage } from 'node:http';
import { createSecureServer } from 'node:http2';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Server, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import type { RequestHandler } from './http-util.js';
import type { Pki } from './pki.js';

export type UpgradeHandler = (req: IncomingMessage, socket: Duplex, head: Buffer) => void;

export interface Backend {
  readonly port: number;
  close(): Promise<void>;
}

export interface BackendOptions {
  readonly pki: Pki;
  /** `h2`: HTTP/2 with HTTP/1.1 fallback (ALPN h2, http/1.1); `http/1.1`: ALPN offers only http/1.1. */
  readonly alpn: 'h2' | 'http/1.1';
  readonly onRequest: RequestHandler;
  readonly onUpgrade?: UpgradeHandler;
}

/**
 * A TLS HTTP server on a loopback port chosen by the OS; fronts (front.ts) route to it. It keeps
 * every TLS socket it accepted so that close() ends keep-alive and HTTP/2 sessions at once.
 */
export async function startBackend(options: BackendOptions): Promise<Backend> {
  const tlsOptions = { key: options.pki.keyPem, cert: options.pki.certPem };
  const server: Server =
    options.alpn === 'h2'
      ? createSecureServer({ ...tlsOptions, allowHTTP1: true }, options.onRequest)
      : createHttpsServer({ ...tlsOptions, ALPNProtocols: ['http/1.1'] }, options.onRequest);
  const sockets = new Set<TLSSocket | Socket>();
  server.on('secureConnection', (socket: TLSSocket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  // Handshake failures (a client that wants only h2 here, a probe that hangs up) are the clients'
  // business, not the simulator's.
  server.on('tlsClientError', () => undefined);
  if (options.onUpgrade) server.on('upgrade', options.onUpgrade);
  await listen(server);
  return {
    port: (server.address() as AddressInfo).port,
    close: () => closeServer(server, sockets),
  };
}

export async function listen(server: Server, port = 0, host = '127.0.0.1'): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

export function closeServer(server: Server, sockets: Iterable<Duplex>): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  for (const socket of sockets) socket.destroy();
  return closed;
}
