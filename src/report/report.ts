import type { FailureReason } from '../errors.js';
import type { Fact, Phase } from '../probes/types.js';
import type { Plan } from '../runner/plan.js';
import type { ResultStore } from '../runner/store.js';
import { VERSION } from '../version.js';

export interface ProbeReport {
  readonly name: string;
  readonly group: string;
  readonly required: boolean;
  /** What a success proves. */
  readonly proves: string;
  /** What it talks to (URL or host:port, never credentials). */
  readonly target: string;
  readonly status: 'pass' | 'fail' | 'skipped' | 'pending';
  readonly skippedBecause?: string;
  readonly reason?: FailureReason;
  readonly message?: string;
  readonly notes?: readonly string[];
  readonly lastRun?: string;
  readonly durationSeconds?: number;
  readonly phases?: Readonly<Partial<Record<Phase, number>>>;
  readonly facts?: readonly Fact[];
}

export interface InstanceReport {
  readonly name: string;
  readonly url: string | undefined;
  /** Every required, enabled probe passed. */
  readonly ready: boolean;
  readonly probes: readonly ProbeReport[];
}

/** The readiness report: the same document for `check`, /report.json and the status page. */
export interface Report {
  readonly exporterVersion: string;
  readonly generatedAt: string;
  readonly ready: boolean;
  readonly instances: readonly InstanceReport[];
}

export function buildReport(plan: Plan, store: ResultStore, now = new Date()): Report {
  const instances = plan.config.instances.map((instance): InstanceReport => {
    const probes = plan.probes
      .filter((p) => p.instance === instance)
      .map((p): ProbeReport => {
        const base = { name: p.probe.name, group: p.probe.group, required: p.settings.required, proves: p.probe.proves, target: p.probe.target(instance) };
        if (p.skippedBecause !== undefined) return { ...base, status: 'skipped', skippedBecause: p.skippedBecause };
        const last = store.get(instance.name, p.probe.name)?.last;
        if (!last) return { ...base, status: 'pending' };
        return {
          ...base,
          status: last.success ? 'pass' : 'fail',
          ...(last.reason ? { reason: last.reason } : {}),
          message: last.message,
          notes: last.notes,
          lastRun: new Date(last.finishedAt).toISOString(),
          durationSeconds: round(last.durationSeconds),
          phases: Object.fromEntries(Object.entries(last.phases).map(([k, v]) => [k, round(v)])),
          facts: last.facts,
        };
      });
    const ready = probes.every((p) => !p.required || p.status === 'pass' || p.status === 'skipped');
    return { name: instance.name, url: instance.url, ready, probes };
  });
  return { exporterVersion: VERSION, generatedAt: now.toISOString(), ready: instances.every((i) => i.ready), instances };
}

const round = (seconds: number): number => Math.round(seconds * 1e6) / 1e6;
