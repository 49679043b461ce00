import { DEFAULT_CIPHERS, type SecureVersion } from 'node:tls';
import { z } from 'zod';

/**
 * The shape of an exporter-toolkit web config file and the toolkit's closed lists (TLS versions,
 * cipher suites, curves, client-auth modes, security headers), with Go's names. config.ts checks
 * what the schema cannot; tls-settings.ts turns the TLS part into Node's options.
 */

/** Go names (exporter-toolkit) → Node's `minVersion`/`maxVersion`. */
export const TLS_VERSIONS = { TLS10: 'TLSv1', TLS11: 'TLSv1.1', TLS12: 'TLSv1.2', TLS13: 'TLSv1.3' } as const satisfies Record<string, SecureVersion>;
type TlsVersionName = keyof typeof TLS_VERSIONS;
export const TLS_VERSION_NAMES = Object.keys(TLS_VERSIONS) as [TlsVersionName, ...TlsVersionName[]];

export const CLIENT_AUTH_TYPES = ['NoClientCert', 'RequestClientCert', 'RequireAnyClientCert', 'VerifyClientCertIfGiven', 'RequireAndVerifyClientCert'] as const;
export type ClientAuthType = (typeof CLIENT_AUTH_TYPES)[number];
/** `RequireClientCert` is the toolkit's old spelling of RequireAnyClientCert, still accepted there. */
const CLIENT_AUTH_NAMES = [...CLIENT_AUTH_TYPES, 'RequireClientCert'] as const;

/**
 * The names Go's `tls.CipherSuites()` gives (the only ones the toolkit accepts) → OpenSSL names.
 * `null`: a TLS 1.3 suite, which Go does not let you configure; accepted and left at the default.
 */
export const CIPHER_SUITES: Record<string, string | null> = {
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
export const TLS13_DEFAULT_SUITES = DEFAULT_CIPHERS.split(':').filter((c) => c.startsWith('TLS_'));

export const CURVES = { CurveP256: 'P-256', CurveP384: 'P-384', CurveP521: 'P-521', X25519: 'X25519' } as const;
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
export const BCRYPT_HASH = /^\$2[aby]?\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}$/;

/** Go's zero value: a key that is absent, null or "" is unset. */
const unset = (v: unknown): unknown => (v === null || v === '' ? undefined : v);
const opt = <T extends z.ZodType>(schema: T) => z.preprocess(unset, schema.optional());
const section = <T extends z.ZodRawShape>(shape: T) => z.preprocess((v) => (v === null ? undefined : v), z.strictObject(shape).optional());

export const webConfigSchema = z.strictObject({
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
export type RawWebConfig = z.output<typeof webConfigSchema>;
export type RawTls = NonNullable<RawWebConfig['tls_server_config']>;
