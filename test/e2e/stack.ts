/**
 * The whole monitoring path on loopback, for the end-to-end alerting test: the simulator, the
 * exporter probing it (in this process), a real Prometheus loading the shipped rules on a faster
 * clock, a real Alertmanager with the example's routing and inhibition, and a webhook receiver.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { parse, stringify } from 'yaml';
import { startApp, type App } from '../../src/app.js';
import { parseDuration } from '../../src/config/duration.js';
import { parseConfigText } from '../../src/config/load.js';
import { PROBE_NAMES } from '../../src/probes/index.js';
import { exporterInstanceConfig, startSimulator, type Simulator } from '../../src/simulator/index.js';
import { JOB_SELECTOR, RULES_FILE, readText, readYaml } from '../assets/helpers.js';
import { requireCommands, startDaemon, type Daemon } from './daemon.js';
import { startWebhook, type Webhook } from './webhook.js';

export const PROMETHEUS_EXAMPLE = 'alerts/prometheus.example.yml';
export const ALERTMANAGER_EXAMPLE = 'alerts/alertmanager.example.yml';
/** The scrape job the shipped rules select on (job="gitlab-duo-exporter"). */
export const JOB = /^job="([^"]+)"$/.exec(JOB_SELECTOR)?.[1] ?? 'gitlab-duo-exporter';
/** The exporter's instance name: the `gitlab` label of every series. */
export const INSTANCE = 'simulator';

/**
 * The test's clock runs 60 times faster than the shipped rules': every `for`, range window and group
 * interval is divided by 60 (`for: 5m` → 5 s, `[30m]` → 30 s, `[1h]` → 1 m), so the `for` ladder of
 * the rules (2m < 3m < 5m < 10m < 15m) keeps its order. The exporter's own timers are set on the
 * same clock: probes every 2 s, a re-check 1 s after a first failure (RECHECK_AFTER, 1m in
 * production). Thresholds (26 h, 72 h, 14 d) are not touched: the simulator's data is made to cross
 * them.
 */
export const TIME_SCALE = 60;

// Probes run every 2 s (Prometheus scrapes every second), so a scenario switch shows within
// seconds. code_suggestions gets room for the simulator's slow gateway (SLOW_DELAY_MS): it then
// succeeds slowly, which is what GitLabDuoCodeSuggestionsSlow is about.
export const PROBE_SCHEDULE = { interval: '2s', timeout: '1500ms' };
/**
 * A first failed run is run again this much later (the instance's recheck_after; 1m in production,
 * 1 s here, the same step on the test's clock). Shorter than the probes' 2 s interval, so it is a
 * real re-check and not the next scheduled run: a failure is confirmed (consecutive_failures 2),
 * and the failure alerts can fire, 1 s after the first failed run.
 */
export const RECHECK_AFTER = '1s';
export const CODE_SUGGESTIONS_SCHEDULE = { interval: '5s', timeout: '4500ms' };
/** Above the 3 s threshold of GitLabDuoCodeSuggestionsSlow (and GitLab's 3 s end_to_end_probe). */
export const SLOW_DELAY_MS = 3500;

/** Alertmanager's grouping timers for the test; the example's are 30s / 5m. */
const GROUP_WAIT = '1s';
const GROUP_INTERVAL = '2s';

export interface Stack {
  readonly sim: Simulator;
  readonly app: App;
  readonly prometheus: Daemon;
  readonly alertmanager: Daemon;
  readonly webhook: Webhook;
  /** The exporter's scrape target, host:port: the `instance` label of its series. */
  readonly target: string;
  /** The Omnibus env folder of "Rails" that the proxy_env probe reads. */
  readonly railsEnvDir: string;
  /** Daemon logs, for failure messages. */
  logs(): string;
  /** Stops everything that was started and removes the temp folder; safe to call twice. */
  stop(): Promise<void>;
}

/** A Prometheus duration divided by TIME_SCALE, e.g. 30m → 30s, 1h → 60s, 30s → 500ms. */
export function scaledDuration(text: string): string {
  const ms = parseDuration(text);
  if (ms === undefined) throw new Error(`not a duration: "${text}"`);
  const scaled = Math.round(ms / TIME_SCALE);
  return scaled % 1000 === 0 ? `${scaled / 1000}s` : `${scaled}ms`;
}

