import { request as httpRequest } from 'node:http';
import { connect as netConnect, isIP, type Socket } from 'node:net';
import {
  checkServerIdentity,
  connect as tlsConnect,
  createSecureContext,
  rootCertificates,
  type DetailedPeerCertificate,
  type PeerCertificate,
  type SecureContext,
  type TLSSocket,
} from 'node:tls';
import { ProbeError, type FailureReason } from '../core/errors.js';
import type { Recorder } from '../core/run.js';
import { asProbeError, describeError, untilDeadline } from './abort.js';
import type { NetOptions, ProxySettings } from './options.js';
import { describeProxy, shouldProxy } from './proxy.js';
import { nameResolver } from './resolve/name-resolver.js';
import { describePeer, type TlsPeer } from './tls-peer.js';

export interface Endpoint {
  readonly host: string;
  readonly port: number;
  /** TLS on top of TCP, with these ALPN protocols (empty: no ALPN extension). */
  readonly tls?: { readonly alpn: readonly string[] };
}

export interface Connection {
  readonly socket: Socket | TLSSocket;
  /** The ALPN protocol the server chose; false when TLS had none, undefined without TLS. */
  readonly alpn: string | false | undefined;
  /** Addresses the exporter resolved for the host itself; empty when a proxy resolved it. */
  readonly resolvedAddresses: readonly string[];
  readonly viaProxy: boolean;
  /** Earliest notAfter (Unix seconds) in the presented chain. */
  readonly certExpiry: number | undefined;
  /**
   * The target's TLS peer: its leaf and whether its chain is from a public CA; undefined without
   * TLS. Through an https:// proxy this is the target's peer inside the tunnel, not the proxy's.
   */
  readonly tlsPeer: TlsPeer | undefined;
}

export interface ConnectContext {
  readonly net: NetOptions;
  readonly signal: AbortSignal;
  readonly record: Recorder;
}

/**
 * What openConnection fails with, besides `timeout`: the name (`dns`), the TCP connection
 * (`connect`), the proxy's TCP, TLS or CONNECT answer (`proxy`), the handshake or certificate
 * (`tls`). A probe declares these when it opens a connection (ProbeDefinition.reasons).
 */
export const CONNECT_REASONS = ['dns', 'connect', 'proxy', 'tls'] as const satisfies readonly FailureReason[];

/**
 * And this one too when the endpoint offers `h2`: a server that refuses every offered protocol
 * (TLS alert no_application_protocol) is the HTTP/2 verdict, not a TLS failure (startTls).
 */
export const ALPN_H2_REASONS = ['http2_not_negotiated'] as const satisfies readonly FailureReason[];

// The response to CONNECT is a few hundred bytes; anything larger is not a proxy we understand.
const MAX_PROXY_RESPONSE_HEADERS = 16 * 1024;

/**
 * Opens a connection the way a probe must: DNS, TCP, an optional HTTP CONNECT tunnel and TLS,
 * each a timed phase bounded by the run's signal, each failure classified by the phase it hit.
 */
export async function openConnection(endpoint: Endpoint, ctx: ConnectContext): Promise<Connection> {
  const proxy = shouldProxy(endpoint.host, endpoint.port, ctx.net.proxy) ? ctx.net.proxy : undefined;
  const hop = proxy ? proxyHop(proxy) : { host: endpoint.host, port: endpoint.port };
  const addresses = await ctx.record.phase('dns', () => resolveHost(hop.host, hop.port, ctx));
  let socket = await ctx.record.phase('connect', () => connectAny(addresses, hop.port, ctx));
  try {
    if (proxy) socket = await ctx.record.phase('proxy_connect', () => tunnel(socket, proxy, endpoint, ctx));
    if (!endpoint.tls) {
      return { socket, alpn: undefined, resolvedAddresses: proxy ? [] : addresses, viaProxy: !!proxy, certExpiry: undefined, tlsPeer: undefined };
    }
    const { tls, certificate } = await ctx.record.phase('tls', () => startTls(socket, endpoint.host, endpoint.tls!.alpn, ctx));
    // The chain Node built for its host-name check; asking again would build it a second time
    // (~0.4 ms of CPU per run). Node skips that check only when verification already failed
    // (insecure_skip_verify): then it is read here.
    const chain = certificate ?? tls.getPeerCertificate(true);
    return {
      socket: tls,
      alpn: tls.alpnProtocol ?? false,
      resolvedAddresses: proxy ? [] : addresses,
      viaProxy: !!proxy,
      certExpiry: earliestExpiry(chain),
      // Judged once per distinct chain (tls-peer.ts): a map look-up on most runs.
      tlsPeer: describePeer(chain),
    };
  } catch (err) {
    socket.destroy();
    throw err;
  }
}

