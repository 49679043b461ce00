import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { createCa, issueLeaf, type TestCa, type TestCert } from '../helpers/tls.js';

/**
 * Certificates for the TLS-peer tests that test/helpers/tls.ts does not make: names with any
 * bytes in their CN (a hostile peer), and a real public intermediate to judge the public-CA
 * decision with.
 */

type KeyPair = TestCa['keys'];
const DAY_MS = 86_400_000;

/**
 * Let's Encrypt's R3 intermediate (public, from https://letsencrypt.org/certs/lets-encrypt-r3.pem),
 * signed by ISRG Root X1, which Node's bundled store has. Expired since 2025-09-15: the decision
 * judges who signed a chain, not dates (the expiry fact and the handshake do those).
 */
export const LETS_ENCRYPT_R3_PEM = `-----BEGIN CERTIFICATE-----
MIIFFjCCAv6gAwIBAgIRAJErCErPDBinU/bWLiWnX1owDQYJKoZIhvcNAQELBQAw
TzELMAkGA1UEBhMCVVMxKTAnBgNVBAoTIEludGVybmV0IFNlY3VyaXR5IFJlc2Vh
cmNoIEdyb3VwMRUwEwYDVQQDEwxJU1JHIFJvb3QgWDEwHhcNMjAwOTA0MDAwMDAw
WhcNMjUwOTE1MTYwMDAwWjAyMQswCQYDVQQGEwJVUzEWMBQGA1UEChMNTGV0J3Mg
RW5jcnlwdDELMAkGA1UEAxMCUjMwggEiMA0GCSqGSIb3DQEBAQUAA4IBDwAwggEK
AoIBAQC7AhUozPaglNMPEuyNVZLD+ILxmaZ6QoinXSaqtSu5xUyxr45r+XXIo9cP
R5QUVTVXjJ6oojkZ9YI8QqlObvU7wy7bjcCwXPNZOOftz2nwWgsbvsCUJCWH+jdx
sxPnHKzhm+/b5DtFUkWWqcFTzjTIUu61ru2P3mBw4qVUq7ZtDpelQDRrK9O8Zutm
NHz6a4uPVymZ+DAXXbpyb/uBxa3Shlg9F8fnCbvxK/eG3MHacV3URuPMrSXBiLxg
Z3Vms/EY96Jc5lP/Ooi2R6X/ExjqmAl3P51T+c8B5fWmcBcUr2Ok/5mzk53cU6cG
/kiFHaFpriV1uxPMUgP17VGhi9sVAgMBAAGjggEIMIIBBDAOBgNVHQ8BAf8EBAMC
AYYwHQYDVR0lBBYwFAYIKwYBBQUHAwIGCCsGAQUFBwMBMBIGA1UdEwEB/wQIMAYB
Af8CAQAwHQYDVR0OBBYEFBQusxe3WFbLrlAJQOYfr52LFMLGMB8GA1UdIwQYMBaA
FHm0WeZ7tuXkAXOACIjIGlj26ZtuMDIGCCsGAQUFBwEBBCYwJDAiBggrBgEFBQcw
AoYWaHR0cDovL3gxLmkubGVuY3Iub3JnLzAnBgNVHR8EIDAeMBygGqAYhhZodHRw
Oi8veDEuYy5sZW5jci5vcmcvMCIGA1UdIAQbMBkwCAYGZ4EMAQIBMA0GCysGAQQB
gt8TAQEBMA0GCSqGSIb3DQEBCwUAA4ICAQCFyk5HPqP3hUSFvNVneLKYY611TR6W
PTNlclQtgaDqw+34IL9fzLdwALduO/ZelN7kIJ+m74uyA+eitRY8kc607TkC53wl
ikfmZW4/RvTZ8M6UK+5UzhK8jCdLuMGYL6KvzXGRSgi3yLgjewQtCPkIVz6D2QQz
CkcheAmCJ8MqyJu5zlzyZMjAvnnAT45tRAxekrsu94sQ4egdRCnbWSDtY7kh+BIm
lJNXoB1lBMEKIq4QDUOXoRgffuDghje1WrG9ML+Hbisq/yFOGwXD9RiX8F6sw6W4
avAuvDszue5L3sz85K+EC4Y/wFVDNvZo4TYXao6Z0f+lQKc0t8DQYzk1OXVu8rp2
yJMC6alLbBfODALZvYH7n7do1AZls4I9d1P4jnkDrQoxB3UqQ9hVl3LEKQ73xF1O
yK5GhDDX8oVfGKF5u+decIsH4YaTw7mP3GFxJSqv3+0lUFJoi5Lc5da149p90Ids
hCExroL1+7mryIkXPeFM5TgO9r0rvZaBFOvV2z0gp35Z0+L4WPlbuEjN/lxPFin+
HlUjr8gRsI3qfJOQFy/9rKIJR0Y/8Omwt/8oTWgy1mdeHmmjk7j1nYsvC9JSQ6Zv
MldlTTKB3zhThV1+XWYp6rjd5JW1zbVWEkLNxE7GJThEUG3szgBVGP7pSWTUTsqX
nLRbwHOoq7hHwg==
-----END CERTIFICATE-----
`;

