import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

/**
 * Certificates made inside the test (ECDSA P-256), never read from disk: a CA, leaves it signs,
 * and the broken variants a TLS probe must tell apart (expired, untrusted, wrong name).
 */

type X509Crypto = Parameters<typeof x509.cryptoProvider.set>[0];
/** The key pair type x509 works with (WebCrypto's, which this project's `lib` does not name). */
type KeyPair = Parameters<typeof x509.X509CertificateGenerator.createSelfSigned>[0]['keys'];

x509.cryptoProvider.set(webcrypto as unknown as X509Crypto);

const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGNING = { name: 'ECDSA', hash: 'SHA-256' } as const;
const DAY_MS = 86_400_000;

export interface TestCa {
  readonly name: string;
  /** PEM of the CA certificate, for `tls.ca_file`. */
  readonly certPem: string;
  /** Whole seconds, as in the certificate. */
  readonly notAfter: number;
  readonly keys: KeyPair;
  readonly cert: x509.X509Certificate;
}

export interface TestCert {
  /** The leaf PEM alone. */
  readonly certPem: string;
  /** Leaf then issuing CA: what a server presents. */
  readonly chainPem: string;
  readonly keyPem: string;
  /** The leaf's notAfter, whole Unix seconds. */
  readonly notAfter: number;
}

export interface LeafOptions {
  readonly dns?: readonly string[];
  readonly ips?: readonly string[];
  readonly notBefore?: Date;
  readonly notAfter?: Date;
  /** The subject as DER (any bytes in it); `CN=<first name>` when not given. */
  readonly subject?: x509.Name;
}

// Certificates carry whole seconds; so do our expectations.
const wholeSeconds = (date: Date): Date => new Date(Math.floor(date.getTime() / 1000) * 1000);

function generateKeys(): Promise<KeyPair> {
  return webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify']) as unknown as Promise<KeyPair>;
}

async function keyPem(key: KeyPair['privateKey']): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', key as webcrypto.CryptoKey));
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN PRIVATE KEY-----\n${lines.join('\n')}\n-----END PRIVATE KEY-----\n`;
}

export async function createCa(name = 'gitlab-duo-exporter test CA', options: { notAfter?: Date; subject?: x509.Name } = {}): Promise<TestCa> {
  const keys = await generateKeys();
  const notAfter = wholeSeconds(options.notAfter ?? new Date(Date.now() + 30 * DAY_MS));
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: options.subject ?? `CN=${name}`,
    notBefore: wholeSeconds(new Date(Date.now() - DAY_MS)),
    notAfter,
    keys,
    signingAlgorithm: SIGNING,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { name, certPem: cert.toString('pem'), notAfter: notAfter.getTime() / 1000, keys, cert };
}

export async function issueLeaf(ca: TestCa, options: LeafOptions): Promise<TestCert> {
  const keys = await generateKeys();
  const dns = options.dns ?? [];
  const ips = options.ips ?? [];
  const notAfter = wholeSeconds(options.notAfter ?? new Date(Date.now() + 10 * DAY_MS));
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: options.subject ?? `CN=${dns[0] ?? ips[0] ?? 'leaf'}`,
    issuer: ca.cert.subjectName,
    notBefore: wholeSeconds(options.notBefore ?? new Date(Date.now() - DAY_MS)),
    notAfter,
    publicKey: keys.publicKey,
    signingKey: ca.keys.privateKey,
    signingAlgorithm: SIGNING,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension([
        ...dns.map((value) => ({ type: 'dns' as const, value })),
        ...ips.map((value) => ({ type: 'ip' as const, value })),
      ]),
      await x509.AuthorityKeyIdentifierExtension.create(ca.keys.publicKey),
    ],
  });
  const certPem = cert.toString('pem');
  return { certPem, chainPem: `${certPem}\n${ca.certPem}`, keyPem: await keyPem(keys.privateKey), notAfter: notAfter.getTime() / 1000 };
}

export interface TestPki {
  /** The CA the probes are told to trust (`tls.ca_file`). */
  readonly ca: TestCa;
  readonly valid: TestCert;
  /** Signed by the trusted CA, notAfter yesterday. */
  readonly expired: TestCert;
  /** Right names and dates, signed by a CA nobody trusts. */
  readonly untrusted: TestCert;
  /** Signed by the trusted CA for a different name. */
  readonly wrongName: TestCert;
}

/** Everything a table of TLS cases needs, for the given names and addresses. */
export async function createPki(names: LeafOptions): Promise<TestPki> {
  const ca = await createCa();
  const stranger = await createCa('untrusted test CA');
  const now = Date.now();
  return {
    ca,
    valid: await issueLeaf(ca, names),
    expired: await issueLeaf(ca, { ...names, notBefore: new Date(now - 10 * DAY_MS), notAfter: new Date(now - DAY_MS) }),
    untrusted: await issueLeaf(stranger, names),
    wrongName: await issueLeaf(ca, { dns: ['somebody-else.test'] }),
  };
}

function randomSerial(): string {
  // Positive and non-zero: clear the top bit, set a low one.
  const bytes = webcrypto.getRandomValues(new Uint8Array(16));
  bytes[0] = (bytes[0]! & 0x7f) | 0x01;
  return Buffer.from(bytes).toString('hex');
}
