import { randomBytes, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

/** A CA made at start and one server certificate for every simulated host. */
export interface Pki {
  readonly caPem: string;
  readonly certPem: string;
  readonly keyPem: string;
}

// ECDSA P-256: a key pair takes about a millisecond, unlike RSA, so tests can make a CA each time.
const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DAY_MS = 86_400_000;

// @peculiar/x509 is typed against the DOM's Crypto; node's webcrypto implements the same API.
type X509Crypto = NonNullable<Parameters<typeof x509.X509CertificateGenerator.create>[1]>;
const crypto = webcrypto;
const x509Crypto = webcrypto as unknown as X509Crypto;

function serial(): string {
  // Positive (top bit clear), 16 bytes, as RFC 5280 asks.
  const bytes = randomBytes(16);
  bytes[0] = bytes[0]! & 0x7f;
  return bytes.toString('hex');
}

async function generateKeys(): Promise<webcrypto.CryptoKeyPair> {
  return crypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify']);
}

/**
 * Makes a throw-away CA and a leaf certificate valid for `dnsNames`, 127.0.0.1 and localhost.
 * Validity starts a day back so that a clock a little behind still accepts it.
 */
export async function createPki(dnsNames: readonly string[]): Promise<Pki> {
  const notBefore = new Date(Date.now() - DAY_MS);
  const caKeys = await generateKeys();
  const ca = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: serial(),
      name: 'CN=GitLab Duo simulator CA, O=gitlab-duo-exporter',
      notBefore,
      notAfter: new Date(Date.now() + 30 * DAY_MS),
      keys: caKeys,
      signingAlgorithm: ALGORITHM,
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey, false, x509Crypto),
      ],
    },
    x509Crypto,
  );

  const leafKeys = await generateKeys();
  const names = [...dnsNames, 'localhost'].map((value) => ({ type: 'dns' as const, value }));
  const leaf = await x509.X509CertificateGenerator.create(
    {
      serialNumber: serial(),
      subject: `CN=${dnsNames[0] ?? 'localhost'}`,
      issuer: ca.subject,
      notBefore,
      notAfter: new Date(Date.now() + 30 * DAY_MS),
      signingKey: caKeys.privateKey,
      publicKey: leafKeys.publicKey,
      signingAlgorithm: ALGORITHM,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
        new x509.SubjectAlternativeNameExtension([...names, { type: 'ip', value: '127.0.0.1' }]),
        await x509.AuthorityKeyIdentifierExtension.create(ca, false, x509Crypto),
        await x509.SubjectKeyIdentifierExtension.create(leafKeys.publicKey, false, x509Crypto),
      ],
    },
    x509Crypto,
  );

  const pkcs8 = await crypto.subtle.exportKey('pkcs8', leafKeys.privateKey);
  return {
    caPem: ca.toString('pem'),
    certPem: leaf.toString('pem'),
    keyPem: x509.PemConverter.encode(pkcs8, 'PRIVATE KEY'),
  };
}
