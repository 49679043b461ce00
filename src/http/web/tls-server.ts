import type { RequestListener, ServerOptions as HttpServerOptions } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import type { ClientAuthType } from './schema.js';
import { normalizeSan, secureContextOptions, type TlsServerSettings } from './tls-settings.js';
import type { WebConfigWatcher } from './watcher.js';

/**
 * The TLS side of `--web.config.file`: the HTTPS server and its client-certificate checks
 * (tls-settings.ts validates, watcher.ts re-reads the file and certificates when they change).
 */

/**
 * Node asks for a client certificate (requestCert) and lets OpenSSL refuse the handshake only for
 * RequireAndVerifyClientCert; the other modes are finished in `clientCertificateProblem` once the
 * handshake is done.
 */
function clientAuthOptions(mode: ClientAuthType): { requestCert: boolean; rejectUnauthorized: boolean } {
  return { requestCert: mode !== 'NoClientCert', rejectUnauthorized: mode === 'RequireAndVerifyClientCert' };
}

/** Why a finished handshake must be dropped under `tls`, or undefined. */
export function clientCertificateProblem(socket: TLSSocket, tls: TlsServerSettings | undefined): string | undefined {
  if (!tls || tls.clientAuth === 'NoClientCert' || tls.clientAuth === 'RequestClientCert') return undefined;
  const peer = socket.getPeerCertificate();
  const presented = peer !== null && typeof peer === 'object' && Object.keys(peer).length > 0;
  if (!presented) return tls.clientAuth === 'VerifyClientCertIfGiven' ? undefined : 'no client certificate';
  if ((tls.clientAuth === 'VerifyClientCertIfGiven' || tls.clientAuth === 'RequireAndVerifyClientCert') && !socket.authorized) {
    return `client certificate not trusted: ${String(socket.authorizationError)}`;
  }
  if (tls.clientAllowedSans) {
    const sans = parseSubjectAltName(peer.subjectaltname ?? '');
    if (!sans.some((san) => tls.clientAllowedSans!.includes(san))) return 'client certificate carries none of client_allowed_sans';
  }
  return undefined;
}

/** Node's `subjectaltname` ("DNS:a, IP Address:::1, URI:\"x,y\"") → the values, IPs in Go's form. */
export function parseSubjectAltName(text: string): string[] {
  const out: string[] = [];
  for (const match of text.matchAll(/(?:^|, )([A-Za-z ]+):("(?:[^"\\]|\\.)*"|[^,]*)/g)) {
    const [, kind, value] = match as unknown as [string, string, string];
    const plain = value.startsWith('"') ? (JSON.parse(value) as string) : value;
    out.push(kind === 'IP Address' ? normalizeSan(plain) : plain);
  }
  return out;
}

/**
 * The HTTPS server for a web config with TLS: client-auth mode applied, certificates re-read on
 * change, a plain-HTTP request or a stalled handshake closed instead of left hanging.
 */
export function createTlsServer(watcher: WebConfigWatcher, options: HttpServerOptions, listener: RequestListener, logger: Logger): HttpsServer {
  const tls = watcher.current.tls;
  if (!tls) throw new Error('createTlsServer: the web config has no TLS');
  const server = createHttpsServer({ ...options, ...secureContextOptions(tls), ...clientAuthOptions(tls.clientAuth), handshakeTimeout: 10_000 }, listener);
  // Before the TLS layer takes the socket; the look runs in the background, so a certificate
  // changed on disk is used from the handshakes after it has been read and validated.
  server.prependListener('connection', () => watcher.refresh());
  watcher.onTlsChange((next) => {
    server.setSecureContext(secureContextOptions(next));
    Object.assign(server, clientAuthOptions(next.clientAuth));
  });
  server.on('secureConnection', (socket: TLSSocket) => {
    const problem = clientCertificateProblem(socket, watcher.current.tls);
    if (problem) {
      logger.debug({ remote: socket.remoteAddress, problem }, 'TLS client refused');
      socket.destroy();
    }
  });
  server.on('tlsClientError', (err: Error, socket: TLSSocket) => {
    // Plain HTTP on the TLS port ends here too ("http request"/"wrong version number").
    logger.debug({ remote: socket.remoteAddress, err: err.message }, 'TLS handshake failed');
    socket.destroy();
  });
  return server;
}
