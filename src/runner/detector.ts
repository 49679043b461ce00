import type { Logger } from 'pino';
import type { Config, InstanceConfig } from '../config/schema.js';
import { withCurrentTokens } from '../config/tokens.js';
import { credential } from '../gitlab/availability.js';
import { detectCapabilities, type Capabilities } from '../gitlab/capabilities.js';
import type { NetOptions } from '../net/options.js';
import type { Env } from '../core/env.js';
import { NO_RANGES } from '../net/cloudflare.js';
import { netOptions, type DetectedCapabilities } from './plan.js';
import { RunRecorder } from './recorder.js';

/** How long one instance's detection may take (a few small API calls). */
export const DETECT_TIMEOUT_MS = 10_000;

/** How often what GitLab offers is read again, besides at start, on reload and on a new version. */
export const REFRESH_INTERVAL_MS = 10 * 60_000;

export interface DetectorOptions {
  readonly logger: Logger;
  readonly timeoutMs?: number;
  /** The network settings of an instance (proxy, CA, resolve pins), as its probes use them. */
  readonly net: (instance: InstanceConfig) => NetOptions;
}

/**
 * Learns what each configured GitLab offers (gitlab/capabilities.ts) and keeps the last answer per
 * instance: a failed detection keeps what was learnt before, so a GitLab that is briefly down does
 * not turn into "capabilities unknown" and back.
 */
export class CapabilityDetector {
  readonly #cache = new Map<string, Capabilities>();

  constructor(private readonly options: DetectorOptions) {}

  /** Detects every instance of `config` concurrently; instances without URL or token are skipped. */
  async detectAll(config: Config): Promise<DetectedCapabilities> {
    const names = new Set(config.instances.map((i) => i.name));
    for (const name of this.#cache.keys()) if (!names.has(name)) this.#cache.delete(name);
    await Promise.all(config.instances.map((instance) => this.#detect(instance)));
    return new Map(config.instances.map((i) => [i.name, this.#cache.get(i.name)]));
  }

  async #detect(instance: InstanceConfig): Promise<void> {
    if (!instance.url || (!credential(instance, 'admin') && !credential(instance, 'duo_user'))) return;
    const logger = this.options.logger.child({ instance: instance.name });
    const signal = AbortSignal.timeout(this.options.timeoutMs ?? DETECT_TIMEOUT_MS);
    try {
      // Token files are read again for each detection, as for each probe run (config/tokens.ts).
      const current = await withCurrentTokens(instance, signal);
      const caps = await detectCapabilities({ instance: current, net: this.options.net(instance), signal, record: new RunRecorder([]) });
      this.#cache.set(instance.name, caps);
      const level = caps.problems.length > 0 ? 'info' : 'debug';
      logger[level]({ version: caps.version && `${caps.version.major}.${caps.version.minor}.${caps.version.patch}`, problems: caps.problems }, 'GitLab capabilities detected');
    } catch (err) {
      const kept = this.#cache.has(instance.name) ? 'keeping what was detected before' : 'planning as if every feature were there';
      logger.warn({ err: err instanceof Error ? err.message : String(err) }, `cannot detect what GitLab offers, ${kept}`);
    }
  }
}

/** A detector whose calls take each instance's own proxy, CA and resolve pins. */
export function newDetector(env: Env, logger: Logger, timeoutMs?: number): CapabilityDetector {
  return new CapabilityDetector({ logger, timeoutMs, net: (instance) => netOptions(instance, NO_RANGES, env) });
}
