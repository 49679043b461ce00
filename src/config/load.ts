import { parseDocument } from 'yaml';
import { ConfigError } from '../core/errors.js';
import { scrub } from '../core/redact.js';
import { loadCloudflareRangesFile } from '../net/cloudflare.js';
import { probeCatalog } from './probe-catalog.js';
import { formatDuration, parseDuration } from './duration.js';
import { FileReadError, MAX_CONFIG_FILE_BYTES, MAX_PEM_FILE_BYTES, readBoundedFile } from '../core/files.js';
import { formatZodIssues } from './issues.js';
import { rawConfigSchema, type Config, type InstanceConfig, type ProbeOverride, type ProbeSettings, type RawConfig, type RawInstance, type TokenFile } from './schema.js';
import { Secret } from './secret.js';
import type { Env } from '../core/env.js';
import { substituteEnv } from './substitute.js';
import { readableByOthers, readTokenFile } from './tokens.js';
import { checkInstanceUrl } from './url.js';
import { yamlIssue } from './yaml-errors.js';

export interface LoadOptions {
  readonly env?: Env;
  /** Called with non-fatal findings (a token file readable by others). */
  readonly warn?: (message: string) => void;
}

/**
 * Reads, substitutes and validates a YAML config file. Rejects with a ConfigError listing every
 * problem. Every file (this one, token files, CA files, cloudflare_ranges_file) is read with
 * core/files.ts: asynchronously, regular files only, size-capped, within a deadline, so a FIFO
 * or a device named in a config can neither freeze nor bloat the daemon (a reload is refused).
 */
export async function loadConfigFile(path: string, options: LoadOptions = {}): Promise<Config> {
  let text: string;
  try {
    text = (await readBoundedFile(path, { maxBytes: MAX_CONFIG_FILE_BYTES })).text;
  } catch (err) {
    throw new ConfigError([fileProblem(err, path)], path);
  }
  return parseConfigText(text, path, options);
}

export async function parseConfigText(text: string, source: string, options: LoadOptions = {}): Promise<Config> {
  // logLevel 'error': the yaml library's own warnings (a collection used as a key) would otherwise
  // reach stderr as a process warning, a line of no path in the problem list; the strict schema
  // refuses such a key anyway.
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true, logLevel: 'error' });
  if (doc.errors.length > 0) throw new ConfigError(doc.errors.map((e) => yamlIssue(text, e)), source);
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
async function scrubbedErrors<T>(secrets: readonly string[], build: () => Promise<T>): Promise<T> {
  try {
    return await build();
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
    ['admin_token', 'duo_user_token', 'agent_platform_token'].map((key) => (instance as Record<string, unknown> | null)?.[key]).filter((v): v is string => typeof v === 'string'),
  );
}

/**
 * The single-instance setup from the environment alone (config.md): GITLAB_URL and the token
 * variables. Without GITLAB_URL it still yields one instance, so the network probes run.
 */
