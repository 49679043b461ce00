import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { Config } from './config/schema.js';
import { loadConfig } from './config/source.js';
import type { Env } from './config/substitute.js';
import { ConfigError } from './errors.js';
import { listen, parseListenAddress } from './http/listen.js';
import { createHttpServer } from './http/server.js';
import { WebConfigWatcher } from './http/tls-server.js';
import { createMetrics, type ExporterMetrics } from './metrics/registry.js';
import { loadCloudflareRanges } from './net/cloudflare.js';
import { Limiter } from './runner/limiter.js';
import { newDetector, REFRESH_INTERVAL_MS } from './runner/detector.js';
import { buildPlan, scheduled, type DetectedCapabilities, type Plan } from './runner/plan.js';
import type { ProbeResult } from './runner/result.js';
import { Scheduler, type RunNowAnswer } from './runner/scheduler.js';
import { ResultStore } from './runner/store.js';

export interface AppOptions {
  readonly config: Config;
  /** Re-read on reload; undefined means the environment. */
  readonly configPath: string | undefined;
  readonly logger: Logger;
  readonly env?: Env;
  /** Overrides web.listen_address (the command-line flag). */
  readonly listenAddress?: string;
  /** --web.config.file: exporter-toolkit TLS / basic auth / headers file (ConfigError if invalid). */
  readonly webConfigFile?: string;
  readonly maxStartJitterMs?: number;
  /** Where a reload reads the config from, when not `configPath` (the demo's generated config). */
  readonly reloadSource?: () => Config | Promise<Config>;
  /** How often GitLab's capabilities are read again; default REFRESH_INTERVAL_MS. */
  readonly capabilityRefreshMs?: number;
  /** How long one instance's capability detection may take; default DETECT_TIMEOUT_MS. */
  readonly detectTimeoutMs?: number;
  /** `--web.enable-lifecycle`: POST /-/reload reloads (otherwise 403; SIGHUP always works). */
  readonly enableLifecycle?: boolean;
}

export interface App {
  readonly store: ResultStore;
  readonly metrics: ExporterMetrics;
  readonly server: Server;
  plan(): Plan;
  /** The address the HTTP server listens on, e.g. http://127.0.0.1:10420. */
  url(): string;
  /** Re-reads the config; on error keeps the running one and returns the message. */
  reload(): Promise<string | undefined>;
  /** Runs the named probe (or `all`) now on every instance, or on `gitlab` only. */
  runNow(probe: string, gitlab?: string): Promise<RunNowAnswer[]>;
  stop(): Promise<void>;
}

/**
 * The least time between two runs of one probe asked for over HTTP: a button pressed twice, or a
 * script in a loop, cannot turn the exporter into a load generator against GitLab (the completion
 * and health-check probes cost GitLab real work).
 */
export const RUN_NOW_MIN_GAP_MS = 10_000;

/** Composition root: config → HTTP (bound) → plan → store/metrics → scheduler. No logic of its own. */
export async function startApp(options: AppOptions): Promise<App> {
  const { logger } = options;
  const env = options.env ?? process.env;
  const webConfig = options.webConfigFile ? await WebConfigWatcher.load(options.webConfigFile, logger) : undefined;
  const listenAddress = options.listenAddress ?? options.config.web.listen_address;
  parseListenAddress(listenAddress);
  let plan: Plan;
  const store = new ResultStore();
  const metrics = createMetrics({ store, plan: () => plan });
  // The port is bound first: a port in use is reported before anything is detected, planned or
  // run. Requests wait until the plan is made (startup.open), within the detection's deadline.
  const startup = gate();
  const server = createHttpServer({ metrics, store, plan: () => plan, reload, runNow, lifecycle: options.enableLifecycle ?? false, logger, ready: startup.ready }, webConfig);
  await listen(server, listenAddress);
  const detector = newDetector(env, logger, options.detectTimeoutMs);
  try {
    // What GitLab offers decides which probes apply and how they ask: learnt before the first run.
    plan = compile(options.config, env, await detector.detectAll(options.config));
  } catch (err) {
    startup.fail();
    await closeServer(server);
    throw err;
  }
  metrics.reloaded(true);
  const limiter = new Limiter(plan.config.scheduler.max_concurrency);
  const scheduler = new Scheduler(scheduled(plan), {
    limiter,
    logger,
    maxStartJitterMs: maxStartJitter(plan),
    onResult: (_planned, result) => recordResult(result),
    onSkip: (planned) => store.countSkipped(planned.instance.name, planned.probe.name),
  });
  scheduler.start();
  logPlan(plan, logger);

  function maxStartJitter(current: Plan): number {
    return options.maxStartJitterMs ?? current.config.scheduler.max_start_jitter;
  }

  function recordResult(result: ProbeResult): void {
    const previous = store.get(result.instance, result.probe)?.last;
    store.record(result);
    metrics.probes.observe(result);
    logTransition(previous, result, logger);
    if (versionChanged(plan, result)) void serial(() => redetect('GitLab reports a new version'));
  }

  // Reloads and re-detections replace the plan one at a time.
  let queue: Promise<unknown> = Promise.resolve();
  function serial<T>(work: () => Promise<T>): Promise<T> {
    const next = queue.then(work);
    queue = next.catch(() => undefined);
    return next;
  }

  /** Unchanged probes keep their schedule and last result; changed and new ones start afresh. */
  async function swapPlan(next: Plan): Promise<void> {
    plan = next;
    limiter.resize(next.config.scheduler.max_concurrency);
    const { kept, started } = await scheduler.update(scheduled(next), maxStartJitter(next));
    for (const key of store.retain(new Set(scheduled(next).map((p) => p.key)))) {
      const [instance, probe] = key.split('\u0000') as [string, string];
      metrics.probes.forget(instance, probe);
    }
    logPlan(next, logger);
    logger.info({ kept, started }, 'probe schedules updated: unchanged probes kept their schedule');
  }

  /** Reads GitLab's capabilities again; a changed profile or capability set re-plans the probes. */
  async function redetect(why: string): Promise<void> {
    const next = compile(plan.config, env, await detector.detectAll(plan.config));
    if (environmentSignature(next) === environmentSignature(plan)) {
      plan = { ...plan, environments: next.environments };
      return;
    }
    logger.info({ why }, 'GitLab capabilities or deployment profile changed: re-planning the probes');
    await swapPlan(next);
  }

  async function reload(): Promise<string | undefined> {
    return serial(async () => {
      let fresh: Config;
      try {
        fresh = await (options.reloadSource ? options.reloadSource() : loadConfig(options.configPath, { env, warn: (m) => logger.warn(m) }));
        compile(fresh, env, new Map());
      } catch (err) {
        metrics.reloaded(false);
        const message = err instanceof Error ? err.message : String(err);
        logger.error({ issues: err instanceof ConfigError ? err.issues : undefined }, `config reload refused, keeping the running config: ${message}`);
        return message;
      }
      await swapPlan(compile(fresh, env, await detector.detectAll(fresh)));
      metrics.reloaded(true);
      logger.info({ source: fresh.source }, 'config reloaded');
      return undefined;
    });
  }

  /** The matching planned probes, in plan order, each run at once (concurrently, within the limiter). */
  async function runNow(probe: string, gitlab?: string): Promise<RunNowAnswer[]> {
    const matching = plan.probes.filter((p) => (probe === 'all' || p.probe.name === probe) && (gitlab === undefined || p.instance.name === gitlab));
    return Promise.all(
      matching.map(async (p): Promise<RunNowAnswer> => {
        const who = { gitlab: p.instance.name, probe: p.probe.name };
        if (p.skippedBecause !== undefined) return { ...who, outcome: { kind: 'skipped', why: p.skippedBecause } };
        return { ...who, outcome: await scheduler.runNow(p.key, RUN_NOW_MIN_GAP_MS) };
      }),
    );
  }

  const refreshTimer = setInterval(() => void serial(() => redetect('periodic refresh')), options.capabilityRefreshMs ?? REFRESH_INTERVAL_MS);
  refreshTimer.unref();

  startup.open();
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  logger.info({ address: `${host}:${address.port}` }, 'listening');

  return {
    store,
    metrics,
    server,
    plan: () => plan,
    url: () => `${webConfig?.current.tls ? 'https' : 'http'}://${host === '[::]' || host === '0.0.0.0' ? '127.0.0.1' : host}:${address.port}`,
    reload,
    runNow,
    async stop() {
      clearInterval(refreshTimer);
      await scheduler.stop(5000);
      await closeServer(server);
    },
  };
}

