import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { Config } from './config/schema.js';
import { loadConfig } from './config/source.js';
import type { Env } from './core/env.js';
import { listen, parseListenAddress } from './http/listen.js';
import { createHttpServer } from './http/server.js';
import { WebConfigWatcher } from './http/web/watcher.js';
import { createMetrics, type ExporterMetrics } from './metrics/registry.js';
import type { Plan } from './runner/plan.js';
import { Runtime } from './runner/runtime.js';
import type { RunNowAnswer } from './runner/scheduler.js';
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
 * Composition root: binds the port first (a port in use is reported before anything is detected,
 * planned or run), then starts the runtime (detection, plan, scheduler, reloads) and hands the HTTP
 * server the store, the metrics and the runtime. Requests wait until the plan is made.
 */
export async function startApp(options: AppOptions): Promise<App> {
  const { logger } = options;
  const env = options.env ?? process.env;
  const webConfig = options.webConfigFile ? await WebConfigWatcher.load(options.webConfigFile, logger) : undefined;
  const listenAddress = options.listenAddress ?? options.config.web.listen_address;
  parseListenAddress(listenAddress);
  let runtime: Runtime | undefined;
  const running = (): Runtime => runtime ?? fail('the runtime is not started');
  const store = new ResultStore();
  const metrics = createMetrics({ store, plan: () => running().plan() });
  const startup = gate();
  const server = createHttpServer(
    {
      metrics,
      store,
      plan: () => running().plan(),
      reload: () => running().reload(),
      runNow: (probe, gitlab) => running().runNow(probe, gitlab),
      lifecycle: options.enableLifecycle ?? false,
      logger,
      ready: startup.ready,
    },
    webConfig,
  );
  await listen(server, listenAddress);
  try {
    runtime = await Runtime.start({
      config: options.config,
      env,
      logger,
      store,
      readConfig: options.reloadSource ?? (() => loadConfig(options.configPath, { env, warn: (m) => logger.warn(m) })),
      onConfigLoad: (success) => metrics.reloaded(success),
      maxStartJitterMs: options.maxStartJitterMs,
      capabilityRefreshMs: options.capabilityRefreshMs,
      detectTimeoutMs: options.detectTimeoutMs,
    });
  } catch (err) {
    startup.fail();
    await closeServer(server);
    throw err;
  }
  startup.open();
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  logger.info({ address: `${host}:${address.port}` }, 'listening');
  const started = runtime;
  return {
    store,
    metrics,
    server,
    plan: () => started.plan(),
    url: () => `${webConfig?.current.tls ? 'https' : 'http'}://${host === '[::]' || host === '0.0.0.0' ? '127.0.0.1' : host}:${address.port}`,
    reload: () => started.reload(),
    runNow: (probe, gitlab) => started.runNow(probe, gitlab),
    async stop() {
      await started.stop();
      await closeServer(server);
    },
  };
}

function fail(message: string): never {
  throw new Error(message);
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
