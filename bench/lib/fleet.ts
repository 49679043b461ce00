import { stringify } from 'yaml';
import { startChild, type BenchChild } from './proc.js';

/**
 * The exporter and the simulator as bench children: N exporter instances (`sim-001`...), each a
 * full `instances[]` entry pointing at the same simulator, so every probe of the catalog runs.
 */

export interface SimulatorChild {
  readonly child: BenchChild;
  /** One `instances[]` entry (exporterInstanceConfig) for the simulator. */
  readonly instance: Record<string, unknown>;
  scenario(name: string): Promise<void>;
  stop(): Promise<void>;
}

/** `base`: the simulated world under every scenario (src/simulator's `base`, e.g. `{ deployment: 'hybrid' }`). */
export async function startSimulatorChild(dir: string, cpu?: number, base: Record<string, unknown> = {}): Promise<SimulatorChild> {
  const child = startChild('simulator', { cpu });
  const { instance } = await child.request<{ instance: Record<string, unknown> }>('start', { dir, base });
  return {
    child,
    instance,
    scenario: async (name) => void (await child.request('scenario', { name })),
    stop: async () => {
      await child.request('stop').catch(() => undefined);
      await child.stop();
    },
  };
}

export const instanceName = (i: number): string => `sim-${String(i + 1).padStart(3, '0')}`;

/** Config for `count` instances of the simulator; `defaults` goes to `defaults.probes`, `scheduler` to `scheduler`. */
export function fleetYaml(instance: Record<string, unknown>, count: number, defaults: Record<string, unknown> = {}, scheduler?: Record<string, unknown>): string {
  return stringify({
    instances: Array.from({ length: count }, (_, i) => ({ ...instance, name: instanceName(i) })),
    defaults: { probes: defaults },
    ...(scheduler ? { scheduler } : {}),
  // Written out in full: anchors for the shared sub-objects would trip the YAML parser's
  // alias-count guard at a few hundred instances, and a real config has none either.
  }, { aliasDuplicateObjects: false });
}

export interface ExporterStats {
  readonly runs: number;
  readonly failures: number;
  readonly reasons: Record<string, number>;
  readonly lagP50: number;
  readonly lagP99: number;
  readonly lagMax: number;
  readonly durationP50: number;
  readonly durationP99: number;
  readonly loopDelay: { p99: number; max: number };
  readonly memory: NodeJS.MemoryUsage;
}

export interface ExporterChild {
  readonly child: BenchChild;
  readonly url: string;
  readonly scheduled: number;
  readonly startedAt: number;
  stats(since: number): Promise<ExporterStats>;
  populated(): Promise<{ done: number; scheduled: number }>;
  renderCost(args: { renders: number; scrapeSeconds?: number; share?: number }): Promise<RenderCost>;
  stop(): Promise<void>;
}

/** In-process /metrics render time with a share of the probes changed since the last render. */
export interface RenderCost {
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly changedShare: number;
}

export async function startExporterChild(yaml: string, options: { cpu?: number; maxStartJitterMs?: number } = {}): Promise<ExporterChild> {
  const child = startChild('exporter', { cpu: options.cpu });
  const started = await child.request<{ url: string; scheduled: number; startedAt: number }>('start', { yaml, maxStartJitterMs: options.maxStartJitterMs });
  return {
    child,
    ...started,
    stats: (since) => child.request<ExporterStats>('stats', { since }),
    populated: () => child.request('populated'),
    renderCost: (args) => child.request<RenderCost>('renderCost', args),
    stop: async () => {
      await child.request('stop').catch(() => undefined);
      await child.stop();
    },
  };
}
