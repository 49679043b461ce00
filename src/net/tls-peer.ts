import { X509Certificate } from 'node:crypto';
import { rootCertificates, type PeerCertificate } from 'node:tls';

/**
 * Who a probe's TLS peer is, in the terms of metrics.md's `gitlab_duo_tls_peer_info` and
 * `gitlab_duo_tls_public_ca`: enough to see a TLS-inspecting proxy between the exporter and
 * GitLab's cloud, which otherwise looks like any other trusted connection once its CA is in
 * `tls.ca_file`.
 */
export interface TlsPeer {
  /** The leaf's subject CN as a safe label value (labelText); '' when the leaf has none. */
  readonly subjectCn: string;
  /** The CN of the leaf's issuer (the CA that signed it), made safe the same way. */
  readonly issuerCn: string;
  /** SHA-256 of the leaf's DER, lowercase hex (blackbox_exporter's `fingerprint_sha256`). */
  readonly fingerprintSha256: string;
  /**
   * Whether the chain leads, signature by signature, to a root of Node's bundled store
   * (tls.rootCertificates: Mozilla's root program, the roots browsers trust). Neither `tls.ca_file`
   * nor NODE_EXTRA_CA_CERTS counts, and `insecure_skip_verify` changes nothing.
   */
  readonly publicCa: boolean;
}

/** Label values taken from certificates are cut to this many characters (code points). */
export const MAX_LABEL_CHARS = 64;

/** A chain longer than this is not walked further (real ones have 2 to 4 certificates). */
const MAX_CHAIN = 10;

/**
 * Text from a certificate made safe as a label value and in notes: control, format, surrogate,
 * private-use and line-separator characters (newlines, ESC, bidi overrides, zero-width ones) each
 * become `?`, and the result is cut to `max` code points, the last one `…` when cut. Quotes and
 * backslashes stay: the exposition escapes them.
 */
export function labelText(value: string | readonly string[] | undefined, max = MAX_LABEL_CHARS): string {
  // Node gives an array when the name has the attribute more than once: the first one counts.
  const first = (typeof value === 'string' ? value : value?.[0]) ?? '';
  const chars = Array.from(first.replace(/[\p{C}\p{Zl}\p{Zp}]/gu, '?').trim());
  return chars.length > max ? `${chars.slice(0, max - 1).join('')}…` : chars.join('');
}

interface Roots {
  readonly all: readonly X509Certificate[];
  readonly fingerprints: ReadonlySet<string>;
}

let roots: Roots | undefined;

/** Node's bundled roots, parsed on first use (~40 ms, once per process). */
function bundledRoots(): Roots {
  if (!roots) {
    const all = rootCertificates.map((pem) => new X509Certificate(pem));
    roots = { all, fingerprints: new Set(all.map((root) => root.fingerprint256)) };
  }
  return roots;
}

/**
 * Whether `chain` (leaf first, each certificate followed by its issuer) is from a public CA:
 * walking up from the leaf, some certificate is one of the bundled roots, or was signed by one
 * (OpenSSL's issuer check on names and key identifiers, then the signature verified with the
 * root's key), and every link below it is a verified signature too. Anything else is private: a
 * chain that ends at a root the bundle does not have (a company CA, a TLS-inspecting proxy's),
 * one that breaks off, or one whose names claim a public issuer its signatures do not bear out.
 * A cross-signed intermediate (e.g. a root re-signed by an older root) still counts, because the
 * certificate it issued is checked against the bundled root of the same name and key.
 */
export function isFromPublicRoot(chain: readonly X509Certificate[]): boolean {
  const { all, fingerprints } = bundledRoots();
  for (const [i, cert] of chain.slice(0, MAX_CHAIN).entries()) {
    if (fingerprints.has(cert.fingerprint256)) return true;
    if (all.some((root) => signedBy(cert, root))) return true;
    const issuer = chain[i + 1];
    if (!issuer || !signedBy(cert, issuer)) return false;
  }
  return false;
}

/** `issuer` issued `cert` (names, key identifiers, key usage) and its key verifies the signature. */
function signedBy(cert: X509Certificate, issuer: X509Certificate): boolean {
  try {
    return cert.checkIssued(issuer) && cert.verify(issuer.publicKey);
  } catch {
    // A key type that cannot have made this signature.
    return false;
  }
}

/** A chain OpenSSL accepted parses; one it did not (insecure_skip_verify) is private if it fails. */
function judged(chain: readonly Linked[]): boolean {
  try {
    return isFromPublicRoot(chain.map((cert) => new X509Certificate(cert.raw)));
  } catch {
    return false;
  }
}

type Linked = PeerCertificate & { issuerCertificate?: Linked };

/** The chain as Node links it (getPeerCertificate(true)): leaf first, up to the root it found. */
function linkedChain(leaf: Linked): Linked[] {
  const chain: Linked[] = [];
  const seen = new Set<string>();
  for (let cert: Linked | undefined = leaf; cert?.raw && !seen.has(cert.fingerprint256) && chain.length < MAX_CHAIN; cert = cert.issuerCertificate) {
    seen.add(cert.fingerprint256);
    chain.push(cert);
  }
  return chain;
}

// A probe sees the same chain run after run: each distinct chain is judged once. Chains change
// only when a certificate is renewed or the path changes; the bound keeps churn from piling up.
const MAX_CACHED = 64;
const described = new Map<string, TlsPeer>();

/**
 * The peer of a TLS connection, from the chain Node built (getPeerCertificate(true)); undefined
 * when the peer sent no certificate.
 */
export function describePeer(leaf: PeerCertificate): TlsPeer | undefined {
  const chain = linkedChain(leaf);
  const first = chain[0];
  if (!first) return undefined;
  const key = chain.map((cert) => cert.fingerprint256).join(',');
  let peer = described.get(key);
  if (!peer) {
    peer = {
      subjectCn: labelText(first.subject?.CN),
      issuerCn: labelText(first.issuer?.CN),
      fingerprintSha256: first.fingerprint256.replace(/:/g, '').toLowerCase(),
      publicCa: judged(chain),
    };
    if (described.size >= MAX_CACHED) described.clear();
    described.set(key, peer);
  }
  return peer;
}
