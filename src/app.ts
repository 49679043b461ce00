import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { Config } from './config/schema.js';
import { loadConfig } from './config/source.js';
import type { Env } from './config/substitute.js';
import { ConfigError } from './errors.js';
import { createHttpServer } from './http/server.js';
import { WebConfigWatcher } from './http/tls-server.js';
import { createMetrics, type ExporterMetrics } from './metrics/registry.js';
import { loadCloudflareRanges } from './net/cloudflare.js';
import { Limiter } from './runner/limiter.js';
import { buildPlan, scheduled, type Plan } from './runner/plan.js';
import type { ProbeResult } from './runner/result.js';
import { Scheduler } from './runner/scheduler.js';
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
  readonly reloadSource?: () => Config;
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
  stop(): Promise<void>;
}

/** Composition root: config → plan → store/metrics → scheduler → HTTP. No logic of its own. */
export async function startApp(options: AppOptions): Promise<App> {
  const { logger } = options;
  const env = options.env ?? process.env;
  const webConfig = options.webConfigFile ? WebConfigWatcher.load(options.webConfigFile, logger) : undefined;
  let plan = compile(options.config, env);
  const listenAddress = options.listenAddress ?? plan.config.web.listen_address;
  // Checked before the probes start: a bad address must not leave them running with no server.
  parseListenAddress(listenAddress);
  const store = new ResultStore();
  const metrics = createMetrics({ store, plan: () => plan });
  metrics.reloaded(true);
  let scheduler = startScheduler(plan);

  function startScheduler(current: Plan): Scheduler {
    const s: Scheduler = new Scheduler(scheduled(current), {
      limiter: new Limiter(current.config.scheduler.max_concurrency),
      logger,
      maxStartJitterMs: options.maxStartJitterMs ?? current.config.scheduler.max_start_jitter,
      onResult: (_planned, result) => {
        if (s === scheduler) recordResult(result);
      },
      onSkip: (planned) => store.countSkipped(planned.instance.name, planned.probe.name),
    });
    s.start();
    logPlan(current, logger);
    return s;
  }

  function recordResult(result: ProbeResult): void {
    const previous = store.get(result.instance, result.probe)?.last;
    store.record(result);
    metrics.probes.observe(result);
    logTransition(previous, result, logger);
  }

  async function reload(): Promise<string | undefined> {
    let next: Plan;
    try {
      const fresh = options.reloadSource ? options.reloadSource() : loadConfig(options.configPath, { env, warn: (m) => logger.warn(m) });
      next = compile(fresh, env);
    } catch (err) {
      metrics.reloaded(false);
      const message = err instanceof Error ? err.message : String(err);
      logger.error({ issues: err instanceof ConfigError ? err.issues : undefined }, `config reload refused, keeping the running config: ${message}`);
      return message;
    }
    const old = scheduler;
    plan = next;
    scheduler = startScheduler(next);
    for (const key of store.retain(new Set(scheduled(next).map((p) => p.key)))) {
      const [instance, probe] = key.split('\u0000') as [string, string];
      metrics.probes.forget(instance, probe);
    }
    metrics.reloaded(true);
    logger.info({ source: next.config.source }, 'config reloaded');
    await old.stop(0);
    return undefined;
  }

  const server = createHttpServer({ metrics, store, plan: () => plan, reload, logger }, webConfig);
  try {
    await listen(server, listenAddress);
  } catch (err) {
    // Nothing would serve /metrics: stop the probes too, or their timers keep the process alive,
    // probing headless, while its caller has already reported the failure (exit code 2).
    await scheduler.stop(0);
    const code = (err as NodeJS.ErrnoException).code ?? (err instanceof Error ? err.message : String(err));
    throw new ConfigError([`web.listen_address: cannot listen on ${listenAddress}: ${code}`], options.listenAddress ? 'command line' : plan.config.source);
  }
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
    async stop() {
      await scheduler.stop(5000);
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

function compile(config: Config, env: Env): Plan {
  const cloudflare = loadCloudflareRanges(config.cloudflareRangesFile);
  return buildPlan(config, cloudflare, env);
}

export function parseListenAddress(address: string): { host: string | undefined; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(address);
  if (!match) throw new ConfigError([`web.listen_address: "${address}" must be [host]:port`], 'command line');
  const port = Number(match[3]);
  if (port > 65535) throw new ConfigError([`web.listen_address: "${address}": the port must be 0-65535`], 'command line');
  return { host: match[1] ?? (match[2] || undefined), port };
}

function listen(server: Server, address: string): Promise<void> {
  const { host, port } = parseListenAddress(address);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
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
