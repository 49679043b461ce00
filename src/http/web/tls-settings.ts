import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { isAbsolute, join } from 'node:path';
import { createSecureContext, type SecureContextOptions, type SecureVersion } from 'node:tls';
import ipaddr from 'ipaddr.js';
import { MAX_PEM_FILE_BYTES, readBoundedFile } from '../../core/files.js';
import { fileProblem } from './file-problem.js';
import { CIPHER_SUITES, CURVES, TLS13_DEFAULT_SUITES, TLS_VERSION_NAMES, TLS_VERSIONS, type ClientAuthType, type RawTls } from './schema.js';

/**
 * The `tls_server_config` part of the web config: its certificate, key and client CA files read,
 * checked against each other and against OpenSSL, and turned into Node's TLS server options.
 */

export interface TlsServerSettings {
  /** PEM, leaf first. */
  readonly cert: string;
  /** PEM. Never logged. */
  readonly key: string;
  /** PEM bundle the client certificates are verified against; undefined = Node's default roots. */
  readonly clientCa: string | undefined;
  readonly clientAuth: ClientAuthType;
  readonly minVersion: SecureVersion;
  readonly maxVersion: SecureVersion;
  /** OpenSSL cipher string; undefined = Node's default. */
  readonly ciphers: string | undefined;
  readonly honorCipherOrder: boolean;
  /** OpenSSL curve list; undefined = Node's default. */
  readonly ecdhCurve: string | undefined;
  /** A client certificate must carry one of these SANs (DNS, email, IP or URI). */
  readonly clientAllowedSans: readonly string[] | undefined;
  /** The files these settings were read from: watched for changes. */
  readonly files: readonly string[];
}

/** The toolkit's TLSConfig.IsEnabled: any of these keys turns TLS on (and then cert and key are required). */
export function tlsEnabled(t: RawTls): boolean {
  return [t.cert, t.key, t.cert_file, t.key_file, t.client_ca, t.client_ca_file, t.client_auth_type].some((v) => v !== undefined);
}

type TlsFileKey = 'cert_file' | 'key_file' | 'client_ca_file';
const TLS_FILE_KEYS: readonly TlsFileKey[] = ['cert_file', 'key_file', 'client_ca_file'];

export interface TlsFiles {
  /** Every file named, resolved against the web config's directory: watched for changes. */
  readonly paths: string[];
  /** The text of each file that could be read, or its problem for the issue list. */
  readonly read: Partial<Record<TlsFileKey, { text: string } | { problem: string }>>;
}

/** Reads the certificate, key and client CA files concurrently (core/files.ts's rules, PEM cap). */
export async function readTlsFiles(t: RawTls, dir: string): Promise<TlsFiles> {
  const named = TLS_FILE_KEYS.flatMap((key) => {
    const name = t[key];
    return name === undefined ? [] : [{ key, path: isAbsolute(name) ? name : join(dir, name) }];
  });
  const read: TlsFiles['read'] = {};
  await Promise.all(
    named.map(async ({ key, path }) => {
      try {
        read[key] = { text: (await readBoundedFile(path, { maxBytes: MAX_PEM_FILE_BYTES })).text };
      } catch (err) {
        read[key] = { problem: fileProblem(err, path) };
      }
    }),
  );
  return { paths: named.map((n) => n.path), read };
}

/**
 * The TLS settings, or undefined when anything is wrong: each problem is added to `issues`, each
 * thing accepted but not applied as written to `notes`.
 */
