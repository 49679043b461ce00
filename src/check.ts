import type { Logger } from 'pino';
import type { Config } from './config/schema.js';
import { ConfigError } from './core/errors.js';
import { loadCloudflareRanges } from './net/cloudflare.js';
import { buildReport, type Report } from './report/report.js';
import { Limiter } from './runner/limiter.js';
import { buildPlan, scheduled, type Plan } from './runner/plan.js';
import { runProbe } from './runner/run-probe.js';
import { ResultStore } from './runner/store.js';
import type { Env } from './core/env.js';
import { newDetector } from './runner/detector.js';

export interface CheckOptions {
  readonly config: Config;
  /** Only these probes (catalog names); empty means all. */
  readonly probes: readonly string[];
  readonly logger: Logger;
  readonly env?: Env;
}

/** Runs every enabled probe once, concurrently, and returns the readiness report. */
export async function runCheck(options: CheckOptions): Promise<Report> {
  const env = options.env ?? process.env;
  const detected = await newDetector(env, options.logger).detectAll(options.config);
  const plan = buildPlan(options.config, loadCloudflareRanges(options.config.cloudflareRangesFile), env, detected);
  const selected = selectProbes(plan, options.probes);
  const store = new ResultStore();
  const limiter = new Limiter(options.config.scheduler.max_concurrency);
  await Promise.all(
    scheduled(selected).map(async (p) => {
      const logger = options.logger.child({ instance: p.instance.name, probe: p.probe.name });
      store.record(await limiter.run(() => runProbe({ probe: p.probe, instance: p.instance, settings: p.settings, net: p.net, logger, environment: p.environment })));
    }),
  );
  return buildReport(selected, store);
}

function selectProbes(plan: Plan, names: readonly string[]): Plan {
  if (names.length === 0) return plan;
  const known = new Set(plan.probes.map((p) => p.probe.name));
  const unknown = names.filter((n) => !known.has(n));
  if (unknown.length > 0) {
    throw new ConfigError(unknown.map((n) => `--probe: unknown probe "${n}" (known: ${[...known].join(', ')})`), 'command line');
  }
  return { ...plan, probes: plan.probes.filter((p) => names.includes(p.probe.name)) };
}
