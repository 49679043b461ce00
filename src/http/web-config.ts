import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { dirname, isAbsolute, join } from 'node:path';
import { createSecureContext, DEFAULT_CIPHERS, type SecureContextOptions, type SecureVersion } from 'node:tls';
import ipaddr from 'ipaddr.js';
import { parseDocument } from 'yaml';
import { z } from 'zod';
import { parseDuration } from '../config/duration.js';
import { FileReadError, MAX_CONFIG_FILE_BYTES, MAX_PEM_FILE_BYTES, readBoundedFile } from '../config/files.js';
import { formatPath, formatZodIssues } from '../config/issues.js';
import { ConfigError } from '../errors.js';

/**
 * `--web.config.file`: the Prometheus exporter-toolkit web configuration format
 * (https://github.com/prometheus/exporter-toolkit/blob/master/docs/web-configuration.md), so the
 * file a user already has for node_exporter works here. Load + validate + watch; the per-request
 * part (rate limit, headers, basic auth) is in auth.ts.
 */

/** Go names (exporter-toolkit) → Node's `minVersion`/`maxVersion`. */
const TLS_VERSIONS = { TLS10: 'TLSv1', TLS11: 'TLSv1.1', TLS12: 'TLSv1.2', TLS13: 'TLSv1.3' } as const satisfies Record<string, SecureVersion>;
type TlsVersionName = keyof typeof TLS_VERSIONS;
const TLS_VERSION_NAMES = Object.keys(TLS_VERSIONS) as [TlsVersionName, ...TlsVersionName[]];

export const CLIENT_AUTH_TYPES = ['NoClientCert', 'RequestClientCert', 'RequireAnyClientCert', 'VerifyClientCertIfGiven', 'RequireAndVerifyClientCert'] as const;
export type ClientAuthType = (typeof CLIENT_AUTH_TYPES)[number];
/** `RequireClientCert` is the toolkit's old spelling of RequireAnyClientCert, still accepted there. */
const CLIENT_AUTH_NAMES = [...CLIENT_AUTH_TYPES, 'RequireClientCert'] as const;

/**
 * The names Go's `tls.CipherSuites()` gives (the only ones the toolkit accepts) → OpenSSL names.
 * `null`: a TLS 1.3 suite, which Go does not let you configure; accepted and left at the default.
 */
const CIPHER_SUITES: Record<string, string | null> = {
  TLS_RSA_WITH_AES_128_CBC_SHA: 'AES128-SHA',
  TLS_RSA_WITH_AES_256_CBC_SHA: 'AES256-SHA',
  TLS_RSA_WITH_AES_128_GCM_SHA256: 'AES128-GCM-SHA256',
  TLS_RSA_WITH_AES_256_GCM_SHA384: 'AES256-GCM-SHA384',
  TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA: 'ECDHE-ECDSA-AES128-SHA',
  TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA: 'ECDHE-ECDSA-AES256-SHA',
  TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA: 'ECDHE-RSA-AES128-SHA',
  TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA: 'ECDHE-RSA-AES256-SHA',
  TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256: 'ECDHE-ECDSA-AES128-GCM-SHA256',
  TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384: 'ECDHE-ECDSA-AES256-GCM-SHA384',
  TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256: 'ECDHE-RSA-AES128-GCM-SHA256',
  TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384: 'ECDHE-RSA-AES256-GCM-SHA384',
  TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256: 'ECDHE-RSA-CHACHA20-POLY1305',
  TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256: 'ECDHE-ECDSA-CHACHA20-POLY1305',
  TLS_AES_128_GCM_SHA256: null,
  TLS_AES_256_GCM_SHA384: null,
  TLS_CHACHA20_POLY1305_SHA256: null,
};
const CIPHER_NAMES = Object.keys(CIPHER_SUITES) as [string, ...string[]];
/** Node's default TLS 1.3 suites, kept whenever cipher_suites narrows the TLS 1.2 list. */
const TLS13_DEFAULT_SUITES = DEFAULT_CIPHERS.split(':').filter((c) => c.startsWith('TLS_'));

const CURVES = { CurveP256: 'P-256', CurveP384: 'P-384', CurveP521: 'P-521', X25519: 'X25519' } as const;
type CurveName = keyof typeof CURVES;
const CURVE_NAMES = Object.keys(CURVES) as [CurveName, ...CurveName[]];