/** A CN no certificate should have: 1000+ characters, newlines, quotes, a backslash, ESC, a bidi override. */
export const HOSTILE_CN = `\x1b[31mEvil "proxy"\nfake_metric{a="b"} 1\r\n\\\u202e${'x'.repeat(1000)}`;

function derLength(length: number): number[] {
  if (length < 0x80) return [length];
  const bytes: number[] = [];
  for (let rest = length; rest > 0; rest >>= 8) bytes.unshift(rest & 0xff);
  return [0x80 | bytes.length, ...bytes];
}

const der = (tag: number, content: Uint8Array): Uint8Array => new Uint8Array([tag, ...derLength(content.length), ...content]);

/**
 * `CN=<cn>` as DER, the value a UTF8String of exactly these characters. x509's string and JSON
 * names parse and quote values, which would clean a hostile CN up before it reached the test.
 */
export function nameWithCn(cn: string): x509.Name {
  const oidCommonName = new Uint8Array([0x06, 0x03, 0x55, 0x04, 0x03]);
  const value = der(0x0c, new TextEncoder().encode(cn));
  const attribute = der(0x30, new Uint8Array([...oidCommonName, ...value]));
  return new x509.Name(der(0x30, der(0x31, attribute)));
}

const serial = (): string => Buffer.from(webcrypto.getRandomValues(new Uint8Array(8))).toString('hex').replace(/^./, '1');

/** A CA named `name` (any bytes in its CN). */
export const createCaNamed = (name: x509.Name, label = 'hostile test CA'): Promise<TestCa> => createCa(label, { subject: name });

/** A server leaf for `dns` whose subject is `subject`, signed by `ca`. */
export const issueLeafNamed = (ca: TestCa, subject: x509.Name, dns: readonly string[]): Promise<TestCert> => issueLeaf(ca, { dns, subject });

/**
 * A certificate that names `issuer` as its issuer (no key identifier, so only the names are
 * compared) but is signed by an RSA key of our own, the algorithm of the public certificates it
 * imitates (OpenSSL's issuer check also matches the signature algorithm to the issuer's key):
 * what a forger, or a careless proxy, would present.
 */
export async function forgeIssuedBy(issuer: x509.Name, cn = 'forged.test'): Promise<string> {
  const rsa = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256', publicExponent: new Uint8Array([1, 0, 1]), modulusLength: 2048 } as const;
  const keys = (await webcrypto.subtle.generateKey(rsa, true, ['sign', 'verify'])) as unknown as KeyPair;
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: nameWithCn(cn),
    issuer,
    notBefore: new Date(Date.now() - DAY_MS),
    notAfter: new Date(Date.now() + 10 * DAY_MS),
    publicKey: keys.publicKey,
    signingKey: keys.privateKey,
    signingAlgorithm: rsa,
    extensions: [new x509.BasicConstraintsExtension(false, undefined, true)],
  });
  return cert.toString('pem');
}
