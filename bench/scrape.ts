import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { BenchContext } from './lib/context.js';
import { fleetYaml, startExporterChild, startSimulatorChild, type RenderCost } from './lib/fleet.js';
import { httpText } from './lib/http.js';
import { rssBytes, sleep, startChild, waitFor } from './lib/proc.js';
import { mb, ms } from './lib/stats.js';

/**
 * 3. Scrape cost: /metrics latency (wrk, one connection, back to back, so every request is a
 * full render) and size with 1, 50 and 200 configured instances, each probe having run once.
 * Intervals are set to 1h so that no probe runs while wrk measures: the figure is the render.
 */

const run = promisify(execFile);

export interface ScrapeRow {
  readonly instances: number;
  /** The same bytes from a bare node:http server, the same wrk: what moving the body costs. */
  readonly floor: { readonly p50Ms: number; readonly p99Ms: number };
  /** In-process render time with none, a default-interval share and all of the probes changed. */
  readonly render: { readonly idle: RenderCost; readonly probing: RenderCost; readonly all: RenderCost };
  readonly series: number;
  readonly bytes: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly requestsPerSec: number;
  readonly rssIdle: number;
  readonly heapUsed: number;
}

export interface ScrapeResult {
  readonly durationSec: number;
  readonly rows: ScrapeRow[];
}

const IDLE_PROBES = Object.fromEntries(
  ['customers_portal', 'cloud_connector', 'duo_workflow_service', 'ai_gateway', 'websocket_cable', 'instance_http2', 'license', 'health_check', 'code_suggestions', 'duo_workflow_tools', 'instance_settings', 'composite_identity', 'version'].map((p) => [p, { interval: '1h' }]),
);

export async function runScrape(ctx: BenchContext): Promise<ScrapeResult> {
  const durationSec = ctx.quick ? 3 : 10;
  const sizes = ctx.quick ? [1, 50] : [1, 50, 200];
  const sim = await startSimulatorChild(ctx.pki.dir, 0);
  const rows: ScrapeRow[] = [];
  try {
    for (const instances of sizes) {
      const exporter = await startExporterChild(fleetYaml(sim.instance, instances, IDLE_PROBES), { cpu: 1, maxStartJitterMs: 5000 });
      try {
        await waitFor(`${instances} instances' first runs`, async () => {
          const p = await exporter.populated();
          return p.done >= p.scheduled ? true : undefined;
        }, 180_000, 500);
        // Let the last runs' sockets close and the heap settle before calling it idle.
        await sleep(2000);
        const rssIdle = rssBytes(exporter.child.pid);
        const { memory } = await exporter.stats(Date.now());
        const { body } = await httpText(`${exporter.url}/metrics`);
        const series = body.split('\n').filter((l) => l !== '' && !l.startsWith('#')).length;
        const wrk = await runWrk(`${exporter.url}/metrics`, durationSec);
        const floor = await staticFloor(body, durationSec);
        const renders = ctx.quick ? 20 : 60;
        const render = {
          idle: await exporter.renderCost({ renders, share: 0 }),
          probing: await exporter.renderCost({ renders, scrapeSeconds: SCRAPE_INTERVAL_SECONDS }),
          all: await exporter.renderCost({ renders, share: 1 }),
        };
        rows.push({ instances, series, bytes: Buffer.byteLength(body), ...wrk, floor, render, rssIdle, heapUsed: memory.heapUsed });
        ctx.log(`scrape: ${instances} instances: p99 ${ms(wrk.p99Ms)} ms, ${series} series`);
      } finally {
        await exporter.stop();
      }
    }
  } finally {
    await sim.stop();
  }
  return { durationSec, rows };
}

/** Prometheus's default scrape interval (`global.scrape_interval`: 1m; 15s in its example config). */
export const SCRAPE_INTERVAL_SECONDS = 15;

/** wrk against a bare server holding `body`, on the CPU the exporter had. */
async function staticFloor(body: string, durationSec: number): Promise<{ p50Ms: number; p99Ms: number }> {
  const child = startChild('static', { cpu: 1 });
  try {
    const { url } = await child.request<{ url: string }>('start', { body, contentType: 'text/plain; version=0.0.4; charset=utf-8' });
    const { p50Ms, p99Ms } = await runWrk(url, durationSec);
    return { p50Ms, p99Ms };
  } finally {
    await child.stop();
  }
}

/** wrk with one thread and one connection, pinned to CPU 0 (the exporter has CPU 1). */
async function runWrk(url: string, durationSec: number): Promise<{ p50Ms: number; p99Ms: number; requestsPerSec: number }> {
  const { stdout } = await run('taskset', ['-c', '0', 'wrk', '-t1', '-c1', `-d${durationSec}s`, '--latency', url], { timeout: (durationSec + 30) * 1000 });
  const latency = (p: string): number => {
    const match = new RegExp(`^\\s+${p}%\\s+([\\d.]+)(us|ms|s)\\s*$`, 'm').exec(stdout);
    if (!match) throw new Error(`no ${p}% line in wrk's output:\n${stdout}`);
    const value = Number(match[1]);
    return match[2] === 'us' ? value / 1000 : match[2] === 's' ? value * 1000 : value;
  };
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(stdout);
  return { p50Ms: latency('50'), p99Ms: latency('99'), requestsPerSec: rps ? Number(rps[1]) : Number.NaN };
}

export const SCRAPE_HEADER = ['instances', 'series', 'size KiB', '/metrics p50 ms', '/metrics p99 ms', 'same bytes, bare node:http p50 / p99 ms', 'scrapes/s (back to back)', 'RSS idle MB', 'V8 heap used MB'];

export function scrapeRows(result: ScrapeResult): string[][] {
  return result.rows.map((r) => [
    String(r.instances),
    String(r.series),
    (r.bytes / 1024).toFixed(0),
    ms(r.p50Ms),
    ms(r.p99Ms),
    `${ms(r.floor.p50Ms)} / ${ms(r.floor.p99Ms)}`,
    r.requestsPerSec.toFixed(0),
    mb(r.rssIdle),
    mb(r.heapUsed),
  ]);
}

export const RENDER_HEADER = ['instances', 'probes changed since the last render', 'share of probes', 'render p50 ms', 'render p99 ms', 'render max ms'];

export function renderRows(result: ScrapeResult): string[][] {
  return result.rows.flatMap((r) =>
    (
      [
        ['none (nothing ran since the last scrape)', r.render.idle],
        [`default intervals, one ${SCRAPE_INTERVAL_SECONDS} s scrape interval`, r.render.probing],
        ['all', r.render.all],
      ] as const
    ).map(([what, cost]) => [String(r.instances), what, `${(cost.changedShare * 100).toFixed(0)} %`, ms(cost.p50Ms), ms(cost.p99Ms), ms(cost.maxMs)]),
  );
}
