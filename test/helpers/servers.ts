import { once } from 'node:events';
import { createSecureServer, type Http2ServerRequest, type Http2ServerResponse } from 'node:http2';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { createServer as createTlsServer } from 'node:tls';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { onTestFinished } from 'vitest';

/**
 * Real servers on 127.0.0.1, port 0 unless a test needs a fixed one. Each registers its own
 * close with the running test the moment it is listening, so a failing assertion leaks nothing.
 */

export const LOOPBACK = '127.0.0.1';
/** The only addresses a test may listen on or connect to. */
export type Loopback = '127.0.0.1' | '::1';

export interface KeyAndChain {
  readonly keyPem: string;
  /** What the server presents: the leaf, optionally followed by its issuer. */
  readonly chainPem: string;
}

export interface SeenRequest {
  readonly method: string;
  readonly path: string;
  readonly httpVersion: string;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
}

export interface Reply {
  readonly status: number;
  readonly headers?: Record<string, string>;
  readonly body?: string;
}

export interface RunningServer {
  readonly port: number;
  close(): Promise<void>;
}

export interface HttpsTestServer extends RunningServer {
  readonly requests: SeenRequest[];
}

export interface HttpsServerOptions {
  readonly cert: KeyAndChain;
  /** `h2`: HTTP/2 with HTTP/1.1 fallback (ALPN h2, http/1.1); `http/1.1`: ALPN http/1.1 only. */
  readonly alpn?: 'h2' | 'http/1.1';
  /** A status or an answer for every request, or an answer per request; default 200. */
  readonly reply?: number | Reply | ((request: SeenRequest) => Reply | number);
  /** Listen on this port instead of an ephemeral one (the Cloudflare test needs 443). */
  readonly port?: number;
  /** Default 127.0.0.1. */
  readonly host?: Loopback;
}

/** Registers `close` with the running test and tracks every accepted socket so close is total. */
function manage(server: NetServer, extraClose?: () => void): { close: () => Promise<void> } {
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  return { close: closeOnTestEnd(server, sockets, extraClose) };
}

/**
 * Closes `server` once, destroying every socket in `sockets`, and registers that close with the
 * running test. Resolves when the destroyed sockets have closed, so leak checks see settled counts.
 */
export function closeOnTestEnd(server: NetServer, sockets: ReadonlySet<Duplex>, extraClose?: () => void): () => Promise<void> {
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      extraClose?.();
      const closed = server.listening ? once(server, 'close') : Promise.resolve([]);
      server.close();
      const open = [...sockets];
      for (const socket of open) socket.destroy();
      await closed;
      await Promise.all(open.map((s) => (s.closed ? undefined : once(s, 'close').catch(() => undefined))));
    })();
    return closing;
  };
  onTestFinished(close);
  return close;
}