function proxyHop(proxy: ProxySettings): { host: string; port: number } {
  const port = proxy.url.port ? Number(proxy.url.port) : proxy.url.protocol === 'https:' ? 443 : 80;
  return { host: proxy.url.hostname.replace(/^\[|\]$/g, ''), port };
}

async function resolveHost(host: string, port: number, ctx: ConnectContext): Promise<string[]> {
  const bare = host.replace(/^\[|\]$/g, '');
  const pinned = ctx.net.resolve.get(`${host}:${port}`) ?? ctx.net.resolve.get(`${bare}:${port}`);
  if (pinned) return [pinned];
  // /etc/hosts, then DNS through c-ares (cancelled at the deadline), then a bounded getaddrinfo:
  // never dns.lookup directly, whose calls cannot be cancelled and hold libuv's pool
  // (resolve/name-resolver.ts).
  const found = await nameResolver().resolve(bare, ctx.signal);
  if (found.length === 0) throw new ProbeError('dns', `${bare} has no addresses`);
  return found;
}

/**
 * Tries the addresses in resolver order until one accepts, as Ruby's TCPSocket (GitLab's own
 * host probe) and Go's dialer do: a host with an AAAA record on a node without IPv6 must not fail
 * while the A record works. The deadline bounds the whole sequence.
 */
async function connectAny(addresses: readonly string[], port: number, ctx: ConnectContext): Promise<Socket> {
  const failures: ProbeError[] = [];
  for (const address of addresses) {
    try {
      return await connectTcp(address, port, ctx);
    } catch (err) {
      const failure = asProbeError(err, 'connect', `connecting to ${address}`);
      if (failure.reason === 'timeout') throw failure;
      failures.push(failure);
    }
  }
  if (failures.length === 1) throw failures[0]!;
  throw new ProbeError('connect', `no address accepted the connection: ${failures.map((f) => f.message.replace(/^connecting to /, '')).join('; ')}`, { cause: failures.at(-1) });
}

function connectTcp(address: string, port: number, ctx: ConnectContext): Promise<Socket> {
  const socket = netConnect({ host: address, port });
  const connected = new Promise<Socket>((resolve, reject) => {
    socket.once('connect', () => resolve(socket));
    socket.once('error', reject);
  });
  const where = isIP(address) === 6 ? `[${address}]:${port}` : `${address}:${port}`;
  return untilDeadline(connected, ctx.signal, `connecting to ${where}`, () => socket.destroy()).catch((err: unknown) => {
    socket.destroy();
    throw asProbeError(err, 'connect', `connecting to ${where}`);
  });
}