/** The toolkit's closed list of security headers; a list of values means only those are allowed. */
export const ALLOWED_HEADERS: Readonly<Record<string, readonly string[] | undefined>> = {
  'Strict-Transport-Security': undefined,
  'X-Content-Type-Options': ['nosniff'],
  'X-Frame-Options': ['deny', 'sameorigin'],
  'X-XSS-Protection': undefined,
  'Content-Security-Policy': undefined,
};

/** Go's bcrypt accepts $2$, $2a$, $2b$, $2y$ (htpasswd -B writes $2y$); cost 4..31. */
const BCRYPT_HASH = /^\$2[aby]?\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}$/;

/** Go's zero value: a key that is absent, null or "" is unset. */
const unset = (v: unknown): unknown => (v === null || v === '' ? undefined : v);
const opt = <T extends z.ZodType>(schema: T) => z.preprocess(unset, schema.optional());
const section = <T extends z.ZodRawShape>(shape: T) => z.preprocess((v) => (v === null ? undefined : v), z.strictObject(shape).optional());

const webConfigSchema = z.strictObject({
  tls_server_config: section({
    cert: opt(z.string()),
    key: opt(z.string()),
    client_ca: opt(z.string()),
    cert_file: opt(z.string()),
    key_file: opt(z.string()),
    client_auth_type: opt(z.enum(CLIENT_AUTH_NAMES)),
    client_ca_file: opt(z.string()),
    cipher_suites: opt(z.array(z.enum(CIPHER_NAMES))),
    curve_preferences: opt(z.array(z.enum(CURVE_NAMES))),
    min_version: opt(z.enum(TLS_VERSION_NAMES)),
    max_version: opt(z.enum(TLS_VERSION_NAMES)),
    prefer_server_cipher_suites: opt(z.boolean()),
    client_allowed_sans: opt(z.array(z.string())),
  }),
  http_server_config: section({
    http2: opt(z.boolean()),
    headers: opt(z.record(z.string(), z.string())),
  }),
  rate_limit: section({
    interval: opt(z.string()),
    burst: opt(z.number().int().nonnegative()),
  }),
  basic_auth_users: z.preprocess((v) => (v === null ? undefined : v), z.record(z.string(), z.string()).optional()),
});
type RawWebConfig = z.output<typeof webConfigSchema>;
type RawTls = NonNullable<RawWebConfig['tls_server_config']>;

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

export interface WebConfig {
  readonly source: string;
  /** undefined: plain HTTP (the toolkit's "TLS is disabled"). */
  readonly tls: TlsServerSettings | undefined;
  /** Accepted for compatibility; the server speaks HTTP/1.1 only (ALPN offers http/1.1). */
  readonly http2: boolean;
  /** Added to every response. */
  readonly headers: Readonly<Record<string, string>>;
  /** user → bcrypt hash. Empty: no authentication. */
  readonly users: ReadonlyMap<string, string>;
  readonly rateLimit: { readonly intervalMs: number; readonly burst: number } | undefined;
  /** Things accepted but not applied as written, for one log line each. */
  readonly notes: readonly string[];
}

/**
 * Reads and validates a web config file. Rejects with a ConfigError listing every problem, each
 * with its path. The file and the certificate, key and client CA files are read with
 * config/files.ts (asynchronously, regular files only, size-capped, within a deadline).
 */
export async function loadWebConfig(path: string): Promise<WebConfig> {
  let text: string;
  try {
    text = (await readBoundedFile(path, { maxBytes: MAX_CONFIG_FILE_BYTES })).text;
  } catch (err) {
    throw new ConfigError([fileProblem(err, path)], path);
  }
  return parseWebConfigText(text, path, dirname(path));
}

