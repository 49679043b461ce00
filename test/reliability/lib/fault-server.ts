import type { IncomingMessage } from 'node:http';
import { constants as h2, createSecureServer, type Http2ServerRequest, type Http2ServerResponse } from 'node:http2';
import { createServer as createNetServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { WebSocketServer, type WebSocket } from 'ws';
import { seededRandom } from '../../../reliability/lib/prng.js';
import { closeOnTestEnd, LOOPBACK, type KeyAndChain } from '../../helpers/servers.js';
import { FaultChat } from './fault-chat.js';
import { shapeKeyFor, type Shapes } from './shapes.js';

/**
 * A hostile peer for every probe kind on ONE TLS port (ALPN h2 with HTTP/1.1 fallback, as GitLab's
 * NGINX does): HEAD for the host probes, the AI gateway's health paths, gRPC Health/Check over
 * h2, the REST and GraphQL API, and the ActionCable upgrade. The fault applies where it makes
 * sense for a request; everything else gets a healthy answer (the simulator's real shapes), so a
 * fault row also proves the other probes stay green, i.e. that the exporter stays truthful.
 */

export const APP_FAULTS = [
  'healthy',
  /** Answers trickle one byte every 100 ms (HTTP/2 without a body to trickle: PINGs only). */
  'slowloris',
  /** Half an answer, then a TCP reset (HTTP/1.1) or RST_STREAM INTERNAL_ERROR (HTTP/2). */
  'reset',
  /** A body of 8 MiB, far past every cap (64 KiB health/gRPC/WebSocket, 1 MiB API). */
  'huge_body',
  /** 200 with a JSON body cut in the middle. */
  'malformed_json',
  /** GraphQL `{"errors": [...], "data": null}`. */
  'graphql_errors',
  /** 429 Too Many Requests with Retry-After: 120 for every request. */
  'rate_limited',
  /** 500/502/503/504 in turn, for every request. */
  'server_error',
  /** The WebSocket upgrade succeeds; ActionCable's welcome never comes. */
  'no_welcome',
  /** The gRPC request is accepted and never answered. */
  'grpc_silent',
] as const;
export type AppFault = (typeof APP_FAULTS)[number];

type Kind = 'host' | 'aigw' | 'grpc' | 'rest' | 'graphql' | 'other';

export const RETRY_AFTER_SECONDS = 120;
const HUGE_BYTES = 8 * 1024 * 1024;
const TRICKLE_MS = 100;
const STORM = [500, 502, 503, 504];

export interface FaultServer {
  readonly port: number;
  /** Requests and upgrades seen, by kind. */
  readonly seen: Record<Kind | 'cable', number>;
  close(): Promise<void>;
}

type Req = IncomingMessage | Http2ServerRequest;
type Res = Http2ServerResponse;

function kindOf(method: string, path: string): Kind {
  if (method === 'HEAD') return 'host';
  if (path.startsWith('/monitoring/')) return 'aigw';
  if (path === '/grpc.health.v1.Health/Check' || path === '/DuoWorkflow/ListTools') return 'grpc';
  if (path.startsWith('/api/graphql')) return 'graphql';
  if (path.startsWith('/api/v4/')) return 'rest';
  return 'other';
}

export async function startFaultServer(options: { cert: KeyAndChain; fault: AppFault; shapes: Shapes }): Promise<FaultServer> {
  const { fault, shapes } = options;
  const timers = new Set<NodeJS.Timeout>();
  const sockets = new Set<Duplex>();
  const seen: FaultServer['seen'] = { host: 0, aigw: 0, grpc: 0, rest: 0, graphql: 0, other: 0, cable: 0 };
  let stormIndex = 0;
  const chat = new FaultChat();

  const every = (ms: number, tick: () => boolean, until: Duplex | Res): void => {
    const timer = setInterval(() => {
      if (!tick()) stop();
    }, ms);
    const stop = (): void => {
      clearInterval(timer);
      timers.delete(timer);
    };
    timers.add(timer);
    until.once('close', stop);
  };

  /** Writes `text` to a raw HTTP/1.1 socket one byte at a time; the answer never completes in time. */
  const trickle = (socket: Duplex, text: string): void => {
    let i = 0;
    every(
      TRICKLE_MS,
      () => {
        if (socket.destroyed || i >= text.length) return false;
        socket.write(text[i++]!);
        return true;
      },
      socket,
    );
  };

  const handle = (req: Req, res: Res, body: string): void => {
    const path = req.url ?? '/';
    const method = req.method ?? 'GET';
    const kind = kindOf(method, path);
    seen[kind]++;
    const http2 = req.httpVersion === '2.0';
    const raw = http2 ? undefined : (req as IncomingMessage).socket;
    const status = fault === 'server_error' ? STORM[stormIndex++ % STORM.length]! : 429;
    switch (fault) {
      case 'slowloris':
        if (raw) return trickle(raw, 'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{"version":"18.9.0"}');
        if (kind === 'host') return pingForever(req as Http2ServerRequest, res, every);
        res.writeHead(200, { 'content-type': kind === 'grpc' ? 'application/grpc' : 'application/json', 'content-length': '100000' });
        return every(
          TRICKLE_MS,
          () => {
            if (res.writableEnded || res.destroyed) return false;
            res.write('x');
            return true;
          },
          res,
        );
      case 'reset':
        if (raw) {
          raw.write('HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{"versi');
          return void setImmediate(() => tcpReset(raw));
        }
        if (kind !== 'host') {
          res.writeHead(200, { 'content-type': kind === 'grpc' ? 'application/grpc' : 'application/json', 'content-length': '1000' });
          res.write(kind === 'grpc' ? Buffer.from([0, 0, 0, 0, 9, 8]) : '{"versi');
        }
        return void setImmediate(() => (req as Http2ServerRequest).stream.close(h2.NGHTTP2_INTERNAL_ERROR));
      case 'huge_body':
        if (kind === 'host') return void res.writeHead(200, { 'content-length': String(HUGE_BYTES) }).end();
        if (kind === 'other') break;
        res.writeHead(200, { 'content-type': kind === 'grpc' ? 'application/grpc' : 'application/json' });
        return pump(res, kind === 'grpc' ? grpcFrameHeader(HUGE_BYTES) : Buffer.from('{"data":"'), HUGE_BYTES);
      case 'malformed_json':
        if (kind !== 'rest' && kind !== 'graphql') break;
        return void res.writeHead(200, { 'content-type': 'application/json' }).end('{"data": {"currentLicense": {"type": "online_cl');
      case 'graphql_errors':
        if (kind !== 'graphql') break;
        return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ errors: [{ message: 'Internal server error', locations: [{ line: 1, column: 1 }] }], data: null }));
      case 'rate_limited':
      case 'server_error': {
        if (kind === 'other') break;
        const headers = { 'content-type': 'application/json', 'retry-after': String(RETRY_AFTER_SECONDS) };
        res.writeHead(status, headers);
        return void (kind === 'host' ? res.end() : res.end(JSON.stringify({ message: `${status} refused` })));
      }
      case 'grpc_silent':
        if (kind === 'grpc') return;
        break;
      case 'healthy':
      case 'no_welcome':
        break;
    }
    const chatAnswer = kind === 'graphql' ? chat.answer(body) : undefined;
    if (chatAnswer !== undefined) return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(chatAnswer));
    healthy(kind, method, path, body, res, shapes, req.headers.host ?? req.headers[':authority']);
  };

  const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024, handleProtocols: (protocols) => (protocols.has('actioncable-v1-json') ? 'actioncable-v1-json' : false) });
  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    seen.cable++;
    socket.on('error', () => undefined);
    const status = fault === 'server_error' ? STORM[stormIndex++ % STORM.length]! : 429;
    switch (fault) {
      case 'slowloris':
        return trickle(socket, 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
      case 'reset':
        socket.write('HTTP/1.1 101 Switching Pro');
        return void setImmediate(() => tcpReset(socket));
      case 'rate_limited':
      case 'server_error':
        return void socket.end(`HTTP/1.1 ${status} Refused\r\nretry-after: ${RETRY_AFTER_SECONDS}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n`);
      default:
        break;
    }
    wss.handleUpgrade(req, socket, head, (ws: WebSocket) => {
      ws.on('error', () => undefined);
      if (fault === 'no_welcome') return;
      if (fault === 'huge_body') return ws.send('a'.repeat(1024 * 1024));
      ws.on('message', (data) => chat.onCommand(ws, data.toString()));
      ws.send(JSON.stringify({ type: 'welcome' }));
    });
  };

  const server = createSecureServer({ key: options.cert.keyPem, cert: options.cert.chainPem, allowHTTP1: true }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => handle(req, res, Buffer.concat(chunks).toString('utf8')));
    req.on('error', () => undefined);
    res.on('error', () => undefined);
  });
  server.on('upgrade', onUpgrade);
  server.on('secureConnection', (socket: TLSSocket) => track(socket, sockets));
  server.on('tlsClientError', () => undefined);
  server.on('sessionError', () => undefined);
  server.on('connection', (socket: Socket) => socket.on('error', () => undefined));
  const port = await listenLoopback(server);
  const close = closeOnTestEnd(server, sockets, () => {
    for (const timer of timers) clearInterval(timer);
    timers.clear();
    wss.close();
  });
  return { port, seen, close };
}

