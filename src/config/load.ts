import { readFileSync, statSync } from 'node:fs';
import { parseDocument } from 'yaml';
import { ConfigError } from '../errors.js';
import { scrub } from '../gitlab/text.js';
import { loadCloudflareRanges } from '../net/cloudflare.js';
import { PROBES } from '../probes/index.js';
import { formatDuration, parseDuration } from './duration.js';
import { formatZodIssues } from './issues.js';
import { rawConfigSchema, type Config, type InstanceConfig, type ProbeOverride, type ProbeSettings, type RawConfig, type RawInstance } from './schema.js';
import { Secret } from './secret.js';
import { substituteEnv, type Env } from './substitute.js';

export interface LoadOptions {
  readonly env?: Env;
  /** Called with non-fatal findings (a token file readable by others). */
  readonly warn?: (message: string) => void;
}

/** Reads, substitutes and validates a YAML config file. Throws ConfigError listing every problem. */
export function loadConfigFile(path: string, options: LoadOptions = {}): Config {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError([`cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`], path);
  }
  return parseConfigText(text, path, options);
}

export function parseConfigText(text: string, source: string, options: LoadOptions = {}): Config {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      doc.errors.map((e) => `YAML line ${e.linePos?.[0]?.line ?? '?'}: ${scrub(e.message.split('\n')[0] ?? '')}`),
      source,
    );
  }
  let plain: unknown;
  try {
    plain = doc.toJS() ?? {};
  } catch (err) {
    // Not a syntax error but still the file's: an alias bomb ("billion laughs") is refused here.
    throw new ConfigError([`(root): the YAML cannot be read: ${scrub(err instanceof Error ? (err.message.split('\n')[0] ?? '') : String(err))}`], source);
  }
  const issues: string[] = [];
  const inserted: Array<[string, string]> = [];
  const substituted = substituteEnv(plain, options.env ?? process.env, '', issues, inserted);
  if (issues.length > 0) throw new ConfigError(issues, source);
  const fromSecretVariables = inserted.filter(([name]) => SECRET_VARIABLE.test(name)).map(([, value]) => value);
  return scrubbedErrors([...fromSecretVariables, ...inlineTokens(substituted)], () => buildConfig(substituted, source, options));
}

// Variables whose values must never be quoted back (paths and URLs from others still are).
const SECRET_VARIABLE = /TOKEN|SECRET|PASSW|CREDENTIAL|AUTH|KEY/i;

/**
 * Config errors quote what was written ("5 minutes" is not a duration), and a value may be a token:
 * a `${GITLAB_DUO_TOKEN}` under the wrong key, a token pasted on the wrong line. Before an error
 * leaves, the values of secret-named variables, every inline token and anything shaped like a
 * GitLab token are cut out of it.
 */
function scrubbedErrors<T>(secrets: readonly string[], build: () => T): T {
  try {
    return build();
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    throw new ConfigError(
      err.issues.map((issue) => scrub(issue, secrets)),
      err.source,
    );
  }
}

function inlineTokens(document: unknown): string[] {
  const instances = (document as { instances?: unknown } | null)?.instances;
  if (!Array.isArray(instances)) return [];
  return instances.flatMap((instance: unknown) =>
    ['admin_token', 'duo_user_token'].map((key) => (instance as Record<string, unknown> | null)?.[key]).filter((v): v is string => typeof v === 'string'),
  );
}

/**
 * The single-instance setup from the environment alone (config.md): GITLAB_URL and the token
 * variables. Without GITLAB_URL it still yields one instance, so the network probes run.
 */
export function configFromEnv(options: LoadOptions = {}): Config {
  const env = options.env ?? process.env;
  const instance: Record<string, unknown> = {};
  if (env.GITLAB_URL) instance.url = env.GITLAB_URL;
  copyIfSet(env, 'GITLAB_ADMIN_TOKEN', instance, 'admin_token');
  copyIfSet(env, 'GITLAB_ADMIN_TOKEN_FILE', instance, 'admin_token_file');
  copyIfSet(env, 'GITLAB_DUO_TOKEN', instance, 'duo_user_token');
  copyIfSet(env, 'GITLAB_DUO_TOKEN_FILE', instance, 'duo_user_token_file');
  try {
    const tokens = ['GITLAB_ADMIN_TOKEN', 'GITLAB_DUO_TOKEN'].map((name) => env[name]).filter((v): v is string => !!v);
    return scrubbedErrors(tokens, () => buildConfig({ instances: [instance] }, 'environment', options));
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    // Name the variable the user set, not the config path it stands for.
    throw new ConfigError(err.issues.map((issue) => issue.replace(/^instances\[0\]\.(\w+)/, (_m, key: string) => ENV_NAMES[key] ?? key)), 'environment');
  }
}

const ENV_NAMES: Record<string, string> = {
  url: 'GITLAB_URL',
  admin_token: 'GITLAB_ADMIN_TOKEN',
  admin_token_file: 'GITLAB_ADMIN_TOKEN_FILE',
  duo_user_token: 'GITLAB_DUO_TOKEN',
  duo_user_token_file: 'GITLAB_DUO_TOKEN_FILE',
};

