import { ACCURACY_HEADER, accuracyRows, type AccuracyResult } from './accuracy.js';
import { COST_HEADER, costRows, type CostResult } from './cost.js';
import { DETECTION_HEADER, detectionRows, type DetectionResult } from './detection.js';
import type { Machine } from './lib/machine.js';
import { median, mb, ms, p99 } from './lib/stats.js';
import { markdownTable } from './lib/table.js';
import { DEPENDENCY_HEADER, dependencyRows, MEMORY_HEADER, memoryRows, type MemoryResult } from './memory.js';
import { LAG_BOUND_MS, SCALE_HEADER, scaleRows, type ScaleResult } from './scale.js';
import { RENDER_HEADER, renderRows, SCRAPE_HEADER, scrapeRows, type ScrapeResult } from './scrape.js';

export interface BenchResults {
  readonly machine: Machine;
  readonly quick: boolean;
  readonly durationSeconds: number;
  readonly blackboxVersion?: string;
  readonly accuracy?: AccuracyResult;
  readonly cost?: CostResult;
  readonly scrape?: ScrapeResult;
  readonly scale?: ScaleResult;
  readonly detection?: DetectionResult;
  readonly memory?: MemoryResult;
}

export interface Goal {
  readonly goal: string;
  readonly measured: string;
  readonly met: boolean;
}

const MB = 1024 * 1024;

/** The goals, judged from this run's figures. */
export function judgeGoals(r: BenchResults): Goal[] {
  const goals: Goal[] = [];
  if (r.accuracy) {
    for (const e of r.accuracy.errors.filter((x) => x.target === 'all')) {
      const ours = e.ours.map(Math.abs);
      const bb = e.blackbox.map(Math.abs);
      goals.push({
        goal: `accuracy ${e.phase}: median abs err ≤ 1 ms, p99 ≤ 5 ms`,
        measured: `${ms(median(ours))} / ${ms(p99(ours))} ms`,
        met: median(ours) <= 1 && p99(ours) <= 5,
      });
      goals.push({
        goal: `accuracy ${e.phase}: no worse than blackbox_exporter`,
        measured: `median ${ms(median(ours))} vs ${ms(median(bb))} ms, p99 ${ms(p99(ours))} vs ${ms(p99(bb))} ms`,
        met: median(ours) <= median(bb) && p99(ours) <= p99(bb),
      });
    }
  }
  if (r.cost) {
    const ours = r.cost.rows.find((x) => x.kind === 'https' && x.tool === 'ours');
    const bb = r.cost.rows.find((x) => x.kind === 'https' && x.tool === 'blackbox');
    if (ours && bb) goals.push({ goal: 'CPU per HTTPS probe run ≤ blackbox_exporter', measured: `${ours.cpuMsPerRun.toFixed(2)} vs ${bb.cpuMsPerRun.toFixed(2)} ms`, met: ours.cpuMsPerRun <= bb.cpuMsPerRun });
  }
  if (r.scrape) {
    const big = r.scrape.rows.find((x) => x.instances === 200);
    // The exporter's own families are shared; per instance is the 200-instance figure divided.
    if (big) goals.push({ goal: 'series per instance ≤ 300 (metrics.md v2)', measured: `${Math.round(big.series / big.instances)}`, met: big.series / big.instances <= 300 });
    if (big) goals.push({ goal: '/metrics p99 ≤ 10 ms at 200 instances', measured: `${ms(big.p99Ms)} ms (${big.series} series)`, met: big.p99Ms <= 10 });
    if (big) goals.push({ goal: 'RSS ≤ 200 MB with 200 instances (idle, after every probe ran)', measured: `${mb(big.rssIdle)} MB`, met: big.rssIdle <= 200 * MB });
  }
  if (r.memory) {
    const idle = median(r.memory.starts.map((s) => s.idle));
    goals.push({ goal: `RSS < 90 MB idle, the real serve, one instance, after every probe ran (issue #14)`, measured: `${mb(idle)} MB (median of ${r.memory.starts.length} starts)`, met: idle < 90 * MB });
  }
  if (r.scale) {
    const at200 = r.scale.rows.find((x) => x.instances === 200 && !x.startJitter);
    if (at200) goals.push({ goal: 'RSS ≤ 200 MB with 200 instances (default intervals, probing)', measured: `${mb(at200.rss)} MB`, met: at200.rss <= 200 * MB });
    goals.push({
      goal: `≥ 200 instances at default intervals on one core, steady start-lag p99 < ${LAG_BOUND_MS} ms`,
      measured: r.scale.maxWithinBound === undefined ? 'none of the tried counts' : `${r.scale.maxWithinBound} (largest within the bound of ${r.scale.rows.filter((x) => !x.startJitter).map((x) => x.instances).join(', ')} tried)`,
      met: (r.scale.maxWithinBound ?? 0) >= 200,
    });
  }
  if (r.detection) {
    const bound = r.detection.probeIntervalSeconds + r.detection.probeTimeoutSeconds;
    const seen = r.detection.probeFailed.filter(Number.isFinite);
    goals.push({
      goal: `a probe notices a fault within one interval plus its timeout (${bound} s)`,
      measured: seen.length ? `max ${Math.max(...seen).toFixed(1)} s over ${seen.length} instances` : 'not seen',
      met: seen.length === r.detection.probeFailed.length && seen.every((v) => v <= bound),
    });
  }
  return goals;
}

export function renderTables(r: BenchResults): string {
  const parts: string[] = [];
  if (r.accuracy) parts.push('## 1. Accuracy (abs err = |measured − server-side truth|)', markdownTable(ACCURACY_HEADER, accuracyRows(r.accuracy)));
  if (r.cost) parts.push(`## 2. Cost per probe run (${r.cost.runs} runs at ${r.cost.ratePerSec}/s each)`, markdownTable(COST_HEADER, costRows(r.cost)));
  if (r.scrape) parts.push(`## 3. Scrape cost (wrk -t1 -c1 -d${r.scrape.durationSec}s)`, markdownTable(SCRAPE_HEADER, scrapeRows(r.scrape)), markdownTable(RENDER_HEADER, renderRows(r.scrape)));
  if (r.scale) parts.push('## 4. Scale (default intervals, exporter on one core)', markdownTable(SCALE_HEADER, scaleRows(r.scale)));
  if (r.detection) parts.push(`## 5. Detection (${r.detection.instances} instances, fault ${r.detection.scenario})`, markdownTable(DETECTION_HEADER, detectionRows(r.detection)));
  if (r.memory) parts.push(`## 6. Memory of the real serve (one instance, every probe; idle = ${r.memory.idleSeconds} s after the first runs)`, markdownTable(MEMORY_HEADER, memoryRows(r.memory)), markdownTable(DEPENDENCY_HEADER, dependencyRows(r.memory)));
  const goals = judgeGoals(r);
  if (goals.length) parts.push('## Goals', markdownTable(['goal', 'measured', 'met'], goals.map((g) => [g.goal, g.measured, g.met ? 'yes' : '**no**'])));
  return parts.join('\n\n');
}