async function listenOnce(server: NetServer, port: number, host: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/**
 * Listens on 127.0.0.1. A fixed port (443 for GitLab's default endpoints) may be held for a
 * moment by another test file running in parallel: wait for it rather than fail at once.
 */
async function listen(server: NetServer, port = 0, host: Loopback = LOOPBACK): Promise<number> {
  const giveUpAt = Date.now() + 10_000;
  for (;;) {
    try {
      await listenOnce(server, port, host);
      return (server.address() as AddressInfo).port;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (port !== 0 && code === 'EACCES') {
        throw new Error(`cannot listen on ${host} port ${port} (EACCES): this test needs root or net.ipv4.ip_unprivileged_port_start <= ${port}`);
      }
      if (port === 0 || code !== 'EADDRINUSE' || Date.now() > giveUpAt) throw err;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

type Handler = (req: IncomingMessage | Http2ServerRequest, res: ServerResponse | Http2ServerResponse) => void;

function replying(options: Pick<HttpsServerOptions, 'reply'>, requests: SeenRequest[]): Handler {
  return (req, res) => {
    const seen: SeenRequest = { method: req.method ?? '', path: req.url ?? '', httpVersion: req.httpVersion, headers: { ...req.headers } };
    requests.push(seen);
    const raw = typeof options.reply === 'function' ? options.reply(seen) : (options.reply ?? 200);
    const reply: Reply = typeof raw === 'number' ? { status: raw } : raw;
    const body = reply.body ?? '';
    const headers: Record<string, string> = { 'content-type': 'text/plain', 'content-length': String(Buffer.byteLength(body)), ...reply.headers };
    if (reply.status >= 300 && reply.status < 400 && !headers.location) headers.location = '/elsewhere';
    (res as ServerResponse).writeHead(reply.status, headers);
    (res as ServerResponse).end(req.method === 'HEAD' ? undefined : body);
  };
}

/** An HTTPS server answering every request with a chosen status (HEAD gets no body). */
export async function startHttpsServer(options: HttpsServerOptions): Promise<HttpsTestServer> {
  const requests: SeenRequest[] = [];
  const handler = replying(options, requests);
  const tlsOptions = { key: options.cert.keyPem, cert: options.cert.chainPem };
  const server =
    options.alpn === 'h2'
      ? createSecureServer({ ...tlsOptions, allowHTTP1: true }, handler)
      : createHttpsServer({ ...tlsOptions, ALPNProtocols: ['http/1.1'] }, handler);
  // A client that gives up mid-handshake (a timeout case) is not a server error.
  server.on('tlsClientError', () => undefined);
  const port = await listen(server, options.port, options.host);
  const { close } = manage(server);
  return { port, requests, close };
}

/** A plain-HTTP server (a self-hosted AI gateway often is one), same answers as above. */
export async function startHttpServer(options: Pick<HttpsServerOptions, 'reply'> = {}): Promise<HttpsTestServer> {
  const requests: SeenRequest[] = [];
  const server = createHttpServer(replying(options, requests));
  const port = await listen(server);
  const { close } = manage(server);
  return { port, requests, close };
}

export interface TlsServerOptions {
  readonly cert: KeyAndChain;
  /** ALPN protocols to accept; none: the server sends no ALPN extension at all. */
  readonly alpn?: string[];
}

/** Completes TLS handshakes, then never says a word (a stuck backend behind a TLS terminator). */
export async function startMuteTlsServer(options: TlsServerOptions): Promise<RunningServer & { handshakes: () => number }> {
  let handshakes = 0;
  const server = createTlsServer({ key: options.cert.keyPem, cert: options.cert.chainPem, ALPNProtocols: options.alpn }, (socket) => {
    handshakes++;
    // Read and drop, so the client's close is seen and this side closes too.
    socket.resume();
    socket.on('error', () => undefined);
  });
  server.on('tlsClientError', () => undefined);
  const port = await listen(server);
  const { close } = manage(server);
  return { port, close, handshakes: () => handshakes };
}

/** Accepts TCP connections and never sends a byte: every client waits until its deadline. */
export async function startSilentServer(): Promise<RunningServer & { accepted: () => number }> {
  let accepted = 0;
  const server = createNetServer((socket) => {
    accepted++;
    // Read (and drop) whatever comes, so a client's FIN is seen and the socket closes with it.
    socket.resume();
    socket.on('error', () => undefined);
  });
  const port = await listen(server);
  const { close } = manage(server);
  return { port, close, accepted: () => accepted };
}

/** A loopback port nobody listens on: bound, then closed, so the kernel answers RST. */
export async function closedPort(): Promise<number> {
  const server = createNetServer();
  const port = await listen(server);
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A free loopback port for a child process to listen on. */
export const freePort = closedPort;

// ---------------------------------------------------------------------------------------------
// gRPC

export const HEALTH_PROTO_PATH = fileURLToPath(new URL('../../proto/health.proto', import.meta.url));

export type GrpcHealthMode = 'SERVING' | 'NOT_SERVING' | 'UNIMPLEMENTED';

export interface GrpcTestServer extends RunningServer {
  /** Health/Check requests received, by service name asked for. */
  readonly checks: string[];
}

interface HealthPackage {
  grpc: { health: { v1: { Health: grpc.ServiceClientConstructor } } };
}

let healthDefinition: grpc.ServiceDefinition | undefined;

function healthService(): grpc.ServiceDefinition {
  if (!healthDefinition) {
    const packageDefinition = protoLoader.loadSync(HEALTH_PROTO_PATH, { keepCase: true, enums: String, defaults: true });
    const loaded = grpc.loadPackageDefinition(packageDefinition) as unknown as HealthPackage;
    healthDefinition = loaded.grpc.health.v1.Health.service;
  }
  return healthDefinition;
}

/**
 * A grpc-js server over TLS (ALPN h2, as grpc-js does it) on 127.0.0.1. `UNIMPLEMENTED` registers
 * no health service at all, like a Duo Workflow Service build older than its health endpoint.
 */
export async function startGrpcServer(options: { cert: KeyAndChain; mode: GrpcHealthMode }): Promise<GrpcTestServer> {
  const server = new grpc.Server();
  const checks: string[] = [];
  if (options.mode !== 'UNIMPLEMENTED') {
    server.addService(healthService(), {
      Check: (call: grpc.ServerUnaryCall<{ service: string }, { status: string }>, callback: grpc.sendUnaryData<{ status: string }>) => {
        checks.push(call.request.service);
        callback(null, { status: options.mode });
      },
      Watch: (call: grpc.ServerWritableStream<{ service: string }, { status: string }>) => {
        call.write({ status: options.mode });
        call.end();
      },
    });
  }
  const credentials = grpc.ServerCredentials.createSsl(null, [{ private_key: Buffer.from(options.cert.keyPem), cert_chain: Buffer.from(options.cert.chainPem) }], false);
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${LOOPBACK}:0`, credentials, (err, bound) => (err ? reject(err) : resolve(bound)));
  });
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= new Promise<void>((resolve) => {
      server.forceShutdown();
      // forceShutdown destroys sessions synchronously; give their sockets a turn to close.
      setImmediate(resolve);
    });
    return closing;
  };
  onTestFinished(close);
  return { port, checks, close };
}

// ---------------------------------------------------------------------------------------------
// Leak checks

const SOCKET_RESOURCES = new Set(['TCPSocketWrap', 'TLSWrap', 'TCPWRAP', 'Http2Session']);

/** Open sockets of this process, as Node counts its active resources. */
export function openSocketCount(): number {
  return process.getActiveResourcesInfo().filter((kind) => SOCKET_RESOURCES.has(kind)).length;
}

/** Waits (a little) for sockets being torn down to go, then returns the count. */
export async function settledSocketCount(expected: number, waitMs = 2000): Promise<number> {
  const until = Date.now() + waitMs;
  let count = openSocketCount();
  while (count > expected && Date.now() < until) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    count = openSocketCount();
  }
  return count;
}

/** The socket count once sockets of earlier tests have finished closing: a baseline. */
export function baselineSocketCount(): Promise<number> {
  return settledSocketCount(0, 1000);
}
