import { createHash, X509Certificate } from 'node:crypto';
import { rootCertificates } from 'node:tls';
import * as x509 from '@peculiar/x509';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadCloudflareRanges } from '../../src/net/cloudflare.js';
import { openConnection, type Connection } from '../../src/net/connect.js';
import type { NetOptions, ProxySettings } from '../../src/net/options.js';
import { isFromPublicRoot, labelText, MAX_LABEL_CHARS } from '../../src/net/tls-peer.js';
import { PHASES } from '../../src/core/run.js';
import { RunRecorder } from '../../src/runner/recorder.js';
import { startConnectProxy } from '../helpers/proxy.js';
import { LOOPBACK, startHttpsServer, type KeyAndChain } from '../helpers/servers.js';
import { createPki, issueLeaf, type TestPki } from '../helpers/tls.js';
import { createCaNamed, forgeIssuedBy, HOSTILE_CN, issueLeafNamed, LETS_ENCRYPT_R3_PEM, nameWithCn } from './tls-certs.js';

/**
 * The TLS peer a connection reports (net/tls-peer.ts): the leaf's names made safe for a label, its
 * fingerprint, and whether the chain is from a public CA. The decision is tested with a real
 * public intermediate (Let's Encrypt R3, signed by ISRG Root X1 of Node's bundled store): no test
 * can get a leaf signed by a public root, so the TLS cases here are private-CA chains, and the
 * public side is proven on the decision function with real public certificates.
 */

const HOST = 'svc.test';
let pki: TestPki;

beforeAll(async () => {
  pki = await createPki({ dns: [HOST], ips: ['127.0.0.1'] });
});

const sha256Hex = (pem: string): string => createHash('sha256').update(new X509Certificate(pem).raw).digest('hex');
const bundled = (subject: RegExp): X509Certificate => {
  const found = rootCertificates.map((pem) => new X509Certificate(pem)).find((root) => subject.test(root.subject));
  if (!found) throw new Error(`no bundled root matches ${subject}`);
  return found;
};

async function connect(cert: KeyAndChain, options: { ca?: string[]; insecure?: boolean; proxy?: ProxySettings; tls?: boolean } = {}): Promise<Connection> {
  const server = await startHttpsServer({ cert, alpn: 'http/1.1' });
  const net: NetOptions = {
    proxy: options.proxy,
    ca: options.ca ?? [pki.ca.certPem],
    insecureSkipVerify: options.insecure ?? false,
    resolve: new Map([[`${HOST}:${server.port}`, LOOPBACK]]),
    cloudflare: loadCloudflareRanges(),
  };
  const tls = options.tls === false ? undefined : { alpn: ['http/1.1'] };
  const connection = await openConnection({ host: HOST, port: server.port, tls }, { net, signal: AbortSignal.timeout(3000), record: new RunRecorder(PHASES) });
  connection.socket.destroy();
  return connection;
}

describe('labelText: certificate text as a label value', () => {
  it.each<{ name: string; input: string | string[] | undefined; output: string }>([
    { name: 'a plain name stays', input: 'gitlab-duo-exporter test CA', output: 'gitlab-duo-exporter test CA' },
    { name: 'no CN', input: undefined, output: '' },
    { name: 'a CN given twice: the first', input: ['first.example', 'second.example'], output: 'first.example' },
    { name: 'newlines, CR, tab, ESC each become ?', input: 'a\nb\rc\td\x1be', output: 'a?b?c?d?e' },
    { name: 'DEL, C1, bidi override, zero-width, line separator', input: 'a\x7fb\x85c\u202ed\u200be\u2028f', output: 'a?b?c?d?e?f' },
    { name: 'quotes and backslashes stay (the exposition escapes them)', input: 'Zscaler "Root" \\ CA', output: 'Zscaler "Root" \\ CA' },
    { name: 'a lone surrogate', input: 'a\ud800b', output: 'a?b' },
    { name: 'outer spaces trimmed', input: '  spaced  ', output: 'spaced' },
  ])('$name', ({ input, output }) => {
    expect(labelText(input)).toBe(output);
  });

  it(`cuts to ${MAX_LABEL_CHARS} code points, the last one …, never splitting a character`, () => {
    expect(labelText('x'.repeat(MAX_LABEL_CHARS))).toBe('x'.repeat(MAX_LABEL_CHARS));
    const cut = labelText('x'.repeat(MAX_LABEL_CHARS + 1));
    expect(cut).toBe(`${'x'.repeat(MAX_LABEL_CHARS - 1)}…`);
    // Emoji are two UTF-16 units: a cut by units would leave half of one.
    const emoji = labelText('🔒'.repeat(100));
    expect(Array.from(emoji)).toHaveLength(MAX_LABEL_CHARS);
    expect(emoji).toBe(`${'🔒'.repeat(MAX_LABEL_CHARS - 1)}…`);
    expect(emoji).not.toMatch(/\p{Cs}/u);
  });

  it('a hostile CN comes out bounded, on one line, without control characters', () => {
    const safe = labelText(HOSTILE_CN);
    expect(Array.from(safe)).toHaveLength(MAX_LABEL_CHARS);
    expect(safe).not.toMatch(/[\p{C}\n\r]/u);
    expect(safe.startsWith('?[31mEvil "proxy"?fake_metric{a="b"} 1??\\?x')).toBe(true);
  });
});

