/**
 * The second process of the load test: GETs on the exporter's endpoints over keep-alive
 * connections, as Prometheus and people with the status page open do. Bounded twice, by request
 * count and by time, so it always stops by itself. Reports every request's start and latency.
 */
import { Agent, get } from 'node:http';

export interface LoadPlan {
  readonly baseUrl: string;
  readonly paths: readonly string[];
  /** Requests in flight at once. */
  readonly concurrency: number;
  /** Pause between two requests of one worker (0: back to back). */
  readonly pauseMs: number;
  readonly maxRequests: number;
  readonly maxMs: number;
}

export interface Sample {
  readonly path: string;
  /** ms since the load started. */
  readonly at: number;
  readonly ms: number;
  readonly status: number;
}

const plan = JSON.parse(process.argv[2] ?? '{}') as LoadPlan;
const agent = new Agent({ keepAlive: true, maxSockets: plan.concurrency });
const samples: Sample[] = [];
const origin = performance.now();
const until = origin + plan.maxMs;
let issued = 0;

function once(path: string): Promise<Sample> {
  const start = performance.now();
  return new Promise((resolve) => {
    const req = get(`${plan.baseUrl}${path}`, { agent, timeout: 10_000 }, (res) => {
      res.resume();
      res.on('end', () => resolve({ path, at: start - origin, ms: performance.now() - start, status: res.statusCode ?? 0 }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve({ path, at: start - origin, ms: performance.now() - start, status: 0 }));
  });
}

async function worker(index: number): Promise<void> {
  let turn = index;
  while (issued < plan.maxRequests && performance.now() < until) {
    issued++;
    samples.push(await once(plan.paths[turn++ % plan.paths.length]!));
    if (plan.pauseMs > 0) await new Promise((resolve) => setTimeout(resolve, plan.pauseMs));
  }
}

await Promise.all(Array.from({ length: plan.concurrency }, (_v, i) => worker(i)));
agent.destroy();
process.send?.({ samples, seconds: (performance.now() - origin) / 1000 }, () => process.exit(0));