export function buildTls(t: RawTls, tlsFiles: TlsFiles, issues: string[], notes: string[]): TlsServerSettings | undefined {
  const files = tlsFiles.paths;
  const before = issues.length;
  const read = (key: TlsFileKey): string | undefined => {
    const got = tlsFiles.read[key];
    if (got === undefined) return undefined;
    if ('problem' in got) {
      issues.push(`tls_server_config.${key}: ${got.problem}`);
      return undefined;
    }
    return got.text;
  };
  const pick = (inline: 'cert' | 'key' | 'client_ca', file: 'cert_file' | 'key_file' | 'client_ca_file'): string | undefined => {
    if (t[inline] !== undefined && t[file] !== undefined) {
      issues.push(`tls_server_config.${inline}: set only one of ${inline} and ${file}`);
      return undefined;
    }
    return t[inline] ?? read(file);
  };
  if (t.cert === undefined && t.cert_file === undefined) issues.push('tls_server_config: missing one of cert or cert_file');
  if (t.key === undefined && t.key_file === undefined) issues.push('tls_server_config: missing one of key or key_file');
  const certPem = pick('cert', 'cert_file');
  const keyPem = pick('key', 'key_file');
  const clientCa = pick('client_ca', 'client_ca_file');
  const certKey = t.cert !== undefined ? 'cert' : 'cert_file';
  const keyKey = t.key !== undefined ? 'key' : 'key_file';

  let leaf: X509Certificate | undefined;
  let key: KeyObject | undefined;
  if (certPem !== undefined) {
    leaf = firstCertificate(certPem);
    if (!leaf) issues.push(`tls_server_config.${certKey}: no PEM certificate found`);
  }
  if (keyPem !== undefined) {
    try {
      key = createPrivateKey(keyPem);
    } catch {
      issues.push(`tls_server_config.${keyKey}: not a PEM private key`);
    }
  }
  if (leaf && key && !leaf.checkPrivateKey(key)) issues.push(`tls_server_config.${keyKey}: does not match the certificate in ${certKey}`);
  if (clientCa !== undefined && certificates(clientCa).length === 0) {
    issues.push(`tls_server_config.${t.client_ca !== undefined ? 'client_ca' : 'client_ca_file'}: no PEM certificate found`);
  }

  const clientAuth: ClientAuthType = t.client_auth_type === 'RequireClientCert' ? 'RequireAnyClientCert' : (t.client_auth_type ?? 'NoClientCert');
  if (clientAuth === 'NoClientCert' && (t.client_ca !== undefined || t.client_ca_file !== undefined)) {
    issues.push('tls_server_config.client_auth_type: a client CA is configured, so client_auth_type must not be NoClientCert');
  }
  if (t.client_allowed_sans !== undefined && clientAuth !== 'RequireAnyClientCert' && clientAuth !== 'RequireAndVerifyClientCert') {
    issues.push('tls_server_config.client_allowed_sans: needs client_auth_type RequireAnyClientCert or RequireAndVerifyClientCert');
  }
  const min = t.min_version ?? 'TLS12';
  const max = t.max_version ?? 'TLS13';
  if (TLS_VERSION_NAMES.indexOf(min) > TLS_VERSION_NAMES.indexOf(max)) issues.push(`tls_server_config.min_version: ${min} is above max_version ${max}`);

  let ciphers: string | undefined;
  if (t.cipher_suites && t.cipher_suites.length > 0) {
    const tls12 = t.cipher_suites.map((name) => CIPHER_SUITES[name]).filter((c): c is string => typeof c === 'string');
    if (tls12.length < t.cipher_suites.length) notes.push('tls_server_config.cipher_suites: TLS 1.3 suites are not configurable (as in Go); the defaults stay on');
    if (tls12.length > 0) ciphers = [...TLS13_DEFAULT_SUITES, ...tls12].join(':');
  }
  const ecdhCurve = t.curve_preferences && t.curve_preferences.length > 0 ? t.curve_preferences.map((c) => CURVES[c]).join(':') : undefined;
  if (issues.length > before || certPem === undefined || keyPem === undefined) return undefined;

  const settings: TlsServerSettings = {
    cert: certPem,
    key: keyPem,
    clientCa,
    clientAuth,
    minVersion: TLS_VERSIONS[min],
    maxVersion: TLS_VERSIONS[max],
    ciphers,
    honorCipherOrder: t.prefer_server_cipher_suites ?? true,
    ecdhCurve,
    clientAllowedSans: t.client_allowed_sans?.map(normalizeSan),
    files,
  };
  try {
    // Whatever OpenSSL still refuses (a curve or cipher this build lacks, an RSA key too small).
    createSecureContext(secureContextOptions(settings));
  } catch (err) {
    issues.push(`tls_server_config: ${err instanceof Error ? err.message : String(err)}`);
    return undefined;
  }
  return settings;
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

function certificates(pem: string): X509Certificate[] {
  const out: X509Certificate[] = [];
  for (const [block] of pem.matchAll(PEM_CERTIFICATE)) {
    try {
      out.push(new X509Certificate(block));
    } catch {
      // not a certificate after all; the caller reports "none found" if nothing is left
    }
  }
  return out;
}

function firstCertificate(pem: string): X509Certificate | undefined {
  return certificates(pem)[0];
}

/** What `tls.createSecureContext`/`server.setSecureContext` take. */
export function secureContextOptions(tls: TlsServerSettings): SecureContextOptions {
  return {
    cert: tls.cert,
    key: tls.key,
    ca: tls.clientCa,
    minVersion: tls.minVersion,
    maxVersion: tls.maxVersion,
    ciphers: tls.ciphers,
    honorCipherOrder: tls.honorCipherOrder,
    ecdhCurve: tls.ecdhCurve,
  };
}

/**
 * An IP SAN in one canonical form (an IPv4-mapped IPv6 address as IPv4, as Go prints it), so a
 * configured SAN and a certificate's compare equal; any other SAN as it is.
 */
export function normalizeSan(value: string): string {
  if (!ipaddr.isValid(value)) return value;
  const ip = ipaddr.parse(value);
  return ip.kind() === 'ipv6' && (ip as ipaddr.IPv6).isIPv4MappedAddress() ? (ip as ipaddr.IPv6).toIPv4Address().toString() : ip.toString();
}
