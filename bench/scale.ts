import type { BenchContext } from './lib/context.js';
import { fleetYaml, startExporterChild, startSimulatorChild, type ExporterStats } from './lib/fleet.js';
import { cpuMs, rssBytes, sleep, waitFor } from './lib/proc.js';
import { mb, ms } from './lib/stats.js';

/**
 * 4. Scale: N instances, every probe at its default interval, against the simulator; the exporter
 * pinned to CPU 1, the simulator to CPU 0. Start lag (ProbeResult.startLagMs: how late a run
 * started against its tick, timer lag and concurrency-slot waits included) is read from every
 * finished run, for the start-up burst (every probe's first run falls within the first 10 s of
 * jitter) and for the steady state after it, where the 250 ms bound is judged.
 */

export const LAG_BOUND_MS = 250;

export interface ScaleRow {
  readonly instances: number;
  /** `scheduler.max_start_jitter` when not the default (10s). */
  readonly startJitter?: string;
  readonly scheduled: number;
  readonly startup: ExporterStats;
  readonly steady: ExporterStats;
  readonly steadySeconds: number;
  /** How long the start-up window lasted (until every probe had run once, plus 5 s). */
  readonly startupSeconds: number;
  /** Exporter CPU over the steady window, in % of one core. */
  readonly exporterCpuPct: number;
  readonly simulatorCpuPct: number;
  readonly rss: number;
}

export interface ScaleResult {
  readonly rows: ScaleRow[];
  /** The largest instance count whose steady-state lag p99 stayed under the bound (default config). */
  readonly maxWithinBound: number | undefined;
}

export async function runScale(ctx: BenchContext): Promise<ScaleResult> {
  // Steady runs sit on per-probe hashed slots spread over their interval (src/runner/scheduler.ts),
  // so the steps double until the lag bound or the core gives out.
  const steps: { instances: number; startJitter?: string }[] = ctx.quick ? [{ instances: 50 }] : [{ instances: 100 }, { instances: 200 }, { instances: 400 }, { instances: 800 }];
  // Every probe's first run falls in the first 10 s (start jitter); the backlog that burst leaves
  // must drain before the steady window opens, or its queueing would be counted as steady lag:
  // the start-up window lasts until every probe has finished a run, plus a few seconds.
  const minStartupSeconds = ctx.quick ? 15 : 20;
  const maxStartupSeconds = ctx.quick ? 60 : 150;
  // At least one full 30 s interval, so every 30 s and most 60 s probes run in the window.
  const steadySeconds = ctx.quick ? 25 : 45;
  const rows: ScaleRow[] = [];
  for (const { instances, startJitter } of steps) {
    // A fresh simulator per step: its connection state and caches start the same each time.
    const sim = await startSimulatorChild(ctx.pki.dir, 0);
    const exporter = await startExporterChild(fleetYaml(sim.instance, instances, {}, startJitter ? { max_start_jitter: startJitter } : undefined), { cpu: 1 });
    try {
      await sleep(minStartupSeconds * 1000);
      await waitFor('every probe to finish its first run', async () => {
        const p = await exporter.populated();
        return p.done >= p.scheduled ? true : undefined;
      }, (maxStartupSeconds - minStartupSeconds) * 1000, 1000).catch(() => ctx.log(`scale: ${instances} instances: first runs still pending after ${maxStartupSeconds} s`));
      await sleep(5000);
      const startupSeconds = (Date.now() - exporter.startedAt) / 1000;
      const startup = await exporter.stats(exporter.startedAt);
      const steadyFrom = Date.now();
      const cpu0 = cpuMs(exporter.child.pid);
      const simCpu0 = cpuMs(sim.child.pid);
      await sleep(steadySeconds * 1000);
      const exporterCpuPct = ((cpuMs(exporter.child.pid) - cpu0) / (steadySeconds * 1000)) * 100;
      const simulatorCpuPct = ((cpuMs(sim.child.pid) - simCpu0) / (steadySeconds * 1000)) * 100;
      const steady = await exporter.stats(steadyFrom);
      const rss = rssBytes(exporter.child.pid);
      rows.push({ instances, ...(startJitter ? { startJitter } : {}), scheduled: exporter.scheduled, startup, startupSeconds, steady, steadySeconds, exporterCpuPct, simulatorCpuPct, rss });
      ctx.log(`scale: ${instances} instances${startJitter ? ` (max_start_jitter ${startJitter})` : ''}: steady lag p99 ${ms(steady.lagP99)} ms, ${steady.runs} runs, exporter CPU ${exporterCpuPct.toFixed(0)}%`);
    } finally {
      await exporter.stop();
      await sim.stop();
    }
  }
  const within = rows.filter((r) => !r.startJitter && r.steady.lagP99 < LAG_BOUND_MS).map((r) => r.instances);
  return { rows, maxWithinBound: within.length ? Math.max(...within) : undefined };
}

export const SCALE_HEADER = [
  'instances',
  'probes scheduled',
  'start-up window s',
  'start-up lag p50 / p99 / max ms',
  'steady runs/s',
  'steady lag p50 / p99 / max ms',
  'failed runs',
  'run p50 / p99 ms',
  'event-loop delay p99 ms',
  'exporter CPU % of 1 core',
  'simulator CPU %',
  'RSS MB',
];

export function scaleRows(result: ScaleResult): string[][] {
  return result.rows.map((r) => [
    r.startJitter ? `${r.instances} (max_start_jitter ${r.startJitter})` : String(r.instances),
    String(r.scheduled),
    r.startupSeconds.toFixed(0),
    `${ms(r.startup.lagP50)} / ${ms(r.startup.lagP99)} / ${ms(r.startup.lagMax)}`,
    (r.steady.runs / r.steadySeconds).toFixed(1),
    `${ms(r.steady.lagP50)} / ${ms(r.steady.lagP99)} / ${ms(r.steady.lagMax)}`,
    `${r.steady.failures}/${r.steady.runs}`,
    `${ms(r.steady.durationP50)} / ${ms(r.steady.durationP99)}`,
    ms(r.steady.loopDelay.p99),
    r.exporterCpuPct.toFixed(0),
    r.simulatorCpuPct.toFixed(0),
    mb(r.rss),
  ]);
}
