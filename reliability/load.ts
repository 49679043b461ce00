import { fork } from 'node:child_process';
import type { LoadPlan, Sample } from './children/load-client.js';
import { exporterYaml, forkSimulator, LoopDelay, RunCollector, sleep, startExporter } from './lib/exporter.js';
import { childScript } from './lib/paths.js';
import { max, ms, quantile } from './lib/stats.js';
import { PROBE_NAMES } from '../src/probes/index.js';
import type { ProbeResult } from '../src/runner/result.js';

/**
 * Issue #6, part 3: /metrics and the status page under concurrent load from a second process on
 * loopback, while every probe runs against the simulator. Measured, never asserted in a test:
 * scrape latency idle and under load (and across the load, slice by slice, to show whether it
 * stays flat), and how late probe runs started against their schedule compared with the start
 * jitter the scheduler allows.
 */

export interface LoadOptions {
  readonly seconds: number;
  readonly concurrency: number;
}

export interface LoadFigures {
  readonly lines: string[];
  /** A run started later than the jitter bound, or an endpoint failed under load. */
  readonly problems: string[];
}

const COPIES = 2;
const SCHEDULE = { interval: '1s', timeout: '800ms' };
const MAX_START_JITTER_MS = 1000;
const PATHS = ['/metrics', '/'];
const SLICES = 5;

function runLoadClient(plan: LoadPlan): Promise<{ samples: Sample[]; seconds: number }> {
  const child = fork(childScript('load-client'), [JSON.stringify(plan)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    child.once('message', (m) => resolve(m as { samples: Sample[]; seconds: number }));
    child.once('exit', (code) => (code === 0 ? undefined : reject(new Error(`the load client exited with ${code}`))));
  });
}

function latencyLine(label: string, samples: readonly Sample[], seconds: number): string {
  const byPath = PATHS.map((path) => {
    const l = samples.filter((s) => s.path === path).map((s) => s.ms);
    return `${path === '/' ? 'status page' : path} n=${l.length} p50 ${ms(quantile(l, 0.5))} p95 ${ms(quantile(l, 0.95))} p99 ${ms(quantile(l, 0.99))} max ${ms(max(l))} ms`;
  });
  const failed = samples.filter((s) => s.status !== 200).length;
  return `${label}: ${(samples.length / seconds).toFixed(0)} req/s, ${failed} not 200; ${byPath.join('; ')}`;
}

function lagLine(label: string, runs: readonly ProbeResult[]): string {
  const lags = runs.map((r) => r.startLagMs);
  const failed = runs.filter((r) => !r.success);
  // The simulator is healthy: a failure here is the load's doing, so say which probe and why.
  const why = new Map<string, number>();
  for (const r of failed) {
    const key = `${r.probe} ${r.reason}${r.reason === 'timeout' ? ` ${/in phase (\w+)/.exec(r.message)?.[1] ?? ''}`.trimEnd() : ''}`;
    why.set(key, (why.get(key) ?? 0) + 1);
  }
  const failures = failed.length === 0 ? '0 failed' : `${failed.length} failed (${[...why].map(([k, n]) => `${k} ×${n}`).join(', ')})`;
  return `${label}: ${runs.length} probe runs, ${failures}; start lag p50 ${ms(quantile(lags, 0.5))} p99 ${ms(quantile(lags, 0.99))} max ${ms(max(lags))} ms (jitter bound ${MAX_START_JITTER_MS} ms)`;
}

export async function runLoad(options: LoadOptions): Promise<LoadFigures> {
  const sim = await forkSimulator(3000);
  const app = await startExporter(exporterYaml(sim, COPIES, SCHEDULE), MAX_START_JITTER_MS);
  const collector = new RunCollector(app);
  const loop = new LoopDelay();
  try {
    await sleep(MAX_START_JITTER_MS + 2000);
    collector.take();
    loop.window();
    const baseUrl = app.url();
    const idle = await runLoadClient({ baseUrl, paths: PATHS, concurrency: 1, pauseMs: 100, maxRequests: 60, maxMs: 8000 });
    const idleRuns = collector.take();
    const idleLoop = loop.window();
    const load = await runLoadClient({ baseUrl, paths: PATHS, concurrency: options.concurrency, pauseMs: 0, maxRequests: 200_000, maxMs: options.seconds * 1000 });
    const loadRuns = collector.take();
    const loadLoop = loop.window();

    const metrics = load.samples.filter((s) => s.path === '/metrics');
    const sliceMs = (load.seconds * 1000) / SLICES;
    const slices = Array.from({ length: SLICES }, (_v, i) => metrics.filter((s) => s.at >= i * sliceMs && s.at < (i + 1) * sliceMs).map((s) => s.ms));
    const p95s = slices.map((l) => quantile(l, 0.95));
    const flat = p95s.at(-1)! / p95s[0]!;
    const problems: string[] = [];
    const lateRuns = loadRuns.filter((r) => r.startLagMs > MAX_START_JITTER_MS).length;
    if (lateRuns > 0) problems.push(`${lateRuns} probe runs started more than ${MAX_START_JITTER_MS} ms late under load`);
    const notOk = load.samples.filter((s) => s.status !== 200).length;
    if (notOk > 0) problems.push(`${notOk} requests under load were not answered 200`);
    const lines = [
      `setup: ${COPIES} simulated instances × ${PROBE_NAMES.length} probes every ${SCHEDULE.interval} (timeout ${SCHEDULE.timeout}), start jitter up to ${MAX_START_JITTER_MS} ms; load from a second process: ${options.concurrency} keep-alive connections, back to back, for ${options.seconds} s, alternating /metrics and the status page`,
      latencyLine('idle (1 client, 10 req/s)', idle.samples, idle.seconds),
      latencyLine(`under load (${options.concurrency} clients)`, load.samples, load.seconds),
      `/metrics p95 by fifth of the load: ${p95s.map((v) => ms(v)).join(' → ')} ms (last/first ${flat.toFixed(2)}×: ${flat < 1.5 ? 'flat' : 'NOT flat'})`,
      lagLine('probes while idle', idleRuns),
      lagLine('probes under load', loadRuns),
      `exporter event-loop delay: idle p99 ${ms(idleLoop.p99)} ms (max ${ms(idleLoop.max)}), under load p99 ${ms(loadLoop.p99)} ms (max ${ms(loadLoop.max)})`,
      `verdict: ${problems.length === 0 ? `no probe run started past its jitter bound, every request answered` : problems.join('; ')}`,
    ];
    return { lines, problems };
  } finally {
    loop.stop();
    collector.stop();
    await app.stop();
    await sim.stop();
  }
}
