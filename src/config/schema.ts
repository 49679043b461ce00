import { validate as isValidCron } from 'node-cron';
import { z } from 'zod';
import { probeNames } from './probe-catalog.js';
import type { Secret } from './secret.js';
import { formatDuration, parseDuration } from './duration.js';

import { DEFAULT_ENDPOINTS, DEFAULT_LISTEN_ADDRESS } from './defaults.js';

export { DEFAULT_ENDPOINTS, DEFAULT_LISTEN_ADDRESS };

export type Schedule = { readonly kind: 'every'; readonly ms: number } | { readonly kind: 'cron'; readonly expression: string };

/**
 * The longest delay a Node.js timer takes (2^31 - 1 ms, about 24.8 days). A longer one is not
 * refused by Node: it is set to 1 ms with a warning, so an `interval: 30d` would run the probe
 * every millisecond (a billable completion each time) and a `timeout: 30d` would end every run at
 * once. Intervals and timeouts become timers, so they are held to it.
 */
export const MAX_TIMER_MS = 2_147_483_647;
const tooLongForATimer = (text: string): string => `"${text}" is longer than 24d, the longest delay a timer can wait`;

/**
 * A duration's text. YAML reads `timeout: 30` as the number 30, and no unit is assumed (seconds?
 * milliseconds?): the message says what to write instead of zod's "expected string".
 */
const durationText = z.string({
  error: (issue) => (typeof issue.input === 'number' ? bareNumber(issue.input) : undefined),
});

export function bareNumber(n: number): string {
  const example = Number.isInteger(n) && n >= 0 ? `${n}s` : '30s';
  return `${n} is a number; write a duration with a unit, e.g. "${example}"`;
}

/**
 * A duration in ms, at most `maxMs` (beyond MAX_SAFE_INTEGER, arithmetic on it is not exact);
 * `0s` (or `0m`...) only where `allowZero` says that zero means "off".
 */
const durationUpTo = (maxMs: number, tooLong: (text: string) => string, allowZero = false) =>
  durationText.transform((text, ctx) => {
    const ms = parseDuration(text);
    if (ms === undefined || (ms === 0 && !allowZero)) {
      ctx.addIssue({ code: 'custom', message: `"${text}" is not a duration (use e.g. 500ms, 30s, 5m, 1h)` });
      return z.NEVER;
    }
    if (ms > maxMs) {
      ctx.addIssue({ code: 'custom', message: tooLong(text) });
      return z.NEVER;
    }
    return ms;
  });

const duration = durationUpTo(Number.MAX_SAFE_INTEGER, (text) => `"${text}" is too long`);
const timerDuration = durationUpTo(MAX_TIMER_MS, tooLongForATimer);

const schedule = durationText.transform((text, ctx): Schedule => {
  const ms = parseDuration(text);
  if (ms !== undefined && ms > MAX_TIMER_MS) {
    ctx.addIssue({ code: 'custom', message: tooLongForATimer(text) });
    return z.NEVER;
  }
  if (ms !== undefined && ms > 0) return { kind: 'every', ms };
  if (text.trim().includes(' ') && isValidCron(text)) return { kind: 'cron', expression: text };
  ctx.addIssue({ code: 'custom', message: `"${text}" is neither a duration (30s, 5m) nor a cron expression (*/5 * * * *)` });
  return z.NEVER;
});

const probeOverride = z.strictObject({
  enabled: z.boolean().optional(),
  interval: schedule.optional(),
  timeout: timerDuration.optional(),
  /** Whether the probe counts towards gitlab_duo_ready. */
  required: z.boolean().optional(),
});
export type ProbeOverride = z.output<typeof probeOverride>;

// Lazy: the probe names are registered by the catalog after this module loads (probe-catalog.ts).
const probeOverrides = z.lazy(() => z.partialRecord(z.enum(probeNames()), probeOverride)).default({});

const httpUrl = z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' });