interface RuleFile {
  groups: { name: string; interval?: string; rules: { expr: string; for?: string; alert?: string; record?: string }[] }[];
}

/**
 * The shipped rules file on the test's clock. Only durations change: `for`, group `interval` and
 * range selectors. A construct this does not know how to scale (offset, subquery) is an error, not
 * a silent mismatch.
 */
export function scaledRules(text: string): string {
  const file = parse(text) as RuleFile;
  for (const group of file.groups) {
    if (group.interval !== undefined) group.interval = scaledDuration(group.interval);
    for (const rule of group.rules) {
      if (rule.for !== undefined) rule.for = scaledDuration(rule.for);
      if (/\boffset\b|@/.test(rule.expr)) throw new Error(`${rule.alert ?? rule.record}: cannot rescale offset or @ modifiers`);
      rule.expr = rule.expr.replace(/\[([^\]]*)\]/g, (_, range: string) => `[${scaledDuration(range.trim())}]`);
    }
  }
  return stringify(file);
}

/** One target group of a scrape job: a fleet labels each node's exporter with its `instance`. */
export interface StaticConfig {
  readonly targets: readonly string[];
  readonly labels?: Readonly<Record<string, string>>;
}

interface PrometheusConfig {
  global?: Record<string, unknown>;
  rule_files?: string[];
  alerting?: { alertmanagers?: { static_configs?: { targets: string[] }[] }[] };
  scrape_configs?: { job_name: string; scrape_timeout?: string; static_configs?: readonly StaticConfig[] }[];
}

/** alerts/prometheus.example.yml with the test's clock, files and loopback addresses. */
export function prometheusConfig(rulesFile: string, alertmanager: string, targets: readonly StaticConfig[]): string {
  const config = readYaml(PROMETHEUS_EXAMPLE) as PrometheusConfig;
  config.global = { ...config.global, scrape_interval: '1s', scrape_timeout: '1s', evaluation_interval: '1s' };
  config.rule_files = [rulesFile];
  const am = config.alerting?.alertmanagers?.[0]?.static_configs?.[0];
  if (!am) throw new Error(`${PROMETHEUS_EXAMPLE}: no Alertmanager target`);
  am.targets = [alertmanager];
  const job = config.scrape_configs?.find((j) => j.job_name === JOB);
  if (!job) throw new Error(`${PROMETHEUS_EXAMPLE}: no scrape job named ${JOB} (the rules select ${JOB_SELECTOR})`);
  job.scrape_timeout = '1s';
  job.static_configs = targets;
  return stringify(config);
}

interface AlertmanagerRoute {
  group_wait?: string;
  group_interval?: string;
  routes?: AlertmanagerRoute[];
}

interface AlertmanagerConfig {
  route: AlertmanagerRoute;
  receivers: ({ name: string } & Record<string, unknown>)[];
}

/**
 * alerts/alertmanager.example.yml with its routes and inhibit_rules as they are, short grouping
 * timers, and each receiver that sends somewhere (pager, ticket) swapped for the webhook at
 * /<receiver name>. Receivers that send nowhere ("null") stay so.
 */
export function alertmanagerConfig(webhookUrl: string): string {
  const config = readYaml(ALERTMANAGER_EXAMPLE) as AlertmanagerConfig;
  const shorten = (route: AlertmanagerRoute, root: boolean) => {
    if (root || route.group_wait !== undefined) route.group_wait = GROUP_WAIT;
    if (root || route.group_interval !== undefined) route.group_interval = GROUP_INTERVAL;
    for (const child of route.routes ?? []) shorten(child, false);
  };
  shorten(config.route, true);
  config.receivers = config.receivers.map((r) =>
    Object.keys(r).some((k) => k.endsWith('_configs'))
      ? { name: r.name, webhook_configs: [{ url: `${webhookUrl}/${r.name}`, send_resolved: true }] }
      : { name: r.name },
  );
  return stringify(config);
}

/** The Omnibus env folders of "Rails" and "Workhorse" that the proxy_env probe reads, created empty. */
export function omnibusNode(dir: string): { proxyEnv: { rails_env_dir: string; workhorse_env_dir: string } } {
  const proxyEnv = { rails_env_dir: join(dir, 'gitlab-rails', 'env'), workhorse_env_dir: join(dir, 'gitlab-workhorse', 'env') };
  for (const d of Object.values(proxyEnv)) mkdirSync(d, { recursive: true });
  return { proxyEnv };
}

