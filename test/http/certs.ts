import { webcrypto, X509Certificate } from 'node:crypto';
import { mkdtempSync, renameSync, writeFileSync } from 'node:fs';
import { request, type RequestOptions } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';
import bcrypt from 'bcryptjs';
import pino, { type Logger } from 'pino';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { createHttpServer } from '../../src/http/server.js';
import { WebConfigWatcher } from '../../src/http/web/watcher.js';
import { createMetrics } from '../../src/metrics/registry.js';
import { parseCloudflareRanges } from '../../src/net/cloudflare.js';
import { parseConfigText } from '../../src/config/load.js';
import { buildPlan } from '../../src/runner/plan.js';
import { ResultStore } from '../../src/runner/store.js';
import { createCa, issueLeaf, type TestCa, type TestCert } from '../helpers/tls.js';

/**
 * Shared by the web-config and auth tests: certificates made here (test/helpers/tls.ts for the
 * CA and server leaves, plus client certificates, which need the clientAuth purpose), a web
 * config written to a temporary directory, the real HTTP surface started on it, and an HTTPS
 * client that reports the certificate it was served.
 */

export { createCa, issueLeaf, type TestCa, type TestCert };

type KeyPair = Parameters<typeof x509.X509CertificateGenerator.createSelfSigned>[0]['keys'];

export interface ClientCert {
  readonly certPem: string;
  readonly keyPem: string;
}

/** A client certificate (extendedKeyUsage clientAuth) signed by `ca`, or self-signed without one. */
export async function issueClient(ca: TestCa | undefined, names: { dns?: string[]; uri?: string[] } = {}): Promise<ClientCert> {
  const algorithm = { name: 'ECDSA', namedCurve: 'P-256' } as const;
  const keys = (await webcrypto.subtle.generateKey(algorithm, true, ['sign', 'verify'])) as unknown as KeyPair;
  const extensions = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]),
    new x509.SubjectAlternativeNameExtension([
      ...(names.dns ?? []).map((value) => ({ type: 'dns' as const, value })),
      ...(names.uri ?? []).map((value) => ({ type: 'url' as const, value })),
    ]),
  ];
  const now = Date.now();
  const common = {
    serialNumber: Buffer.from(webcrypto.getRandomValues(new Uint8Array(8))).toString('hex').replace(/^./, '1'),
    notBefore: new Date(now - 86_400_000),
    notAfter: new Date(now + 86_400_000),
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
    extensions,
  };
  const cert = ca
    ? await x509.X509CertificateGenerator.create({ ...common, subject: 'CN=scraper', issuer: ca.cert.subject, publicKey: keys.publicKey, signingKey: ca.keys.privateKey })
    : await x509.X509CertificateGenerator.createSelfSigned({ ...common, name: 'CN=stranger', keys });
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey as webcrypto.CryptoKey));
  const keyPem = `-----BEGIN PRIVATE KEY-----\n${(der.toString('base64').match(/.{1,64}/g) ?? []).join('\n')}\n-----END PRIVATE KEY-----\n`;
  return { certPem: cert.toString('pem'), keyPem };
}

export const serverCert = (ca: TestCa): Promise<TestCert> => issueLeaf(ca, { ips: ['127.0.0.1'], dns: ['localhost'] });

export const fingerprint = (pem: string): string => new X509Certificate(pem).fingerprint256;

/** bcrypt at cost 4: the format the toolkit wants, fast enough for tests. */
export const hash = (password: string): string => bcrypt.hashSync(password, 4);

export function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'gde-web-'));
}

/**
 * Writes `name` atomically (a temporary file renamed over it), as config management does: the
 * exporter looks at the disk in the background and could otherwise read a half-written file,
 * which it rightly refuses with a message of its own.
 */
export function write(dir: string, name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(`${path}.tmp`, text);
  renameSync(`${path}.tmp`, path);
  return path;
}

/** Writes the server's certificate and key into `dir` as server.crt / server.key. */
export function writeServerCert(dir: string, cert: TestCert): void {
  write(dir, 'server.crt', cert.chainPem);
  write(dir, 'server.key', cert.keyPem);
}

export interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

export function capturingLogger(): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const logger = pino({ level: 'debug', base: undefined }, { write: (s: string) => void lines.push(JSON.parse(s) as LogLine) });
  return { logger, lines };
}

export interface Running {
  readonly server: Server;
  readonly port: number;
  readonly watcher: WebConfigWatcher;
  readonly reloads: { count: number };
  close(): Promise<void>;
}

/** The exporter's real HTTP surface (createHttpServer) behind `webConfigPath`, on 127.0.0.1:0. */
export async function startServer(webConfigPath: string, logger: Logger = pino({ level: 'silent' })): Promise<Running> {
  const plan = buildPlan(await parseConfigText('instances: [ { name: x } ]', 'test', { env: {} }), parseCloudflareRanges('1.0.0.0/8', 'test'), {});
  const store = new ResultStore();
  const watcher = await WebConfigWatcher.load(webConfigPath, logger);
  const reloads = { count: 0 };
  const server = createHttpServer(
    {
      metrics: createMetrics({ store, plan: () => plan }),
      store,
      plan: () => plan,
      reload: async () => {
        reloads.count++;
        return undefined;
      },
      lifecycle: true,
      runNow: async () => [],
      logger,
    },
    watcher,
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    server,
    port,
    watcher,
    reloads,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

export interface Reply {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
  /** SHA-256 fingerprint of the certificate the server presented, as X509Certificate formats it. */
  readonly fingerprint: string;
}

export interface Call {
  readonly path?: string;
  readonly method?: string;
  readonly ca?: string;
  readonly cert?: string;
  readonly key?: string;
  /** user:password for basic auth. */
  readonly auth?: string;
}

/** One HTTPS request on a fresh connection (no agent, no session reuse), trusting only `ca`. */
export function httpsCall(port: number, call: Call): Promise<Reply> {
  const options: RequestOptions = {
    host: '127.0.0.1',
    port,
    path: call.path ?? '/-/healthy',
    method: call.method ?? 'GET',
    ca: call.ca,
    cert: call.cert,
    key: call.key,
    agent: false,
    timeout: 5000,
    headers: call.auth === undefined ? {} : { authorization: `Basic ${Buffer.from(call.auth).toString('base64')}` },
  };
  return new Promise((resolve, reject) => {
    const req = request(options, (res) => {
      const peer = (res.socket as TLSSocket).getPeerCertificate();
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body, fingerprint: peer.fingerprint256 }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end();
  });
}

export async function waitFor<T>(attempt: () => Promise<T | undefined>, what: string, limitMs = 8000): Promise<T> {
  const until = Date.now() + limitMs;
  for (;;) {
    const value = await attempt();
    if (value !== undefined) return value;
    if (Date.now() > until) throw new Error(`gave up waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