async function tunnel(socket: Socket, proxy: ProxySettings, endpoint: Endpoint, ctx: ConnectContext): Promise<Socket> {
  const carrier = proxy.url.protocol === 'https:' ? (await startTls(socket, proxy.url.hostname, [], ctx).catch((err: unknown) => {
    // startTls already made it a `tls` ProbeError; failing to reach the proxy is a proxy problem.
    if (err instanceof ProbeError && err.reason === 'timeout') throw err;
    throw new ProbeError('proxy', `TLS to proxy ${describeProxy(proxy)}: ${describeError(err)}`, { cause: err });
  })).tls : socket;
  const authority = `${isIP(endpoint.host) === 6 ? `[${endpoint.host}]` : endpoint.host}:${endpoint.port}`;
  const headers: Record<string, string> = { host: authority };
  if (proxy.url.username) {
    const user = decodeURIComponent(proxy.url.username);
    const pass = decodeURIComponent(proxy.url.password);
    headers['proxy-authorization'] = `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
  }
  const req = httpRequest({
    method: 'CONNECT',
    path: authority,
    headers,
    createConnection: () => carrier,
    maxHeaderSize: MAX_PROXY_RESPONSE_HEADERS,
  });
  const established = new Promise<Socket>((resolve, reject) => {
    req.once('connect', (res, tunnelSocket, head) => {
      if (res.statusCode !== 200) {
        tunnelSocket.destroy();
        reject(new ProbeError('proxy', `proxy ${describeProxy(proxy)} answered ${res.statusCode} ${res.statusMessage ?? ''} to CONNECT ${authority}`.trim()));
        return;
      }
      // Bytes after the proxy's reply belong to the tunnelled stream; put them back.
      if (head.length > 0) tunnelSocket.unshift(head);
      resolve(tunnelSocket);
    });
    req.once('response', (res) => {
      res.destroy();
      reject(new ProbeError('proxy', `proxy ${describeProxy(proxy)} answered ${res.statusCode} without a tunnel`));
    });
    req.once('error', (err) => reject(asProbeError(err, 'proxy', `CONNECT ${authority} via ${describeProxy(proxy)}`)));
  });
  req.end();
  return untilDeadline(established, ctx.signal, `opening a tunnel through ${describeProxy(proxy)}`, () => req.destroy());
}

interface Secured {
  readonly tls: TLSSocket;
  /** The peer's chain as Node built it for the host-name check; undefined if it made none. */
  readonly certificate: DetailedPeerCertificate | undefined;
}

function startTls(socket: Socket, peer: string, alpn: readonly string[], ctx: ConnectContext): Promise<Secured> {
  // URL.hostname keeps IPv6 literals in brackets; the certificate check needs the bare address.
  const servername = peer.replace(/^\[|\]$/g, '');
  let certificate: DetailedPeerCertificate | undefined;
  const tls = tlsConnect({
    socket,
    // The certificate is checked against `host` (Node falls back to "localhost" without it, so an
    // IP-literal endpoint could never verify). SNI must be a name; an IP literal there is a
    // protocol error, so it is left out for addresses.
    host: servername,
    servername: isIP(servername) ? undefined : servername,
    ALPNProtocols: alpn.length > 0 ? [...alpn] : undefined,
    secureContext: secureContextFor(ctx.net.ca),
    rejectUnauthorized: !ctx.net.insecureSkipVerify,
    // Node's own check, unchanged; the chain it is given (getPeerCertificate(true), built once
    // per handshake) is kept for the certificate facts (expiry, peer, public CA).
    checkServerIdentity: (host, cert) => {
      certificate = cert as DetailedPeerCertificate;
      return checkServerIdentity(host, cert);
    },
  });
  const secured = new Promise<Secured>((resolve, reject) => {
    // Node sends the client's Finished only when control returns to the event loop. Resolving at
    // once lets the caller's next steps (the certificate chain, the HTTP client) run first and
    // hold it back, so the server would see a longer handshake than the tls phase says and the
    // request would leave late; one turn of the loop sends it first (docs/performance.md).
    let secure = false;
    tls.once('secureConnect', () =>
      setImmediate(() => {
        secure = true;
        resolve({ tls, certificate });
      }),
    );
    tls.once('error', reject);
    // Every run's socket closes in the end: the error is made only when it means something.
    tls.once('close', () => {
      if (!secure) reject(new ProbeError('tls', `connection to ${servername} closed during the TLS handshake`));
    });
  });
  return untilDeadline(secured, ctx.signal, `in the TLS handshake with ${servername}`, () => tls.destroy()).catch((err: unknown) => {
    tls.destroy();
    // A server that speaks none of the offered protocols may refuse the handshake outright
    // (RFC 7301 alert 120, what Node and many proxies do) instead of choosing no ALPN: when h2
    // was offered that is the HTTP/2 verdict, not a certificate or TLS problem.
    if (alpn.includes('h2') && (err as NodeJS.ErrnoException | undefined)?.code === NO_APPLICATION_PROTOCOL) {
      throw new ProbeError('http2_not_negotiated', `${servername} refused ALPN ${alpn.join(', ')} (TLS alert no_application_protocol): it does not speak HTTP/2 here`, { cause: err });
    }
    throw asProbeError(err, 'tls', `TLS handshake with ${servername}`);
  });
}

const NO_APPLICATION_PROTOCOL = 'ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL';

// A `ca` option makes tls.connect build a new context from Node's ~140 bundled roots plus ours on
// every connection: ~25 ms of CPU per run, counted in the tls phase (docs/performance.md). The
// context depends only on the CA list, so one is built per distinct list and shared. Sharing it
// does not resume sessions: Node's client contexts keep no session cache of their own.
const MAX_CONTEXTS = 32;
const secureContexts = new Map<string, SecureContext>();

function secureContextFor(ca: readonly string[]): SecureContext | undefined {
  if (ca.length === 0) return undefined;
  const key = ca.join('\n');
  let context = secureContexts.get(key);
  if (!context) {
    // CA lists change only with a config reload; the bound keeps repeated reloads from piling up.
    if (secureContexts.size >= MAX_CONTEXTS) secureContexts.clear();
    context = createSecureContext({ ca: [...rootCertificates, ...ca] });
    secureContexts.set(key, context);
  }
  return context;
}

/** The earliest notAfter in the chain, walking issuers until the self-signed root. */
export function earliestExpiry(cert: PeerCertificate & { issuerCertificate?: PeerCertificate }): number | undefined {
  let earliest: number | undefined;
  const seen = new Set<string>();
  let current: (PeerCertificate & { issuerCertificate?: PeerCertificate }) | undefined = cert;
  while (current && current.valid_to && !seen.has(current.fingerprint256)) {
    seen.add(current.fingerprint256);
    const notAfter = Date.parse(current.valid_to) / 1000;
    if (Number.isFinite(notAfter) && (earliest === undefined || notAfter < earliest)) earliest = notAfter;
    current = current.issuerCertificate;
  }
  return earliest;
}

export { describeError };
