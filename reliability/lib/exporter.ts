import { fork, type ChildProcess } from 'node:child_process';
import { request } from 'node:http';
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import pino from 'pino';
import { stringify } from 'yaml';
import { startApp, type App } from '../../src/app.js';
import { parseConfigText } from '../../src/config/load.js';
import { PROBE_NAMES } from '../../src/probes/index.js';
import type { ProbeResult } from '../../src/runner/result.js';
import { childScript } from './paths.js';

/**
 * The exporter under test, in this process (its memory, event loop and handles are what the
 * figures measure), against the simulator in a child process.
 */

export interface SimulatorChild {
  /** The exporter's `instances[]` entry for the simulator (tokens, CA file, endpoints, pins). */
  readonly instance: Record<string, unknown>;
  setScenario(name: string): Promise<void>;
  stop(): Promise<void>;
}

export async function forkSimulator(slowDelayMs: number): Promise<SimulatorChild> {
  const child: ChildProcess = fork(childScript('simulator'), [String(slowDelayMs)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const ready = await new Promise<{ instance: Record<string, unknown>; controlUrl: string }>((resolve, reject) => {
    child.once('message', (m) => resolve(m as { instance: Record<string, unknown>; controlUrl: string }));
    child.once('exit', (code) => reject(new Error(`the simulator exited (${code}) before it was ready`)));
  });
  return {
    instance: ready.instance,
    setScenario: (name) => post(`${ready.controlUrl}/scenario/${name}`),
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.send('stop');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

function post(url: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', agent: false }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`${url} answered ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end();
  });
}

export interface Schedule {
  readonly interval: string;
  readonly timeout: string;
}

/** `copies` instances of the simulator (names sim-1, sim-2, ...), every probe on `schedule`. */
export function exporterYaml(sim: SimulatorChild, copies: number, schedule: Schedule): string {
  return stringify({
    instances: Array.from({ length: copies }, (_v, i) => ({ ...sim.instance, name: `sim-${i + 1}` })),
    defaults: { probes: Object.fromEntries(PROBE_NAMES.map((p) => [p, { ...schedule }])) },
    web: { listen_address: '127.0.0.1:0' },
  });
}

export async function startExporter(yaml: string, maxStartJitterMs: number): Promise<App> {
  const config = await parseConfigText(yaml, 'reliability', { env: {} });
  return startApp({ config, configPath: undefined, logger: pino({ level: 'silent' }), env: {}, maxStartJitterMs });
}

/**
 * Every probe run since the counter was made, as a number that only goes up. The store's own
 * counts can fall: when a re-detection unschedules a probe (a scenario where GitLab is too old,
 * say) the store drops its state, and the probe starts again from zero when it comes back.
 */
export class RunCounter {
  readonly #app: Pick<App, 'store'>;
  readonly #seen = new Map<string, number>();
  #total = 0;

  constructor(app: Pick<App, 'store'>) {
    this.#app = app;
  }

  read(): number {
    const present = new Set<string>();
    for (const [key, state] of this.#app.store.entries()) {
      const runs = state.runs.success + state.runs.failure;
      const before = this.#seen.get(key) ?? 0;
      // Fewer than last time: the state was dropped and made afresh between two reads.
      this.#total += runs >= before ? runs - before : runs;
      this.#seen.set(key, runs);
      present.add(key);
    }
    for (const key of this.#seen.keys()) if (!present.has(key)) this.#seen.delete(key);
    return this.#total;
  }
}

/**
 * Collects finished runs by polling the store's history (the newest 20 per probe), often enough
 * that none is missed at the schedules used here.
 */
export class RunCollector {
  readonly #app: App;
  readonly #seen = new Map<string, number>();
  readonly #timer: NodeJS.Timeout;
  #fresh: ProbeResult[] = [];

  constructor(app: App, everyMs = 50) {
    this.#app = app;
    this.#timer = setInterval(() => this.#poll(), everyMs);
  }

  #poll(): void {
    for (const [key, state] of this.#app.store.entries()) {
      const last = this.#seen.get(key) ?? 0;
      const fresh = state.history.filter((r) => r.startedAt > last);
      if (fresh.length === 0) continue;
      this.#fresh.push(...fresh);
      this.#seen.set(key, Math.max(...fresh.map((r) => r.startedAt)));
    }
  }

  /** The runs finished since the last call. */
  take(): ProbeResult[] {
    this.#poll();
    const out = this.#fresh;
    this.#fresh = [];
    return out;
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}

/** Event-loop delay of this process, in ms, over windows the caller delimits with `window()`. */
export class LoopDelay {
  readonly #histogram: IntervalHistogram = monitorEventLoopDelay({ resolution: 10 });

  constructor() {
    this.#histogram.enable();
  }

  window(): { p50: number; p99: number; max: number } {
    const h = this.#histogram;
    const figures = { p50: h.percentile(50) / 1e6, p99: h.percentile(99) / 1e6, max: h.max / 1e6 };
    h.reset();
    return figures;
  }

  stop(): void {
    this.#histogram.disable();
  }
}

/** Open handles of this process by kind, as Node counts its active resources. */
export function handles(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const kind of process.getActiveResourcesInfo()) counts[kind] = (counts[kind] ?? 0) + 1;
  return counts;
}

export function handleTotal(counts: Record<string, number>): number {
  return Object.values(counts).reduce((a, b) => a + b, 0);
}

export function describeHandles(counts: Record<string, number>): string {
  const parts = Object.entries(counts)
    .sort((a, b) => b[1] - a[1])
    .map(([kind, n]) => `${kind} ${n}`);
  return `${handleTotal(counts)} (${parts.join(', ') || 'none'})`;
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