export async function configFromEnv(options: LoadOptions = {}): Promise<Config> {
  const env = options.env ?? process.env;
  const instance: Record<string, unknown> = {};
  if (env.GITLAB_URL) instance.url = env.GITLAB_URL;
  copyIfSet(env, 'GITLAB_ADMIN_TOKEN', instance, 'admin_token');
  copyIfSet(env, 'GITLAB_ADMIN_TOKEN_FILE', instance, 'admin_token_file');
  copyIfSet(env, 'GITLAB_DUO_TOKEN', instance, 'duo_user_token');
  copyIfSet(env, 'GITLAB_DUO_TOKEN_FILE', instance, 'duo_user_token_file');
  copyIfSet(env, 'GITLAB_AGENT_PLATFORM_TOKEN', instance, 'agent_platform_token');
  copyIfSet(env, 'GITLAB_AGENT_PLATFORM_TOKEN_FILE', instance, 'agent_platform_token_file');
  try {
    const tokens = ['GITLAB_ADMIN_TOKEN', 'GITLAB_DUO_TOKEN', 'GITLAB_AGENT_PLATFORM_TOKEN'].map((name) => env[name]).filter((v): v is string => !!v);
    return await scrubbedErrors(tokens, () => buildConfig({ instances: [instance] }, 'environment', options));
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
  agent_platform_token: 'GITLAB_AGENT_PLATFORM_TOKEN',
  agent_platform_token_file: 'GITLAB_AGENT_PLATFORM_TOKEN_FILE',
};

function copyIfSet(env: Env, variable: string, target: Record<string, unknown>, key: string): void {
  const value = env[variable];
  if (value) target[key] = value;
}

async function buildConfig(input: unknown, source: string, options: LoadOptions): Promise<Config> {
  const parsed = rawConfigSchema.safeParse(input);
  if (!parsed.success) throw new ConfigError(formatZodIssues(parsed.error, rawConfigSchema), source);
  const raw = parsed.data;
  // Every file is read concurrently; the problems are listed in the config's order all the same.
  const [resolved, rangesIssues] = await Promise.all([
    Promise.all(raw.instances.map((inst, i) => resolveInstance(inst, raw, `instances[${i}]`, source))),
    raw.cloudflare_ranges_file === undefined ? Promise.resolve([]) : checkCloudflareRanges(raw.cloudflare_ranges_file),
  ]);
  const instances = resolved.map((r) => r.instance);
  for (const warning of resolved.flatMap((r) => r.warnings)) options.warn?.(warning);
  const issues = resolved.flatMap((r) => r.issues);
  checkUniqueNames(instances, issues);
  issues.push(...rangesIssues);
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

/** A file's problem for a config issue: `/x is not a regular file (a FIFO)`, `cannot read /x: ENOENT`. */
function fileProblem(err: unknown, file: string): string {
  return err instanceof FileReadError ? err.message : `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`;
}

/** Reads the instance's files (tokens, CA) concurrently; its problems come back in a fixed order. */
async function resolveInstance(raw: RawInstance, config: RawConfig, path: string, source: string): Promise<{ instance: InstanceConfig; issues: string[]; warnings: string[] }> {
  const { name, admin_token, admin_token_file, duo_user_token, duo_user_token_file, agent_platform_token, agent_platform_token_file, ...rest } = raw;
  const [admin, duo, agent, ca] = await Promise.all([
    readToken(admin_token, admin_token_file, `${path}.admin_token`, source),
    readToken(duo_user_token, duo_user_token_file, `${path}.duo_user_token`, source),
    readToken(agent_platform_token, agent_platform_token_file, `${path}.agent_platform_token`, source),
    raw.tls.ca_file === undefined ? Promise.resolve({ pem: undefined, issues: [] }) : readCa(raw.tls.ca_file, `${path}.tls.ca_file`),
  ]);
  const url = raw.url === undefined ? { issues: [], warnings: [] } : checkInstanceUrl(raw.url, source === 'environment' ? ENV_NAMES.url! : `${path}.url`);
  const issues = [...url.issues, ...admin.issues, ...duo.issues, ...agent.issues, ...ca.issues];
  const instance: InstanceConfig = {
    ...rest,
    name: name ?? nameFromUrl(raw.url) ?? 'default',
    adminToken: admin.secret,
    duoUserToken: duo.secret,
    agentPlatformToken: agent.secret,
    ...(admin.file && { adminTokenFile: admin.file }),
    ...(duo.file && { duoUserTokenFile: duo.file }),
    ...(agent.file && { agentPlatformTokenFile: agent.file }),
    caPem: ca.pem,
    probeSettings: resolveProbeSettings(config.defaults.probes, raw.probes, path, issues),
  };
  return { instance, issues, warnings: [...url.warnings, ...admin.warnings, ...duo.warnings, ...agent.warnings] };
}

interface TokenRead {
  readonly secret: Secret | undefined;
  readonly file: TokenFile | undefined;
  readonly issues: string[];
  /** Given to LoadOptions.warn in the config's order, whichever file was read first. */
  readonly warnings: string[];
}

/**
 * An inline token, or a token file read once here to validate it (and warn when others may read
 * it); runs read the file again (config/tokens.ts), so the file is kept too.
 */
async function readToken(inline: string | undefined, file: string | undefined, path: string, source: string): Promise<TokenRead> {
  const none = { secret: undefined, file: undefined, warnings: [] };
  if (inline !== undefined && file !== undefined) {
    return { ...none, issues: [`${path}: set either ${path.split('.').pop()} or ${path.split('.').pop()}_file, not both`] };
  }
  if (inline !== undefined) return { ...none, secret: new Secret(inline.trim()), issues: [] };
  if (file === undefined) return { ...none, issues: [] };
  const key = `${path.split('.').pop()}_file`;
  const setting = source === 'environment' ? (ENV_NAMES[key] ?? key) : key;
  try {
    const read = await readTokenFile(file);
    const who = readableByOthers(read);
    const warnings = who ? [`${path}_file: ${file} is readable by ${who}; chmod 600 it`] : [];
    return { secret: new Secret(read.token), file: { path: file, setting }, issues: [], warnings };
  } catch (err) {
    return { ...none, issues: [`${path}_file: ${fileProblem(err, file)}`] };
  }
}

async function readCa(file: string, path: string): Promise<{ pem: string | undefined; issues: string[] }> {
  try {
    const pem = (await readBoundedFile(file, { maxBytes: MAX_PEM_FILE_BYTES })).text;
    if (!pem.includes('-----BEGIN CERTIFICATE-----')) return { pem: undefined, issues: [`${path}: ${file} holds no PEM certificate`] };
    return { pem, issues: [] };
  } catch (err) {
    return { pem: undefined, issues: [`${path}: ${fileProblem(err, file)}`] };
  }
}

function resolveProbeSettings(
  defaults: Partial<Record<string, ProbeOverride>>,
  overrides: Partial<Record<string, ProbeOverride>>,
  path: string,
  issues: string[],
): Record<string, ProbeSettings> {
  const settings: Record<string, ProbeSettings> = {};
  for (const probe of probeCatalog()) {
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
async function checkCloudflareRanges(file: string): Promise<string[]> {
  try {
    await loadCloudflareRangesFile(file);
    return [];
  } catch (err) {
    // A FileReadError (`/x is not a regular file (a FIFO)`) or a bad line (`/x:3: "..." is not a CIDR range`).
    return [`cloudflare_ranges_file: ${err instanceof Error ? err.message : String(err)}`];
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