/**
 * An exporter in this process for one instance, configured the way a user would: YAML text →
 * parseConfigText → startApp, on the test's clock. No proxy from this process's environment: the
 * test only talks to 127.0.0.1 (an instance may name its own `proxy`).
 */
export async function startExporter(instance: Readonly<Record<string, unknown>>): Promise<App> {
  const yaml = stringify({
    instances: [{ ...instance, recheck_after: RECHECK_AFTER }],
    defaults: { probes: Object.fromEntries(PROBE_NAMES.map((p) => [p, p === 'code_suggestions' ? CODE_SUGGESTIONS_SCHEDULE : PROBE_SCHEDULE])) },
    web: { listen_address: '127.0.0.1:0' },
  });
  const config = () => parseConfigText(yaml, 'e2e.yaml', { env: {} });
  return startApp({
    config: await config(),
    configPath: undefined,
    logger: pino({ level: 'silent' }),
    env: {},
    listenAddress: '127.0.0.1:0',
    maxStartJitterMs: 500,
    reloadSource: config,
  });
}

export const PROMETHEUS = { command: 'prometheus', debianPackage: 'prometheus' };
export const ALERTMANAGER = { command: 'prometheus-alertmanager', debianPackage: 'prometheus-alertmanager' };

/** A real Alertmanager with the example's routes and inhibit rules, sending to the webhook. */
export async function startAlertmanager(dir: string, webhookUrl: string): Promise<Daemon> {
  mkdirSync(dir);
  writeFileSync(join(dir, 'alertmanager.yml'), alertmanagerConfig(webhookUrl));
  return startDaemon({
    ...ALERTMANAGER,
    args: (port) => [`--config.file=${join(dir, 'alertmanager.yml')}`, `--storage.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--cluster.listen-address='],
  });
}

/** A real Prometheus loading the shipped rules on the test's clock, scraping the job's targets. */
export async function startPrometheus(dir: string, alertmanager: Daemon, targets: readonly StaticConfig[]): Promise<Daemon> {
  mkdirSync(dir);
  const rulesFile = join(dir, 'gitlab-duo.rules.yml');
  writeFileSync(rulesFile, scaledRules(readText(RULES_FILE)));
  writeFileSync(join(dir, 'prometheus.yml'), prometheusConfig(rulesFile, new URL(alertmanager.url).host, targets));
  return startDaemon({
    ...PROMETHEUS,
    args: (port) => [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'],
  });
}

export async function startStack(): Promise<Stack> {
  requireCommands([PROMETHEUS, ALERTMANAGER]);
  const closers: (() => Promise<void> | void)[] = [];
  const daemons: Daemon[] = [];
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    for (const close of closers.splice(0).reverse()) {
      await Promise.resolve()
        .then(close)
        .catch((err: unknown) => console.error('e2e cleanup:', err));
    }
  };

  try {
    const dir = mkdtempSync(join(tmpdir(), 'gitlab-duo-e2e-'));
    closers.push(() => rmSync(dir, { recursive: true, force: true }));

    const webhook = await startWebhook();
    closers.push(() => webhook.close());

    const sim = await startSimulator({ slowDelayMs: SLOW_DELAY_MS });
    closers.push(() => sim.close());

    const caFile = join(dir, 'simulator-ca.pem');
    writeFileSync(caFile, sim.caPem, { mode: 0o600 });
    const node = omnibusNode(join(dir, 'omnibus'));
    const app = await startExporter({ ...exporterInstanceConfig(sim, caFile, INSTANCE), proxy_env: node.proxyEnv });
    closers.push(() => app.stop());
    const target = new URL(app.url()).host;
    const railsEnvDir = node.proxyEnv.rails_env_dir;

    const alertmanager = await startAlertmanager(join(dir, 'alertmanager'), webhook.url);
    daemons.push(alertmanager);
    closers.push(() => alertmanager.stop());

    const prometheus = await startPrometheus(join(dir, 'prometheus'), alertmanager, [{ targets: [target] }]);
    daemons.push(prometheus);
    closers.push(() => prometheus.stop());

    return { sim, app, prometheus, alertmanager, webhook, target, railsEnvDir, logs: () => daemons.map((d) => d.log()).join('\n'), stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
