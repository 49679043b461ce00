import { dirname } from 'node:path';
import { parseDocument } from 'yaml';
import { parseDuration } from '../../config/duration.js';
import { formatPath, formatZodIssues } from '../../config/issues.js';
import { ConfigError } from '../../core/errors.js';
import { MAX_CONFIG_FILE_BYTES, readBoundedFile } from '../../core/files.js';
import { fileProblem } from './file-problem.js';
import { ALLOWED_HEADERS, BCRYPT_HASH, webConfigSchema, type RawWebConfig } from './schema.js';
import { buildTls, readTlsFiles, tlsEnabled, type TlsServerSettings } from './tls-settings.js';

/**
 * `--web.config.file`: the Prometheus exporter-toolkit web configuration format
 * (https://github.com/prometheus/exporter-toolkit/blob/master/docs/web-configuration.md), so the
 * file a user already has for node_exporter works here. Load + validate here (the TLS part in
 * tls-settings.ts); watching in watcher.ts; the per-request part (rate limit, headers, basic auth)
 * in auth.ts.
 */

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
 * core/files.ts (asynchronously, regular files only, size-capped, within a deadline).
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
  const raw = parseRaw(text, source);
  const issues: string[] = [];
  const notes: string[] = [];
  const tlsFiles = raw.tls_server_config && tlsEnabled(raw.tls_server_config) ? await readTlsFiles(raw.tls_server_config, dir) : undefined;
  const tls = raw.tls_server_config && tlsFiles ? buildTls(raw.tls_server_config, tlsFiles, issues, notes) : undefined;
  const headers = raw.http_server_config?.headers ?? {};
  checkHeaders(headers, issues);
  const users = basicAuthUsers(raw, issues);
  const rateLimit = rateLimitOf(raw, issues);
  if (issues.length > 0) throw new ConfigError(issues, source);
  const http2 = raw.http_server_config?.http2 ?? true;
  if (tls && http2) notes.push('http_server_config.http2: HTTP/2 is not offered by this exporter; clients get HTTP/1.1 over TLS');
  return { source, tls, http2, headers, users, rateLimit, notes };
}

/** The YAML parsed and checked against the schema; a ConfigError on the first layer that fails. */
function parseRaw(text: string, source: string): RawWebConfig {
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
  return parsed.data;
}

/** Only the toolkit's security headers, with their allowed values, and never a line break. */
function checkHeaders(headers: Readonly<Record<string, string>>, issues: string[]): void {
  for (const [name, value] of Object.entries(headers)) {
    const where = formatPath(['http_server_config', 'headers', name]);
    const allowed = ALLOWED_HEADERS[name];
    if (!Object.hasOwn(ALLOWED_HEADERS, name)) issues.push(`${where}: HTTP header "${name}" can not be configured (allowed: ${Object.keys(ALLOWED_HEADERS).join(', ')})`);
    else if (allowed && !allowed.includes(value)) issues.push(`${where}: must be one of ${allowed.map((v) => JSON.stringify(v)).join(', ')}`);
    else if (/[\r\n\0]/.test(value)) issues.push(`${where}: must not contain line breaks`);
  }
}

/** user → bcrypt hash, for the users whose name and hash are usable; the others become issues. */
function basicAuthUsers(raw: RawWebConfig, issues: string[]): Map<string, string> {
  const users = new Map<string, string>();
  for (const [user, hash] of Object.entries(raw.basic_auth_users ?? {})) {
    const where = formatPath(['basic_auth_users', user]);
    if (user.includes(':')) issues.push(`${where}: a user name cannot contain ":" (basic auth splits on it)`);
    else if (!BCRYPT_HASH.test(hash)) issues.push(`${where}: not a bcrypt hash`);
    else users.set(user, hash);
  }
  return users;
}

/** undefined: no rate limit (no interval, or an interval of 0, as in the toolkit). */
function rateLimitOf(raw: RawWebConfig, issues: string[]): WebConfig['rateLimit'] {
  const limit = raw.rate_limit;
  if (limit?.interval === undefined) return undefined;
  const intervalMs = parseDuration(limit.interval);
  if (intervalMs === undefined) {
    issues.push(`rate_limit.interval: "${limit.interval}" is not a duration (use e.g. 100ms, 1s, 1m)`);
    return undefined;
  }
  if (intervalMs <= 0) return undefined;
  const burst = limit.burst ?? 0;
  if (burst < 1) {
    issues.push('rate_limit.burst: must be at least 1 when rate_limit.interval is set (0 would refuse every request)');
    return undefined;
  }
  return { intervalMs, burst };
}
