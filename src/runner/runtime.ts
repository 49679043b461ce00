import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import type { Env } from '../core/env.js';
import { ConfigError } from '../core/errors.js';
import { loadCloudflareRanges } from '../net/cloudflare.js';
import { Limiter } from './limiter.js';
import { newDetector, REFRESH_INTERVAL_MS, type CapabilityDetector } from './detector.js';
import { buildPlan, scheduled, type DetectedCapabilities, type Plan } from './plan.js';
import type { ProbeResult } from './result.js';
import { Scheduler, type RunNowAnswer } from './scheduler.js';
import type { ResultStore } from './store.js';

/**
 * The least time between two runs of one probe asked for over HTTP: a button pressed twice, or a
 * script in a loop, cannot turn the exporter into a load generator against GitLab (the completion
 * and health-check probes cost GitLab real work).
 */
export const RUN_NOW_MIN_GAP_MS = 10_000;

export interface RuntimeOptions {
  readonly config: Config;
  readonly env: Env;
  readonly logger: Logger;
  /** Where every run's result goes (the one owner of results: metrics and reports read it). */
  readonly store: ResultStore;
  /** What a reload reads: the config file again, or the demo's generated config. */
  readonly readConfig: () => Config | Promise<Config>;
  /** Told of every config load, the first one included (gitlab_duo_exporter_config_last_reload_*). */
  readonly onConfigLoad: (success: boolean) => void;
  readonly maxStartJitterMs?: number;
  /** How often GitLab's capabilities are read again; default REFRESH_INTERVAL_MS. */
  readonly capabilityRefreshMs?: number;
  /** How long one instance's capability detection may take; default DETECT_TIMEOUT_MS. */
  readonly detectTimeoutMs?: number;
}

/**
 * The running exporter's lifecycle: detection, the plan, the scheduler, reloads and re-detections
 * (one at a time), run-now. It writes results to the store; it knows nothing of HTTP or metrics.
 */
export class Runtime {
  readonly #options: RuntimeOptions;
  readonly #detector: CapabilityDetector;
  readonly #limiter: Limiter;
  readonly #scheduler: Scheduler;
  readonly #refreshTimer: NodeJS.Timeout;
  #plan: Plan;
  // Reloads and re-detections replace the plan one at a time.
  #queue: Promise<unknown> = Promise.resolve();

  /** Detects what each GitLab offers (before the first run: it decides which probes apply), plans, starts. */
  static async start(options: RuntimeOptions): Promise<Runtime> {
    const detector = newDetector(options.env, options.logger, options.detectTimeoutMs);
    const plan = compile(options.config, options.env, await detector.detectAll(options.config));
    options.onConfigLoad(true);
    return new Runtime(options, detector, plan);
  }

  private constructor(options: RuntimeOptions, detector: CapabilityDetector, plan: Plan) {
    this.#options = options;
    this.#detector = detector;
    this.#plan = plan;
    this.#limiter = new Limiter(plan.config.scheduler.max_concurrency);
    this.#scheduler = new Scheduler(scheduled(plan), {
      limiter: this.#limiter,
      logger: options.logger,
      maxStartJitterMs: this.#maxStartJitter(plan),
      onResult: (_planned, result) => this.#record(result),
      onSkip: (planned) => options.store.countSkipped(planned.instance.name, planned.probe.name),
    });
    this.#scheduler.start();
    logPlan(plan, options.logger);
    this.#refreshTimer = setInterval(() => void this.#serial(() => this.#redetect('periodic refresh')), options.capabilityRefreshMs ?? REFRESH_INTERVAL_MS);
    this.#refreshTimer.unref();
  }

  plan(): Plan {
    return this.#plan;
  }

  /** Re-reads the config; on error keeps the running one and returns the message. */
  reload(): Promise<string | undefined> {
    return this.#serial(async () => {
      const { env, logger } = this.#options;
      let fresh: Config;
      try {
        fresh = await this.#options.readConfig();
        compile(fresh, env, new Map());
      } catch (err) {
        this.#options.onConfigLoad(false);
        const message = err instanceof Error ? err.message : String(err);
        logger.error({ issues: err instanceof ConfigError ? err.issues : undefined }, `config reload refused, keeping the running config: ${message}`);
        return message;
      }
      await this.#swapPlan(compile(fresh, env, await this.#detector.detectAll(fresh)));
      this.#options.onConfigLoad(true);
      logger.info({ source: fresh.source }, 'config reloaded');
      return undefined;
    });
  }

  /** Runs the named probe (or `all`) now on every instance, or on `gitlab` only: concurrently, within the limiter. */
  runNow(probe: string, gitlab?: string): Promise<RunNowAnswer[]> {
    const matching = this.#plan.probes.filter((p) => (probe === 'all' || p.probe.name === probe) && (gitlab === undefined || p.instance.name === gitlab));
    return Promise.all(
      matching.map(async (p): Promise<RunNowAnswer> => {
        const who = { gitlab: p.instance.name, probe: p.probe.name };
        if (p.skippedBecause !== undefined) return { ...who, outcome: { kind: 'skipped', why: p.skippedBecause } };
        return { ...who, outcome: await this.#scheduler.runNow(p.key, RUN_NOW_MIN_GAP_MS) };
      }),
    );
  }

  async stop(): Promise<void> {
    clearInterval(this.#refreshTimer);
    await this.#scheduler.stop(5000);
  }

  #maxStartJitter(plan: Plan): number {
    return this.#options.maxStartJitterMs ?? plan.config.scheduler.max_start_jitter;
  }

  #record(result: ProbeResult): void {
    const { store, logger } = this.#options;
    const previous = store.get(result.instance, result.probe)?.last;
    store.record(result);
    logTransition(previous, result, logger);
    if (versionChanged(this.#plan, result)) void this.#serial(() => this.#redetect('GitLab reports a new version'));
  }

  #serial<T>(work: () => Promise<T>): Promise<T> {
    const next = this.#queue.then(work);
    this.#queue = next.catch(() => undefined);
    return next;
  }

  /** Unchanged probes keep their schedule and last result; changed and new ones start afresh. */
  async #swapPlan(next: Plan): Promise<void> {
    this.#plan = next;
    this.#limiter.resize(next.config.scheduler.max_concurrency);
    const { kept, started } = await this.#scheduler.update(scheduled(next), this.#maxStartJitter(next));
    this.#options.store.retain(new Set(scheduled(next).map((p) => p.key)));
    logPlan(next, this.#options.logger);
    this.#options.logger.info({ kept, started }, 'probe schedules updated: unchanged probes kept their schedule');
  }

  /** Reads GitLab's capabilities again; a changed profile or capability set re-plans the probes. */
  async #redetect(why: string): Promise<void> {
    const next = compile(this.#plan.config, this.#options.env, await this.#detector.detectAll(this.#plan.config));
    if (environmentSignature(next) === environmentSignature(this.#plan)) {
      this.#plan = { ...this.#plan, environments: next.environments };
      return;
    }
    this.#options.logger.info({ why }, 'GitLab capabilities or deployment profile changed: re-planning the probes');
    await this.#swapPlan(next);
  }
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