// Five digits pass the patterns below; a port past 65535 then failed only at connect or listen
// time (for listen: after the probes had started, so the process never exited).
const PORT_RANGE = 'the port must be 0-65535';
const portInRange = (text: string): boolean => Number(/:(\d+)$/.exec(text)?.[1] ?? 0) <= 65535;

const hostPort = z
  .string()
  .regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, 'must be host:port (no scheme), e.g. duo-workflow-svc.runway.gitlab.net:443')
  .refine(portInRange, PORT_RANGE);

const tls = z.strictObject({
  ca_file: z.string().min(1).optional(),
  insecure_skip_verify: z.boolean().default(false),
});

const proxy = z.strictObject({
  url: z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// proxy URL' }),
  no_proxy: z.array(z.string().min(1)).default([]),
});

const endpoints = z.strictObject({
  customers_portal: httpUrl.default(DEFAULT_ENDPOINTS.customers_portal),
  cloud_connector: httpUrl.default(DEFAULT_ENDPOINTS.cloud_connector),
  duo_workflow_service: hostPort.default(DEFAULT_ENDPOINTS.duo_workflow_service),
  ai_gateway: httpUrl.optional(),
});

const ipAddress = z.union([z.ipv4(), z.ipv6()], { error: 'must be an IPv4 or IPv6 address' });

const thresholds = z.strictObject({
  license_sync_max_age: duration.default(72 * 3_600_000),
  min_version: z
    .string()
    // At most 4 digits a part, as parseVersion reads GitLab's versions: a longer one passed here
    // and then made the version probe fail with `internal` on every run.
    .regex(/^\d{1,4}\.\d{1,4}(\.\d{1,4})?$/, 'must be a version such as "17.2" or "17.2.1"')
    .default('17.2'),
});

const proxyEnv = z.strictObject({
  rails_env_dir: z.string().min(1).default('/opt/gitlab/etc/gitlab-rails/env'),
  workhorse_env_dir: z.string().min(1).default('/opt/gitlab/etc/gitlab-workhorse/env'),
});

const instanceName = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,62}$/, 'must be 1-63 letters, digits, or _ . : - (it becomes the `gitlab` label)');

export const rawInstanceSchema = z.strictObject({
  name: instanceName.optional(),
  url: httpUrl.optional(),
  admin_token: z.string().min(1).optional(),
  admin_token_file: z.string().min(1).optional(),
  duo_user_token: z.string().min(1).optional(),
  duo_user_token_file: z.string().min(1).optional(),
  /** A token with `api` for agent_platform_client (direct_access needs api; docs/configuration.md). */
  agent_platform_token: z.string().min(1).optional(),
  agent_platform_token_file: z.string().min(1).optional(),
  tls: tls.default({ insecure_skip_verify: false }),
  proxy: proxy.optional(),
  endpoints: endpoints.default(DEFAULT_ENDPOINTS),
  resolve: z.record(hostPort, ipAddress).default({}),
  probes: probeOverrides,
  thresholds: thresholds.default({ license_sync_max_age: 72 * 3_600_000, min_version: '17.2' }),
  proxy_env: proxyEnv.default({
    rails_env_dir: '/opt/gitlab/etc/gitlab-rails/env',
    workhorse_env_dir: '/opt/gitlab/etc/gitlab-workhorse/env',
  }),
  /** How Duo is served; `auto` decides from GitLab's answers and the config (docs/configuration.md). */
  deployment: z.enum(['auto', 'cloud', 'self_hosted', 'hybrid']).default('auto'),
  /**
   * A failed run is run again this soon, once, so that a failure is confirmed before it pages
   * (consecutive_failures 2); never later than the probe's next scheduled run. `0s`: no re-check.
   */
  recheck_after: durationUpTo(MAX_TIMER_MS, tooLongForATimer, true).default(60_000),
});
export type RawInstance = z.output<typeof rawInstanceSchema>;

const logLevel = z.enum(['debug', 'info', 'warn', 'error']);
const logFormat = z.enum(['json', 'logfmt', 'pretty']);