/** `dir`: where relative file names point (the toolkit resolves them against the file's directory). */
export async function parseWebConfigText(text: string, source: string, dir: string): Promise<WebConfig> {
  // logLevel 'error': the yaml library's own warnings (a collection used as a key) would otherwise
  // reach stderr as a process warning, a line of no path in the problem list; the strict schema
  // refuses such a key anyway.
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true, logLevel: 'error' });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      doc.errors.map((e) => `YAML line ${e.linePos?.[0]?.line ?? '?'}: ${e.message.split('\n')[0]}`),
      source,
    );
  }
  const parsed = webConfigSchema.safeParse(doc.toJS() ?? {});
  if (!parsed.success) throw new ConfigError(formatZodIssues(parsed.error), source);
  const raw = parsed.data;
  const issues: string[] = [];
  const notes: string[] = [];
  const tlsFiles = raw.tls_server_config && tlsEnabled(raw.tls_server_config) ? await readTlsFiles(raw.tls_server_config, dir) : undefined;
  const tls = raw.tls_server_config && tlsFiles ? buildTls(raw.tls_server_config, tlsFiles, issues, notes) : undefined;
  const headers = raw.http_server_config?.headers ?? {};
  for (const [name, value] of Object.entries(headers)) {
    const where = formatPath(['http_server_config', 'headers', name]);
    const allowed = ALLOWED_HEADERS[name];
    if (!Object.hasOwn(ALLOWED_HEADERS, name)) issues.push(`${where}: HTTP header "${name}" can not be configured (allowed: ${Object.keys(ALLOWED_HEADERS).join(', ')})`);
    else if (allowed && !allowed.includes(value)) issues.push(`${where}: must be one of ${allowed.map((v) => JSON.stringify(v)).join(', ')}`);
    else if (/[\r\n\0]/.test(value)) issues.push(`${where}: must not contain line breaks`);
  }
  const users = new Map<string, string>();
  for (const [user, hash] of Object.entries(raw.basic_auth_users ?? {})) {
    const where = formatPath(['basic_auth_users', user]);
    if (user.includes(':')) issues.push(`${where}: a user name cannot contain ":" (basic auth splits on it)`);
    else if (!BCRYPT_HASH.test(hash)) issues.push(`${where}: not a bcrypt hash`);
    else users.set(user, hash);
  }
  let rateLimit: WebConfig['rateLimit'];
  const limit = raw.rate_limit;
  if (limit?.interval !== undefined) {
    const intervalMs = parseDuration(limit.interval);
    if (intervalMs === undefined) issues.push(`rate_limit.interval: "${limit.interval}" is not a duration (use e.g. 100ms, 1s, 1m)`);
    else if (intervalMs > 0) {
      const burst = limit.burst ?? 0;
      if (burst < 1) issues.push('rate_limit.burst: must be at least 1 when rate_limit.interval is set (0 would refuse every request)');
      else rateLimit = { intervalMs, burst };
    }
  }
  if (issues.length > 0) throw new ConfigError(issues, source);
  const http2 = raw.http_server_config?.http2 ?? true;
  if (tls && http2) notes.push('http_server_config.http2: HTTP/2 is not offered by this exporter; clients get HTTP/1.1 over TLS');
  return { source, tls, http2, headers, users, rateLimit, notes };
}

/** The toolkit's TLSConfig.IsEnabled: any of these keys turns TLS on (and then cert and key are required). */
function tlsEnabled(t: RawTls): boolean {
  return [t.cert, t.key, t.cert_file, t.key_file, t.client_ca, t.client_ca_file, t.client_auth_type].some((v) => v !== undefined);
}

type TlsFileKey = 'cert_file' | 'key_file' | 'client_ca_file';
const TLS_FILE_KEYS: readonly TlsFileKey[] = ['cert_file', 'key_file', 'client_ca_file'];

interface TlsFiles {
  /** Every file named, resolved against the web config's directory: watched for changes. */
  readonly paths: string[];
  /** The text of each file that could be read, or its problem for the issue list. */
  readonly read: Partial<Record<TlsFileKey, { text: string } | { problem: string }>>;
}

/** Reads the certificate, key and client CA files concurrently (config/files.ts's rules, PEM cap). */
async function readTlsFiles(t: RawTls, dir: string): Promise<TlsFiles> {
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

function fileProblem(err: unknown, path: string): string {
  return err instanceof FileReadError ? err.message : `cannot read ${path}: ${errorCode(err)}`;
}

function buildTls(t: RawTls, tlsFiles: TlsFiles, issues: string[], notes: string[]): TlsServerSettings | undefined {
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

export function errorCode(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? String(err);
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
 * Node asks for a client certificate (requestCert) and lets OpenSSL refuse the handshake only for
 * RequireAndVerifyClientCert; the other modes are finished in `clientCertificateProblem` once the
 * handshake is done.
 */

export function normalizeSan(value: string): string {
  if (!ipaddr.isValid(value)) return value;
  const ip = ipaddr.parse(value);
  return ip.kind() === 'ipv6' && (ip as ipaddr.IPv6).isIPv4MappedAddress() ? (ip as ipaddr.IPv6).toIPv4Address().toString() : ip.toString();
}
