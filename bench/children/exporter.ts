/**
 * The exporter under test, in a process of its own (pinned to one CPU by the parent): the same
 * composition root as `gitlab-duo-exporter serve` (startApp), fed a generated config. It records
 * every finished run's start lag, so the parent can ask for the scheduler's figures per window.
 */
import { createWriteStream } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { startApp, type App } from '../../src/app.js';
import { parseDuration } from '../../src/config/duration.js';
import { parseConfigText } from '../../src/config/load.js';
import { createLogger } from '../../src/log.js';
import { scheduled } from '../../src/runner/plan.js';
import type { ProbeResult } from '../../src/runner/result.js';
import { serveRequests } from '../lib/proc.js';
import { median, p99, quantile } from '../lib/stats.js';

interface Run {
  readonly instance: string;
  readonly probe: string;
  readonly startedAt: number;
  readonly finishedAt: number;
  readonly lagMs: number;
  readonly durationMs: number;
  readonly success: boolean;
  readonly reason: string | undefined;
}

let app: App | undefined;
let recordQuietly: ((result: ProbeResult) => unknown) | undefined;
const runs: Run[] = [];
const loopDelay = monitorEventLoopDelay({ resolution: 10 });

serveRequests({
  async start({ yaml, maxStartJitterMs }) {
    const config = await parseConfigText(String(yaml), 'bench', { env: {} });
    // Logging as `serve` does (JSON, info), to /dev/null: its cost is part of the exporter's.
    const logger = createLogger({ level: 'info', format: 'json', destination: createWriteStream('/dev/null') });
    app = await startApp({
      config,
      configPath: undefined,
      logger,
      env: {},
      listenAddress: '127.0.0.1:0',
      maxStartJitterMs: maxStartJitterMs === undefined ? undefined : Number(maxStartJitterMs),
    });
    // Every finished run goes through store.record: note its lag there, then let it through.
    const store = app.store;
    const record = store.record.bind(store);
    recordQuietly = record;
    store.record = (result) => {
      runs.push({
        instance: result.instance,
        probe: result.probe,
        startedAt: result.startedAt,
        finishedAt: result.finishedAt,
        lagMs: result.startLagMs,
        durationMs: result.durationSeconds * 1000,
        success: result.success,
        reason: result.reason,
      });
      return record(result);
    };
    loopDelay.enable();
    return { url: app.url(), scheduled: scheduled(app.plan()).length, startedAt: Date.now() };
  },

  /** How many scheduled probes have finished at least one run. */
  populated() {
    if (!app) throw new Error('not started');
    let done = 0;
    for (const [, state] of app.store.entries()) if (state.last) done++;
    return { done, scheduled: scheduled(app.plan()).length };
  },

  /** Figures for the runs that started at or after `since` (Unix ms). */
  stats({ since }) {
    const window = runs.filter((r) => r.startedAt >= Number(since));
    const lags = window.map((r) => r.lagMs);
    const failures = window.filter((r) => !r.success);
    const reasons: Record<string, number> = {};
    for (const f of failures) reasons[`${f.probe}:${f.reason}`] = (reasons[`${f.probe}:${f.reason}`] ?? 0) + 1;
    const delay = { p99: loopDelay.percentile(99) / 1e6, max: loopDelay.max / 1e6 };
    loopDelay.reset();
    return {
      runs: window.length,
      failures: failures.length,
      reasons,
      lagP50: median(lags),
      lagP99: p99(lags),
      lagMax: lags.length ? Math.max(...lags) : Number.NaN,
      durationP50: median(window.map((r) => r.durationMs)),
      durationP99: quantile(window.map((r) => r.durationMs), 0.99),
      loopDelay: delay,
      memory: process.memoryUsage(),
    };
  },

  /** Per instance, the first failed run of `probe` that finished at or after `since`. */
  firstFailures({ probe, since }) {
    const first: Record<string, { finishedAt: number; reason: string | undefined }> = {};
    for (const r of runs) {
      if (r.probe === probe && !r.success && r.finishedAt >= Number(since) && !first[r.instance]) first[r.instance] = { finishedAt: r.finishedAt, reason: r.reason };
    }
    return first;
  },

  /** The runs that started at or after `since` more than `minLagMs` late, for a closer look. */
  laggards({ since, minLagMs }) {
    return runs.filter((r) => r.startedAt >= Number(since) && r.lagMs >= Number(minLagMs)).map((r) => ({ probe: r.probe, instance: r.instance, startedAt: r.startedAt, lagMs: r.lagMs, durationMs: r.durationMs }));
  },

  /**
   * The cost of rendering /metrics when some probes ran since the last scrape: before each of
   * `renders` renders, each probe's last result is recorded again (a new run, as far as the store
   * and the histogram can tell) with probability min(1, scrapeSeconds / its default interval), as
   * at default intervals, or with probability `share` when given. Timed in process: the render
   * alone, no HTTP.
   */
  async renderCost({ renders, scrapeSeconds, share }) {
    if (!app || !recordQuietly) throw new Error('not started');
    const probes = scheduled(app.plan());
    const chance = (defaultInterval: string): number =>
      share !== undefined ? Number(share) : Math.min(1, (Number(scrapeSeconds) * 1000) / (parseDuration(defaultInterval) ?? Number.POSITIVE_INFINITY));
    const times: number[] = [];
    let changed = 0;
    for (let i = 0; i < Number(renders); i++) {
      for (const p of probes) {
        const last = app.store.byKey(p.key)?.last;
        if (!last || Math.random() >= chance(p.probe.defaultInterval)) continue;
        const again = { ...last, finishedAt: Date.now(), durationSeconds: last.durationSeconds * (0.9 + Math.random() / 5) };
        recordQuietly(again);
        changed++;
      }
      const started = performance.now();
      await app.metrics.prometheus.render();
      times.push(performance.now() - started);
    }
    return { p50Ms: median(times), p99Ms: p99(times), maxMs: Math.max(...times), changedShare: changed / (Number(renders) * probes.length) };
  },

  async stop() {
    await app?.stop();
    app = undefined;
    return true;
  },
});