function copyIfSet(env: Env, variable: string, target: Record<string, unknown>, key: string): void {
  const value = env[variable];
  if (value) target[key] = value;
}

function buildConfig(input: unknown, source: string, options: LoadOptions): Config {
  const parsed = rawConfigSchema.safeParse(input);
  if (!parsed.success) throw new ConfigError(formatZodIssues(parsed.error), source);
  const raw = parsed.data;
  const issues: string[] = [];
  const instances = raw.instances.map((inst, i) => resolveInstance(inst, raw, `instances[${i}]`, issues, options));
  checkUniqueNames(instances, issues);
  if (raw.cloudflare_ranges_file !== undefined) checkCloudflareRanges(raw.cloudflare_ranges_file, issues);
  if (issues.length > 0) throw new ConfigError(issues, source);
  return {
    instances,
    web: raw.web,
    log: raw.log,
    scheduler: raw.scheduler,
    cloudflareRangesFile: raw.cloudflare_ranges_file,
    source,
  };
}

function resolveInstance(raw: RawInstance, config: RawConfig, path: string, issues: string[], options: LoadOptions): InstanceConfig {
  const { name, admin_token, admin_token_file, duo_user_token, duo_user_token_file, ...rest } = raw;
  return {
    ...rest,
    name: name ?? nameFromUrl(raw.url) ?? 'default',
    adminToken: readToken(admin_token, admin_token_file, `${path}.admin_token`, issues, options),
    duoUserToken: readToken(duo_user_token, duo_user_token_file, `${path}.duo_user_token`, issues, options),
    caPem: raw.tls.ca_file === undefined ? undefined : readCa(raw.tls.ca_file, `${path}.tls.ca_file`, issues),
    probeSettings: resolveProbeSettings(config.defaults.probes, raw.probes, path, issues),
  };
}

function readToken(inline: string | undefined, file: string | undefined, path: string, issues: string[], options: LoadOptions): Secret | undefined {
  if (inline !== undefined && file !== undefined) {
    issues.push(`${path}: set either ${path.split('.').pop()} or ${path.split('.').pop()}_file, not both`);
    return undefined;
  }
  if (inline !== undefined) return new Secret(inline.trim());
  if (file === undefined) return undefined;
  try {
    const mode = statSync(file).mode;
    if ((mode & 0o004) !== 0) options.warn?.(`${path}_file: ${file} is readable by every user; chmod 600 it`);
    const token = readFileSync(file, 'utf8').trim();
    if (token === '') {
      issues.push(`${path}_file: ${file} is empty`);
      return undefined;
    }
    return new Secret(token);
  } catch (err) {
    issues.push(`${path}_file: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
    return undefined;
  }
}

function readCa(file: string, path: string, issues: string[]): string | undefined {
  try {
    const pem = readFileSync(file, 'utf8');
    if (!pem.includes('-----BEGIN CERTIFICATE-----')) {
      issues.push(`${path}: ${file} holds no PEM certificate`);
      return undefined;
    }
    return pem;
  } catch (err) {
    issues.push(`${path}: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
    return undefined;
  }
}

function resolveProbeSettings(
  defaults: Partial<Record<string, ProbeOverride>>,
  overrides: Partial<Record<string, ProbeOverride>>,
  path: string,
  issues: string[],
): Record<string, ProbeSettings> {
  const settings: Record<string, ProbeSettings> = {};
  for (const probe of PROBES) {
    const merged = { ...defaults[probe.name], ...overrides[probe.name] };
    const schedule = merged.interval ?? { kind: 'every' as const, ms: parseDuration(probe.defaultInterval)! };
    const timeoutMs = merged.timeout ?? parseDuration(probe.defaultTimeout)!;
    if (schedule.kind === 'every' && timeoutMs >= schedule.ms) {
      issues.push(
        `${path}.probes.${probe.name}.timeout: ${formatDuration(timeoutMs)} must be shorter than the interval ${formatDuration(schedule.ms)}`,
      );
    }
    settings[probe.name] = { enabled: merged.enabled ?? true, schedule, timeoutMs, required: merged.required };
  }
  return settings;
}

/**
 * The `gitlab` label of an instance without a name: its URL's host. Taken from the parsed URL, not
 * the text, which cut at the first ':' or '/' and so kept userinfo: `https://<token>@host` named
 * the instance after the token, on every series and in the report title.
 */
function nameFromUrl(url: string | undefined): string | undefined {
  return url === undefined ? undefined : (URL.parse(url)?.hostname ?? undefined);
}

/** Read again when the plan is built; checked here so that --config.check and a reload catch it. */
function checkCloudflareRanges(file: string, issues: string[]): void {
  try {
    loadCloudflareRanges(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    issues.push(`cloudflare_ranges_file: ${code ? `cannot read ${file}: ${code}` : err instanceof Error ? err.message : String(err)}`);
  }
}

function checkUniqueNames(instances: readonly InstanceConfig[], issues: string[]): void {
  const seen = new Map<string, number>();
  instances.forEach((inst, i) => {
    const first = seen.get(inst.name);
    if (first !== undefined) issues.push(`instances[${i}].name: "${inst.name}" is already the name of instances[${first}]`);
    else seen.set(inst.name, i);
  });
}
