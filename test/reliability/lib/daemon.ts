import { get } from 'node:http';
import { Writable } from 'node:stream';
import { startApp, type App } from '../../../src/app.js';
import { parseConfigText } from '../../../src/config/load.js';
import { createLogger } from '../../../src/log.js';
import type { ProbeResult } from '../../../src/runner/result.js';

/**
 * The whole exporter (startApp: config → scheduler → store → HTTP) as a test drives it: its log
 * lines kept in memory at debug level, its HTTP endpoints polled while probes run, and the
 * process's open resources counted before and after.
 */

export interface Daemon {
  readonly app: App;
  /** Every log line, JSON, debug level and up. */
  readonly logs: string[];
}

export async function startDaemon(yaml: string): Promise<Daemon> {
  const logs: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      logs.push(chunk.toString('utf8'));
      done();
    },
  });
  const logger = createLogger({ level: 'debug', format: 'json', destination });
  const config = await parseConfigText(yaml, 'reliability.yaml', { env: {} });
  // A faulty GitLab cannot say what it offers; detection gives up quickly and the probes still run.
  const app = await startApp({ config, configPath: undefined, logger, env: {}, maxStartJitterMs: 0, detectTimeoutMs: 1000 });
  return { app, logs };
}

export interface Answer {
  readonly status: number;
  readonly body: string;
  readonly ms: number;
}

/** One GET on a fresh connection (no keep-alive pool that would outlive the test). */
export function httpGet(url: string, timeoutMs = 2000, headers: Record<string, string> = {}): Promise<Answer> {
  const start = performance.now();
  return new Promise((resolve, reject) => {
    const req = get(url, { agent: false, headers: { connection: 'close', ...headers }, signal: AbortSignal.timeout(timeoutMs) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), ms: performance.now() - start }));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

export interface Watch {
  /** Latency of every /metrics scrape made while the probes ran. */
  readonly scrapeMs: number[];
  /** /metrics or /-/healthy answers that were not 200, or did not come within 2 s. */
  readonly unhealthy: string[];
  /** The last /metrics body. */
  readonly exposition: string;
}

/**
 * Scrapes /metrics and asks /-/healthy every 100 ms until `done()` (or `maxMs`), as Prometheus
 * and a liveness probe would while the faults run.
 */
export async function watch(app: App, done: () => boolean, maxMs: number): Promise<Watch> {
  const scrapeMs: number[] = [];
  const unhealthy: string[] = [];
  let exposition = '';
  const until = Date.now() + maxMs;
  do {
    for (const path of ['/metrics', '/-/healthy']) {
      try {
        const answer = await httpGet(`${app.url()}${path}`);
        if (answer.status !== 200) unhealthy.push(`${path} answered ${answer.status}`);
        if (path === '/metrics') {
          scrapeMs.push(answer.ms);
          exposition = answer.body;
        }
      } catch (err) {
        unhealthy.push(`${path}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    await sleep(100);
  } while (!done() && Date.now() < until);
  return { scrapeMs, unhealthy, exposition };
}

/** Every result kept for a probe, oldest first. */
export function history(app: App, instance: string, probe: string): ProbeResult[] {
  return [...(app.store.get(instance, probe)?.history ?? [])].reverse();
}

/** Runs of one probe that started before the previous one finished (must be none). */
export function overlaps(runs: readonly ProbeResult[]): number {
  let count = 0;
  for (let i = 1; i < runs.length; i++) if (runs[i]!.startedAt < runs[i - 1]!.finishedAt) count++;
  return count;
}

// Resources a probe run creates and must give back: sockets, servers, HTTP/2 sessions, timers,
// pending file system and DNS requests.
const TRACKED = new Set(['TCPSocketWrap', 'TLSWrap', 'TCPServerWrap', 'TCPWRAP', 'Http2Session', 'Timeout', 'FSReqCallback', 'FSReqPromise', 'GetAddrInfoReqWrap', 'FileHandle']);

export type Resources = Readonly<Record<string, number>>;

export function resources(): Resources {
  const counts: Record<string, number> = {};
  for (const kind of process.getActiveResourcesInfo()) if (TRACKED.has(kind)) counts[kind] = (counts[kind] ?? 0) + 1;
  return counts;
}

/** What is open now beyond `baseline`, e.g. `{ TLSWrap: 1 }`; waits up to `waitMs` for it to settle. */
export async function leaksSince(baseline: Resources, waitMs = 3000): Promise<Record<string, number>> {
  const until = Date.now() + waitMs;
  for (;;) {
    const now = resources();
    const excess: Record<string, number> = {};
    for (const [kind, count] of Object.entries(now)) if (count > (baseline[kind] ?? 0)) excess[kind] = count - (baseline[kind] ?? 0);
    if (Object.keys(excess).length === 0 || Date.now() > until) return excess;
    await sleep(25);
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