function healthy(kind: Kind, method: string, path: string, body: string, res: Res, shapes: Shapes, authority: string | string[] | undefined): void {
  if (kind === 'host') return void res.writeHead(200).end();
  if (kind === 'aigw') return void res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
  if (kind === 'grpc') {
    res.writeHead(200, { 'content-type': 'application/grpc' });
    res.addTrailers({ 'grpc-status': '0' });
    // HealthCheckResponse { status: SERVING (1) }: field 1, varint 1.
    return void res.end(Buffer.concat([grpcFrameHeader(2), Buffer.from([0x08, 0x01])]));
  }
  if (method === 'POST' && path === DIRECT_ACCESS) return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(directAccess(String(authority))));
  const key = shapeKeyFor(method, path, body);
  if (!key) return void res.writeHead(404, { 'content-type': 'application/json' }).end('{"message":"404 Not Found"}');
  res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(key === TOKEN_SELF ? withApiScope(shapes[key]) : shapes[key]));
}

const DIRECT_ACCESS = '/api/v4/ai/duo_workflows/direct_access';
const TOKEN_SELF = 'GET /api/v4/personal_access_tokens/self';

/**
 * One token's details answer every token here (the server does not tell them apart); with `api`
 * added it satisfies each token's needs, the Agent Platform token's included.
 */