export const rawConfigSchema = z.strictObject({
  instances: z.array(rawInstanceSchema).min(1, 'needs at least one instance'),
  defaults: z.strictObject({ probes: probeOverrides }).default({ probes: {} }),
  web: z
    .strictObject({
      listen_address: z
        .string()
        .regex(/^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]*):\d{1,5}$/, 'must be [host]:port')
        .refine(portInRange, PORT_RANGE)
        .default(DEFAULT_LISTEN_ADDRESS),
      /**
       * Host header values the status page and the reports answer to (`host` or `host:port`);
       * empty: any. Keeps a DNS-rebinding page from reading them through a visitor's browser.
       */
      allowed_hosts: z
        .array(z.string().regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?$/, 'must be a host name or IP, optionally with :port'))
        .max(100)
        .default([]),
    })
    .default({ listen_address: DEFAULT_LISTEN_ADDRESS, allowed_hosts: [] }),
  log: z.strictObject({ level: logLevel.default('info'), format: logFormat.default('json') }).default({ level: 'info', format: 'json' }),
  scheduler: z
    .strictObject({
      /** Runs in flight at once across all instances; the rest wait their turn. */
      max_concurrency: z.int().min(1).max(1000).default(16),
      /** First runs start after a random delay up to min(interval, this), to spread the load. */
      max_start_jitter: durationUpTo(Number.MAX_SAFE_INTEGER, (text) => `"${text}" is too long`, true).default(10_000),
    })
    .default({ max_concurrency: 16, max_start_jitter: 10_000 }),
  /** A newer copy of Cloudflare's published ranges (one CIDR a line); default: the bundled file. */
  cloudflare_ranges_file: z.string().min(1).optional(),
});
export type RawConfig = z.output<typeof rawConfigSchema>;

export type LogLevel = z.output<typeof logLevel>;
export type LogFormat = z.output<typeof logFormat>;

/** The effective settings of one probe on one instance, after defaults and overrides. */
export interface ProbeSettings {
  readonly enabled: boolean;
  readonly schedule: Schedule;
  readonly timeoutMs: number;
  /** `required:` from the config; undefined leaves it to the deployment profile (plan.ts). */
  readonly required: boolean | undefined;
}

/** A token file: read at load to validate it, and again at every run that uses it (config/tokens.ts). */
export interface TokenFile {
  readonly path: string;
  /** The setting as the user wrote it, for messages: `admin_token_file`, `GITLAB_ADMIN_TOKEN_FILE`. */
  readonly setting: string;
}

/** One instance after validation: tokens read, names settled. */
export interface InstanceConfig extends Omit<RawInstance, 'admin_token' | 'admin_token_file' | 'duo_user_token' | 'duo_user_token_file' | 'agent_platform_token' | 'agent_platform_token_file' | 'name'> {
  readonly name: string;
  /** The token; from a file, the value read at load (a run reads the file again). */
  readonly adminToken: Secret | undefined;
  readonly duoUserToken: Secret | undefined;
  readonly agentPlatformToken?: Secret | undefined;
  /** Where adminToken / duoUserToken come from when they come from a file. */
  readonly adminTokenFile?: TokenFile;
  readonly duoUserTokenFile?: TokenFile;
  readonly agentPlatformTokenFile?: TokenFile;
  /** PEM text of tls.ca_file, read at load time. */
  readonly caPem: string | undefined;
  readonly probeSettings: Readonly<Record<string, ProbeSettings>>;
}

export interface Config {
  readonly instances: readonly InstanceConfig[];
  readonly web: RawConfig['web'];
  readonly log: RawConfig['log'];
  readonly scheduler: RawConfig['scheduler'];
  readonly cloudflareRangesFile: string | undefined;
  /** Where the config came from, for logs: a path, or "environment". */
  readonly source: string;
}

export function describeSchedule(schedule: Schedule): string {
  return schedule.kind === 'every' ? `every ${formatDuration(schedule.ms)}` : `cron "${schedule.expression}"`;
}
