import { stringify } from 'yaml';
import { startDwsGrpc } from '../src/simulator/dws.js';
import { startBlackbox, type Blackbox } from './lib/blackbox.js';
import type { BenchContext } from './lib/context.js';
import { cpuMs, rssBytes, sampleRss, sleep, startChild } from './lib/proc.js';
import { mb, median, ratio } from './lib/stats.js';
import { startInstrumentedServer } from './lib/targets.js';

/**
 * 2. Cost per probe run. Each prober probes the same loopback target at the same fixed rate;
 * CPU is the process's user + system time from /proc (the same measure for both, every thread
 * counted) over a fixed number of runs, after a warm-up. Our probes run in a child of their own,
 * so the parent's targets and bookkeeping are not counted; blackbox_exporter is driven through
 * /probe the way Prometheus does it, and that request handling is part of its cost. For HTTPS, a
 * third row is the bare Node client (TCP, TLS with a prepared context, HEAD written by hand, first
 * byte read) in our child, measured the same way: what the runtime costs before any code of ours.
 */

/** `floor`: the bare Node client of bench/children/prober.ts (floorRun), in the same child as ours. */
type Tool = 'ours' | 'blackbox' | 'floor';
type Kind = 'https' | 'grpc';

export interface CostRow {
  readonly kind: Kind;
  readonly tool: Tool;
  readonly runs: number;
  readonly failures: number;
  readonly cpuMsPerRun: number;
  readonly rssIdle: number;
  /** Median RSS while probing. */
  readonly rssLoad: number;
  readonly rssPeak: number;
}

export interface CostResult {
  readonly ratePerSec: number;
  readonly runs: number;
  readonly rows: CostRow[];
}

export async function runCost(ctx: BenchContext): Promise<CostResult> {
  const ratePerSec = 20;
  const runs = ctx.quick ? 60 : 300;
  const warmup = ctx.quick ? 20 : 60;
  const https = await startInstrumentedServer(ctx.pki.leaf);
  const grpc = await startDwsGrpc({ caPem: ctx.pki.caPem, certPem: ctx.pki.leaf.chainPem, keyPem: ctx.pki.leaf.keyPem });
  const httpsUrl = `https://127.0.0.1:${https.port}`;
  const grpcTarget = `127.0.0.1:${grpc.port}`;
  const prober = startChild('prober');
  const blackbox = await startBlackbox(ctx.pki.dir, ctx.pki.caFile, httpsUrl);
  const rows: CostRow[] = [];
  try {
    await prober.request('configure', {
      yaml: stringify({
        instances: [
          { name: 'https', tls: { ca_file: ctx.pki.caFile }, endpoints: { customers_portal: httpsUrl } },
          { name: 'grpc', tls: { ca_file: ctx.pki.caFile }, endpoints: { duo_workflow_service: grpcTarget } },
        ],
      }),
    });
    const plans: Record<Kind, { ours: string; target: string; module: string }> = {
      https: { ours: 'https/customers_portal', target: `${httpsUrl}/`, module: 'https_head' },
      grpc: { ours: 'grpc/duo_workflow_service', target: grpcTarget, module: 'grpc_tls' },
    };
    for (const kind of ['https', 'grpc'] as const) {
      const plan = plans[kind];
      const ours = (count: number) => prober.request<{ runs: number; failures: number }>('load', { key: plan.ours, count, ratePerSec, maxInFlight: 32 });
      const theirs = (count: number) => driveBlackbox(blackbox, plan.target, plan.module, count, ratePerSec, 32);
      // Warm up both first (JIT, connection pools, first-use allocations), then measure each.
      await ours(warmup);
      await theirs(warmup);
      rows.push(await measure(kind, 'ours', prober.pid, () => ours(runs)));
      rows.push(await measure(kind, 'blackbox', blackbox.pid, () => theirs(runs)));
      if (kind === 'https') {
        const floor = (count: number) => prober.request<{ runs: number; failures: number }>('floorLoad', { url: `${httpsUrl}/`, caFile: ctx.pki.caFile, count, ratePerSec, maxInFlight: 32 });
        await floor(warmup);
        rows.push(await measure(kind, 'floor', prober.pid, () => floor(runs)));
      }
      ctx.log(`cost: ${kind} done`);
    }
  } finally {
    await prober.stop();
    await blackbox.stop();
    await https.close();
    await grpc.close();
  }
  return { ratePerSec, runs, rows };
}

async function measure(kind: Kind, tool: Tool, pid: number, load: () => Promise<{ runs: number; failures: number }>): Promise<CostRow> {
  // Let the warm-up's sockets and timers settle, so idle is idle.
  await sleep(500);
  const rssIdle = rssBytes(pid);
  const cpuBefore = cpuMs(pid);
  const sampler = sampleRss(pid);
  const { runs, failures } = await load();
  const cpuAfter = cpuMs(pid);
  const samples = sampler.stop();
  return { kind, tool, runs, failures, cpuMsPerRun: (cpuAfter - cpuBefore) / Math.max(1, runs), rssIdle, rssLoad: median(samples), rssPeak: Math.max(...samples) };
}

/** `count` /probe requests started at a fixed rate, at most `maxInFlight` at once. */
async function driveBlackbox(blackbox: Blackbox, target: string, module: string, count: number, ratePerSec: number, maxInFlight: number): Promise<{ runs: number; failures: number }> {
  const periodMs = 1000 / ratePerSec;
  const start = Date.now();
  let inFlight = 0;
  let runs = 0;
  let failures = 0;
  const running: Promise<void>[] = [];
  for (let i = 0; i < count; i++) {
    const wait = start + i * periodMs - Date.now();
    if (wait > 0) await sleep(wait);
    if (inFlight >= maxInFlight) continue;
    inFlight++;
    runs++;
    running.push(
      blackbox.probe(target, module).then(
        (r) => {
          inFlight--;
          if (!r.success) failures++;
        },
        () => {
          inFlight--;
          failures++;
        },
      ),
    );
  }
  await Promise.all(running);
  return { runs, failures };
}

export const COST_HEADER = ['probe', 'prober', 'runs', 'failures', 'CPU ms / run', 'CPU ratio to bb', 'RSS idle MB', 'RSS probing MB (median)', 'RSS peak MB'];

const TOOL_NAMES: Record<Tool, string> = { ours: 'gitlab-duo-exporter', blackbox: 'blackbox_exporter', floor: 'bare Node client (floor)' };

export function costRows(result: CostResult): string[][] {
  return result.rows.map((row) => {
    const other = result.rows.find((r) => r.kind === row.kind && r.tool === 'blackbox');
    return [
      row.kind === 'https' ? 'HTTPS (customers_portal: HEAD)' : 'gRPC (duo_workflow_service: Health/Check)',
      TOOL_NAMES[row.tool],
      String(row.runs),
      String(row.failures),
      row.cpuMsPerRun.toFixed(2),
      row.tool !== 'blackbox' && other ? ratio(row.cpuMsPerRun, other.cpuMsPerRun) : '',
      // The floor runs in our child: its RSS is our process's, not a client's of its own.
      ...(row.tool === 'floor' ? ['', '', ''] : [mb(row.rssIdle), mb(row.rssLoad), mb(row.rssPeak)]),
    ];
  });
}