describe('isFromPublicRoot: the public-CA decision, on real public certificates', () => {
  const r3 = new X509Certificate(LETS_ENCRYPT_R3_PEM);
  const isrgRootX1 = bundled(/CN=ISRG Root X1$/);

  it('a bundled root by itself', () => {
    expect(isFromPublicRoot([isrgRootX1])).toBe(true);
  });

  it("an intermediate signed by a bundled root (Let's Encrypt R3 by ISRG Root X1), alone or with its root", () => {
    expect(r3.checkIssued(isrgRootX1)).toBe(true);
    expect(isFromPublicRoot([r3])).toBe(true);
    expect(isFromPublicRoot([r3, isrgRootX1])).toBe(true);
  });

  it("a certificate naming ISRG Root X1 as its issuer but not signed by it: the signature decides, not the names", async () => {
    const forged = new X509Certificate(await forgeIssuedBy(new x509.X509Certificate(LETS_ENCRYPT_R3_PEM).issuerName));
    expect(forged.issuer).toBe(isrgRootX1.subject);
    expect(forged.checkIssued(isrgRootX1)).toBe(true);
    expect(isFromPublicRoot([forged])).toBe(false);
    // Even followed by the real root: the link from the leaf must verify.
    expect(isFromPublicRoot([forged, isrgRootX1])).toBe(false);
  });

  it('a leaf naming R3 as its issuer, presented with the real R3: the broken link below a public intermediate counts', async () => {
    const forged = new X509Certificate(await forgeIssuedBy(new x509.X509Certificate(LETS_ENCRYPT_R3_PEM).subjectName));
    expect(forged.checkIssued(r3)).toBe(true);
    expect(isFromPublicRoot([forged, r3, isrgRootX1])).toBe(false);
  });

  it('a private CA chain, whole or cut short, is not public', () => {
    const leaf = new X509Certificate(pki.valid.certPem);
    const ca = new X509Certificate(pki.ca.certPem);
    expect(isFromPublicRoot([leaf, ca])).toBe(false);
    expect(isFromPublicRoot([leaf])).toBe(false);
    expect(isFromPublicRoot([])).toBe(false);
  });
});

describe('Connection.tlsPeer over real TLS', () => {
  it('a private CA trusted through tls.ca_file: names, fingerprint of the leaf, not public', async () => {
    const connection = await connect(pki.valid);
    expect(connection.tlsPeer).toEqual({
      subjectCn: HOST,
      issuerCn: 'gitlab-duo-exporter test CA',
      fingerprintSha256: sha256Hex(pki.valid.certPem),
      publicCa: false,
    });
    expect(connection.tlsPeer!.fingerprintSha256).toMatch(/^[0-9a-f]{64}$/);
    // The certificate-expiry fact is unchanged.
    expect(connection.certExpiry).toBe(pki.valid.notAfter);
  });

  it('the same chain again is judged once (the same answer object)', async () => {
    const first = await connect(pki.valid);
    const second = await connect(pki.valid);
    expect(second.tlsPeer).toBe(first.tlsPeer);
  });

  it('the leaf alone (issuer from ca_file): the same verdict', async () => {
    const connection = await connect({ keyPem: pki.valid.keyPem, chainPem: pki.valid.certPem });
    expect(connection.tlsPeer).toMatchObject({ subjectCn: HOST, issuerCn: 'gitlab-duo-exporter test CA', publicCa: false });
  });

  it('insecure_skip_verify with an untrusted CA: still described, not public', async () => {
    const connection = await connect(pki.untrusted, { ca: [], insecure: true });
    expect(connection.tlsPeer).toEqual({ subjectCn: HOST, issuerCn: 'untrusted test CA', fingerprintSha256: sha256Hex(pki.untrusted.certPem), publicCa: false });
  });

  it("through an https:// proxy (two TLS peers): the target's peer, not the proxy's", async () => {
    const proxyCert = await issueLeaf(pki.ca, { dns: ['proxy.test'], ips: ['127.0.0.1'] });
    const proxy = await startConnectProxy({ mode: 'allow', hosts: { [HOST]: LOOPBACK }, tls: proxyCert });
    const connection = await connect(pki.valid, { proxy: { url: new URL(proxy.url), noProxy: [] } });
    expect(proxy.seen).toHaveLength(1);
    expect(connection.tlsPeer!.fingerprintSha256).toBe(sha256Hex(pki.valid.certPem));
    expect(connection.tlsPeer!.fingerprintSha256).not.toBe(sha256Hex(proxyCert.certPem));
  });

  it('no TLS, no peer', async () => {
    const connection = await connect(pki.valid, { tls: false });
    expect(connection.tlsPeer).toBeUndefined();
  });

  it('a hostile subject and issuer CN: bounded, safe label values', async () => {
    const ca = await createCaNamed(nameWithCn(`${HOSTILE_CN} CA`));
    const leaf = await issueLeafNamed(ca, nameWithCn(HOSTILE_CN), [HOST]);
    const connection = await connect(leaf, { ca: [ca.certPem] });
    const peer = connection.tlsPeer!;
    for (const value of [peer.subjectCn, peer.issuerCn]) {
      expect(Array.from(value)).toHaveLength(MAX_LABEL_CHARS);
      expect(value).not.toMatch(/\p{C}/u);
    }
    expect(peer).toMatchObject({ subjectCn: labelText(HOSTILE_CN), issuerCn: labelText(`${HOSTILE_CN} CA`), fingerprintSha256: sha256Hex(leaf.certPem), publicCa: false });
  });
});