function withApiScope(self: unknown): unknown {
  const details = self as { scopes?: string[] };
  return { ...details, scopes: [...new Set([...(details.scopes ?? []), 'api'])] };
}

/**
 * GitLab's Agent Platform credentials, pointing at this server's own `dws.` name (every host of
 * the fault instance is this one port): the simulator's answer would send the probe elsewhere.
 */
function directAccess(gitlabAuthority: string): unknown {
  return {
    gitlab_rails: { base_url: `https://${gitlabAuthority}`, token: 'fault-rails-oauth' },
    duo_workflow_service: { base_url: gitlabAuthority.replace(/^gitlab\./, 'dws.'), token: 'fault-dws-token', headers: { 'x-gitlab-realm': 'self-managed' }, secure: true },
  };
}

/** gRPC's length prefix: not compressed, `length` bytes follow. */
function grpcFrameHeader(length: number): Buffer {
  const header = Buffer.alloc(5);
  header.writeUInt32BE(length, 1);
  return header;
}

/** Streams `prefix` then filler up to `total` bytes, with back-pressure, until the peer goes. */
function pump(res: Res, prefix: Buffer, total: number): void {
  const chunk = Buffer.alloc(64 * 1024, 'a');
  let sent = 0;
  let gone = false;
  res.once('close', () => (gone = true));
  const go = (): void => {
    if (sent === 0) {
      res.write(prefix);
      sent = prefix.length;
    }
    while (!gone && sent < total) {
      sent += chunk.length;
      if (!res.write(chunk)) return void res.once('drain', go);
    }
    if (!gone) res.end();
  };
  go();
}

/** HTTP/2 HEAD has no body to trickle: keep the connection busy with PINGs and never answer. */
function pingForever(req: Http2ServerRequest, res: Res, every: (ms: number, tick: () => boolean, until: Res) => void): void {
  every(
    TRICKLE_MS,
    () => {
      const session = req.stream.session;
      if (!session || session.destroyed || session.closed) return false;
      session.ping(() => undefined);
      return true;
    },
    res,
  );
}

/**
 * A real TCP RST rather than a FIN. A server-side TLS socket wraps the accepted net.Socket
 * (`_parent`, a Node internal); resetAndDestroy on the TLS wrapper itself is refused. Falls back
 * to an ordinary close when the internal is not there.
 */
export function tcpReset(socket: Duplex): void {
  const parent = (socket as Duplex & { _parent?: Socket | null })._parent;
  if (parent && typeof parent.resetAndDestroy === 'function') parent.resetAndDestroy();
  else if (typeof (socket as Socket).resetAndDestroy === 'function' && !('encrypted' in socket)) (socket as Socket).resetAndDestroy();
  else socket.destroy();
}

/** Speaks bytes that are not TLS (seeded noise) to whoever connects, then keeps reading. */
export async function startGarbageServer(seed = 6): Promise<{ port: number; accepted: () => number; close(): Promise<void> }> {
  const rng = seededRandom(seed);
  const sockets = new Set<Duplex>();
  let accepted = 0;
  const server = createNetServer((socket) => {
    accepted++;
    track(socket, sockets);
    socket.on('error', () => undefined);
    socket.resume();
    // 0x15 0x03 0x03 would be a TLS alert; start with bytes no TLS record begins with.
    socket.write(Buffer.from(Array.from({ length: 2048 }, (_v, i) => (i === 0 ? 0x47 : rng.int(256)))));
  });
  const port = await listenLoopback(server);
  return { port, accepted: () => accepted, close: closeOnTestEnd(server, sockets) };
}

function track(socket: Duplex, sockets: Set<Duplex>): void {
  sockets.add(socket);
  socket.once('close', () => sockets.delete(socket));
}

async function listenLoopback(server: Server): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, LOOPBACK, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return (server.address() as AddressInfo).port;
}

