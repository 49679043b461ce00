import { createHash } from 'node:crypto';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { connect, createServer as createNetServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import { createSecureContext, TLSSocket } from 'node:tls';
import type { TestCert } from '../../test/helpers/tls.js';

/**
 * Accuracy targets: loopback servers that inject a known delay into one phase and timestamp, on
 * their side of the wire, where every phase starts and ends. Those server-side timestamps are the
 * truth the probers' phase timings are compared with: on loopback a byte crosses in tens of
 * microseconds, so what the server sees is what happened on the wire, within ~0.1 ms.
 */

/** performance.now() (ms) at the moments one connection reached, on the server side. */
export interface ConnectionRecord {
  /** The ClientHello's first bytes arrived (the client's TLS phase began just before). */
  hello?: number;
  /** The server completed the handshake: the client's Finished arrived. */
  secure?: number;
  /** The request head was parsed. */
  request?: number;
  /** The response head (or the 101) was handed to the kernel: the client's first byte. */
  head?: number;
  /** The response was complete (a HEAD answer has no body: the same moment as `head`). */
  end?: number;
  /** The WebSocket welcome frame was handed to the kernel. */
  welcome?: number;
}

/** Delays the next connections get; the accuracy loop sets them before each run. */
export interface Delays {
  /** After the ClientHello arrives, before the server answers it (a slow TLS terminator, an HSM). */
  handshakeMs: number;
  /** After the request head arrives, before the response head (or 101) is written. */
  firstByteMs: number;
  /** After the 101, before ActionCable's welcome frame. */
  welcomeMs: number;
}

export interface InstrumentedServer {
  readonly port: number;
  readonly delays: Delays;
  /** One record per accepted connection, in accept order. */
  readonly records: ConnectionRecord[];
  close(): Promise<void>;
}

const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const CABLE_SUBPROTOCOL = 'actioncable-v1-json';
const WELCOME = Buffer.from(JSON.stringify({ type: 'welcome' }));
// One unmasked text frame, FIN set; the payload is under 126 bytes, so the length fits one byte.
const WELCOME_FRAME = Buffer.concat([Buffer.from([0x81, WELCOME.length]), WELCOME]);

/**
 * An HTTPS (HTTP/1.1, ALPN http/1.1) server that also answers WebSocket upgrades the way
 * ActionCable does (101 with the subprotocol, then `{"type":"welcome"}`, then it closes). TLS is
 * terminated by hand on a plain TCP server so the ClientHello's arrival can be timestamped and
 * the handshake held back by `delays.handshakeMs`.
 */
export async function startInstrumentedServer(cert: Pick<TestCert, 'keyPem' | 'chainPem'>): Promise<InstrumentedServer> {
  const delays: Delays = { handshakeMs: 0, firstByteMs: 0, welcomeMs: 0 };
  const records: ConnectionRecord[] = [];
  const recordOf = new WeakMap<Duplex, ConnectionRecord>();
  const secureContext = createSecureContext({ key: cert.keyPem, cert: cert.chainPem });
  const after = (delayMs: number, fn: () => void): void => void (delayMs > 0 ? setTimeout(fn, delayMs) : fn());

  const http = createHttpServer({ keepAliveTimeout: 5000 }, (req: IncomingMessage, res: ServerResponse) => {
    const record = recordOf.get(req.socket) ?? {};
    record.request = performance.now();
    after(delays.firstByteMs, () => {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '3' });
      res.flushHeaders();
      record.head = performance.now();
      res.end(req.method === 'HEAD' ? undefined : 'ok\n');
      record.end = performance.now();
    });
  });
  http.on('upgrade', (req: IncomingMessage, socket: Duplex) => {
    const record = recordOf.get(socket) ?? {};
    record.request = performance.now();
    socket.on('error', () => undefined);
    const key = String(req.headers['sec-websocket-key'] ?? '');
    const accept = createHash('sha1').update(`${key}${WS_GUID}`).digest('base64');
    const offered = String(req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim());
    after(delays.firstByteMs, () => {
      const protocol = offered.includes(CABLE_SUBPROTOCOL) ? `Sec-WebSocket-Protocol: ${CABLE_SUBPROTOCOL}\r\n` : '';
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n${protocol}\r\n`);
      record.head = performance.now();
      after(delays.welcomeMs, () => {
        socket.write(WELCOME_FRAME);
        record.welcome = performance.now();
        // Closing right after the welcome ends blackbox_exporter's body read at the same moment.
        socket.end();
      });
    });
  });

  const sockets = new Set<Socket>();
  const server = createNetServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    // Both probers disable Nagle or send whole flights; the server must not add delayed-ACK stalls.
    socket.setNoDelay(true);
    const record: ConnectionRecord = {};
    records.push(record);
    socket.once('data', (chunk: Buffer) => {
      record.hello = performance.now();
      socket.pause();
      socket.unshift(chunk);
      after(delays.handshakeMs, () => {
        const tls = new TLSSocket(socket, { isServer: true, secureContext, ALPNProtocols: ['http/1.1'] });
        recordOf.set(tls, record);
        tls.on('error', () => undefined);
        tls.once('secure', () => {
          record.secure = performance.now();
          http.emit('connection', tls);
        });
      });
    });
  });
  const port = await listen(server);
  return { port, delays, records, close: () => closeAll(server, sockets) };
}

/** When a relayed connection was accepted and when the client's first byte reached the relay. */
export interface RelayRecord {
  accepted: number;
  hello?: number;
}

export interface Relay {
  readonly port: number;
  /** How long the relay waits, after accepting, before it connects onwards. */
  delayMs: number;
  readonly records: RelayRecord[];
  close(): Promise<void>;
}

/**
 * A TCP relay that delays its onward connection. The kernel completes the client's TCP handshake
 * from the listen queue before any program sees the connection, so no userland relay can delay
 * the client's `connect` itself: the delay lands in the client's next phase (its ClientHello
 * waits in the relay), which is what this target checks, along with connect staying ~0.
 */
export async function startRelay(upstreamPort: number): Promise<Relay> {
  const records: RelayRecord[] = [];
  const sockets = new Set<Socket>();
  const settings = { delayMs: 0 };
  const server = createNetServer((client) => {
    const record: RelayRecord = { accepted: performance.now() };
    records.push(record);
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => undefined);
    client.setNoDelay(true);
    const early: Buffer[] = [];
    const hold = (chunk: Buffer): void => {
      record.hello ??= performance.now();
      early.push(chunk);
    };
    client.on('data', hold);
    setTimeout(() => {
      if (client.destroyed) return;
      const upstream = connect(upstreamPort, '127.0.0.1', () => {
        client.off('data', hold);
        for (const chunk of early) upstream.write(chunk);
        client.pipe(upstream);
        upstream.pipe(client);
      });
      sockets.add(upstream);
      upstream.setNoDelay(true);
      upstream.on('error', () => client.destroy());
      upstream.on('close', () => {
        sockets.delete(upstream);
        client.destroy();
      });
      client.on('close', () => upstream.destroy());
    }, settings.delayMs);
  });
  const port = await listen(server);
  return {
    port,
    get delayMs() {
      return settings.delayMs;
    },
    set delayMs(value: number) {
      settings.delayMs = value;
    },
    records,
    close: () => closeAll(server, sockets),
  };
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return (server.address() as AddressInfo).port;
}

function closeAll(server: Server, sockets: Set<Socket>): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  for (const socket of sockets) socket.destroy();
  return closed;
}