function closeServer(server: Server): Promise<void> {
  return new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

/** A promise that requests wait on: resolved once startup is done, rejected if it failed. */
function gate(): { ready: Promise<void>; open(): void; fail(): void } {
  let open = (): void => undefined;
  let fail = (): void => undefined;
  const ready = new Promise<void>((resolve, reject) => {
    open = resolve;
    fail = () => reject(new Error('startup failed'));
  });
  // Nobody may be waiting when startup fails: that rejection is expected, not unhandled.
  ready.catch(() => undefined);
  return { ready, open, fail };
}

function compile(config: Config, env: Env, detected: DetectedCapabilities): Plan {
  const cloudflare = loadCloudflareRanges(config.cloudflareRangesFile);
  return buildPlan(config, cloudflare, env, detected);
}

/** What of the environments changes the plan: the profiles, capability flags, Agent Platform use. */
function environmentSignature(plan: Plan): string {
  return JSON.stringify([...plan.environments].map(([name, e]) => [name, e.deployment, e.deploymentSource, e.flags, e.agentPlatform.inUse]));
}

/** A successful `version` run that reports another version than the one the plan was made for. */
function versionChanged(plan: Plan, result: ProbeResult): boolean {
  if (result.probe !== 'version' || !result.success) return false;
  const known = plan.environments.get(result.instance)?.capabilities?.version;
  const seen = result.facts.find((f) => f.name === 'gitlab_duo_gitlab_info')?.labels?.version;
  return known !== undefined && seen !== undefined && !seen.startsWith(`${known.major}.${known.minor}.${known.patch}`);
}

function logPlan(plan: Plan, logger: Logger): void {
  for (const instance of plan.config.instances) {
    const probes = plan.probes.filter((p) => p.instance === instance);
    const running = probes.filter((p) => p.skippedBecause === undefined).map((p) => p.probe.name);
    const skipped = probes.filter((p) => p.skippedBecause !== undefined).map((p) => `${p.probe.name} (${p.skippedBecause})`);
    if (!instance.url) logger.info({ instance: instance.name }, 'no GitLab URL configured: running the network probes only (set GITLAB_URL or a config file for the instance probes)');
    logger.info({ instance: instance.name, probes: running, skipped }, 'probes scheduled');
  }
}

/** State changes only: up→down at warn, down→up at info; every run at debug. */
function logTransition(previous: ProbeResult | undefined, result: ProbeResult, logger: Logger): void {
  const fields = { instance: result.instance, probe: result.probe, target: result.target, duration_seconds: result.durationSeconds };
  logger.debug({ ...fields, success: result.success, reason: result.reason, message: result.message, phases: result.phases }, 'probe run');
  if (!result.success && (previous === undefined || previous.success)) logger.warn({ ...fields, reason: result.reason }, `probe failing: ${result.message}`);
  else if (result.success && previous !== undefined && !previous.success) logger.info(fields, 'probe recovered');
}
