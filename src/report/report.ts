import { describeSchedule } from '../config/schema.js';
import type { FailureReason } from '../core/errors.js';
import type { ProbeGroup } from '../probes/types.js';
import type { Fact, Phase, TokenKind } from '../core/run.js';
import type { Plan, PlannedProbe } from '../runner/plan.js';
import type { Deployment, InstanceEnvironment } from '../gitlab/deployment.js';
import { versionLabel } from '../gitlab/version.js';
import type { ResultStore } from '../runner/store.js';
import { VERSION } from '../core/version.js';
import { enablingHint, explainReason, fixAdvice, runbookLink, type Fix } from './explain.js';
import { displayUrl, scrubberFor } from './redact.js';
import { diagnose, type Failure } from './root-causes.js';
import { tokenReports, TOKENS_PROBE, type TokenReport } from './tokens.js';

/** Bumped when a field changes meaning or goes away (docs/report.md); new fields do not bump it. */
export const REPORT_SCHEMA_VERSION = 1;

export type ProbeStatus = 'pass' | 'fail' | 'skipped' | 'pending';

export interface ProbeReport {
  readonly name: string;
  readonly group: ProbeGroup;
  readonly required: boolean;
  /** Why required or optional on this instance (deployment profile, capabilities, config). */
  readonly requiredWhy?: string;
  /** What a success proves. */
  readonly proves: string;
  /** What it talks to (URL or host:port, never credentials). */
  readonly target: string;
  /** The token the probe uses, if any (the kind, never the token). */
  readonly token?: TokenKind;
  /** "every 30s" or a cron expression. */
  readonly schedule: string;
  readonly timeoutSeconds: number;
  readonly status: ProbeStatus;
  readonly skippedBecause?: string;
  /** For a skipped probe: the setting or token that would enable it. */
  readonly enableWith?: string;
  readonly reason?: FailureReason;
  /** The failure reason in plain words. */
  readonly explanation?: string;
  readonly message?: string;
  readonly notes?: readonly string[];
  readonly lastRun?: string;
  readonly durationSeconds?: number;
  readonly phases?: Readonly<Partial<Record<Phase, number>>>;
  readonly facts?: readonly Fact[];
  /**
   * For a failing probe: what to do, and where the docs say more. When another failure explains
   * this one (`rootCause`), the root cause's fix: fixing it is what makes this probe pass again.
   */
  readonly fix?: Fix;
  /** For a failing probe that another failing probe explains (src/report/causes.ts): the root of the chain. */
  readonly rootCause?: RootCauseReport;
}

/** The root cause of a failure that another failure explains. */
export interface RootCauseReport {
  /** The failing probe nothing else explains. */
  readonly probe: string;
  readonly reason: FailureReason;
  /** What is wrong, in a few words, e.g. `Silent Mode is on`. */
  readonly summary: string;
  /** Failing probes between this one and the root, nearest first (empty: the root explains it directly). */
  readonly via: readonly string[];
}

/** A failure nothing else explains, with every failure it explains: one entry per cause. */
export interface CauseReport {
  readonly probe: string;
  readonly reason: FailureReason;
  /** What is wrong, in a few words: the graph's summary when it explains others, else the reason in plain words. */
  readonly summary: string;
  /** What the root probe's last run saw. */
  readonly message: string;
  /** The failing probes it explains, directly or through others, with their own reasons, in catalog order. */
  readonly affected: readonly { readonly probe: string; readonly reason: FailureReason }[];
  readonly fix: Fix;
}

export interface ReadinessSummary {
  readonly passed: number;
  readonly failed: number;
  readonly skipped: number;
  readonly pending: number;
  /** Required probes that keep the instance from being ready: failing or not run yet. */
  readonly blocking: readonly string[];
  /** One line for humans. */
  readonly text: string;
}

/** What was detected of the instance, and the deployment profile the probes followed. */
export interface EnvironmentReport {
  /** cloud, self_hosted or hybrid. */
  readonly deployment: string;
  /** config, detected or assumed. */
  readonly deploymentSource: string;
  readonly deploymentWhy: string;
  /** The GitLab version as detected, or undefined. */
  readonly gitlabVersion: string | undefined;
  /** Each capability: true, false, or absent when unknown. */
  readonly capabilities: Readonly<Partial<Record<string, boolean>>>;
  readonly agentPlatform: string;
  /** What could not be detected and why. */
  readonly detectionProblems: readonly string[];
}

export interface InstanceReport {
  readonly name: string;
  readonly url: string | undefined;
  readonly environment: EnvironmentReport;
  /** Every required, enabled probe passed. */
  readonly ready: boolean;
  readonly summary: ReadinessSummary;
  readonly probes: readonly ProbeReport[];
  /** The root causes of the failing probes, the one that explains the most first; empty when nothing fails. */
  readonly causes: readonly CauseReport[];
  /** The exporter's own tokens as the exporter_tokens probe last saw them; empty before it ran. */
  readonly tokens: readonly TokenReport[];
}

/** The readiness report: the same document for `check`, /report.json, /report.md and the status page. */
export interface Report {
  readonly schemaVersion: typeof REPORT_SCHEMA_VERSION;
  readonly exporterVersion: string;
  readonly generatedAt: string;
  readonly ready: boolean;
  readonly instances: readonly InstanceReport[];
}

export function buildReport(plan: Plan, store: ResultStore, now = new Date()): Report {
  const instances = plan.config.instances.map((instance): InstanceReport => {
    const own = plan.probes.filter((p) => p.instance === instance).map((p) => probeReport(p, store));
    const ready = own.every((p) => !p.required || p.status === 'pass' || p.status === 'skipped');
    const env = plan.environments.get(instance.name);
    const environment = environmentReport(env, scrubberFor(plan.probes.find((p) => p.instance === instance)!));
    const { probes, causes } = withRootCauses(own, env?.deployment ?? 'cloud', now);
    const tokens = tokenReports(probes.find((p) => p.name === TOKENS_PROBE), now);
    return { name: instance.name, url: displayUrl(instance.url), environment, ready, summary: summarise(probes, ready), causes, tokens, probes };
  });
  return {
    schemaVersion: REPORT_SCHEMA_VERSION,
    exporterVersion: VERSION,
    generatedAt: now.toISOString(),
    ready: instances.every((i) => i.ready),
    instances,
  };
}

function environmentReport(env: InstanceEnvironment | undefined, scrub: (text: string) => string): EnvironmentReport {
  const capabilities = Object.fromEntries(Object.entries(env?.flags ?? {}).filter(([, v]) => v !== undefined)) as Partial<Record<string, boolean>>;
  const version = env?.capabilities?.version;
  return {
    deployment: env?.deployment ?? 'cloud',
    deploymentSource: env?.deploymentSource ?? 'assumed',
    deploymentWhy: scrub(env?.deploymentWhy ?? ''),
    // The label form: numbers and a known suffix only, never text GitLab made up.
    gitlabVersion: version ? versionLabel(version) : undefined,
    capabilities,
    agentPlatform: scrub(env ? `${env.agentPlatform.inUse === undefined ? 'unknown' : env.agentPlatform.inUse ? 'in use' : 'not in use'}: ${env.agentPlatform.why}` : 'unknown'),
    detectionProblems: (env?.capabilities?.problems ?? []).map(scrub),
  };
}

function probeReport(p: PlannedProbe, store: ResultStore): ProbeReport {
  // Every text that reaches the report goes through the scrubber: no token, no proxy password.
  const scrub = scrubberFor(p);
  const base = {
    name: p.probe.name,
    group: p.probe.group,
    required: p.required,
    ...(p.requiredWhy && p.skippedBecause === undefined ? { requiredWhy: scrub(p.requiredWhy) } : {}),
    proves: p.probe.proves,
    target: scrub(p.probe.target(p.instance)),
    ...(p.probe.token ? { token: p.probe.token } : {}),
    schedule: describeSchedule(p.settings.schedule),
    timeoutSeconds: p.settings.timeoutMs / 1000,
  };
  if (p.skippedBecause !== undefined) {
    const hint = enablingHint(p);
    return { ...base, status: 'skipped', skippedBecause: scrub(p.skippedBecause), ...(hint ? { enableWith: scrub(hint) } : {}) };
  }
  const last = store.get(p.instance.name, p.probe.name)?.last;
  if (!last) return { ...base, status: 'pending' };
  const failed = !last.success;
  const reason = failed ? (last.reason ?? 'internal') : undefined;
  return {
    ...base,
    status: failed ? 'fail' : 'pass',
    ...(reason ? { reason, explanation: explainReason(reason) } : {}),
    message: scrub(last.message),
    notes: last.notes.map(scrub),
    lastRun: new Date(last.finishedAt).toISOString(),
    durationSeconds: round(last.durationSeconds),
    phases: Object.fromEntries(Object.entries(last.phases).map(([k, v]) => [k, round(v)])),
    // Label values come from closed sets; scrubbed all the same, like every text of the report.
    facts: last.facts.map((f) => (f.labels ? { ...f, labels: Object.fromEntries(Object.entries(f.labels).map(([k, v]) => [k, scrub(v)])) } : f)),
    ...(reason ? { fix: fixAdvice(p.probe.name, reason, p.probe.token) } : {}),
  };
}

/**
 * The causal graph applied to one instance's failures: each explained failure names its root cause
 * and carries the root's fix; the roots are listed once each, with what they explain.
 */
function withRootCauses(probes: readonly ProbeReport[], deployment: Deployment, now: Date): { probes: ProbeReport[]; causes: CauseReport[] } {
  const failing = probes.filter((p): p is ProbeReport & { reason: FailureReason } => p.status === 'fail' && p.reason !== undefined);
  const failures: Failure[] = failing.map((p) => ({ probe: p.name, reason: p.reason, facts: p.facts ?? [] }));
  const diagnosis = diagnose(failures, { deployment, now });
  const byName = new Map(failing.map((p) => [p.name, p]));
  // The root probe's fix, or what the graph says about this cause where it says more (the alert
  // that pages for it and its runbook section).
  const rootFix = (name: string): Fix => {
    const root = byName.get(name)!;
    const own = root.fix ?? fixAdvice(root.name, root.reason, root.token);
    const override = diagnosis.causes.find((c) => c.probe === name)?.edge?.fix;
    return override ? { ...own, advice: override.advice, ...(override.alert ? { runbook: runbookLink(override.alert) } : {}) } : own;
  };
  const explained = probes.map((p): ProbeReport => {
    const root = diagnosis.explained.get(p.name);
    return root ? { ...p, fix: rootFix(root.probe), rootCause: { probe: root.probe, reason: root.reason, summary: root.summary, via: [...root.via] } } : p;
  });
  const causes = diagnosis.causes.map((c): CauseReport => {
    const root = byName.get(c.probe)!;
    return {
      probe: c.probe,
      reason: c.reason,
      summary: c.summary ?? root.explanation ?? explainReason(c.reason),
      message: root.message ?? '',
      affected: c.affected.map((a) => ({ probe: a.probe, reason: a.reason })),
      fix: rootFix(c.probe),
    };
  });
  return { probes: explained, causes };
}

function summarise(probes: readonly ProbeReport[], ready: boolean): ReadinessSummary {
  const count = (status: ProbeStatus) => probes.filter((p) => p.status === status).length;
  const blocking = probes.filter((p) => p.required && (p.status === 'fail' || p.status === 'pending')).map((p) => p.name);
  const optionalFailing = probes.filter((p) => !p.required && p.status === 'fail').map((p) => p.name);
  const [passed, failed, skipped, pending] = [count('pass'), count('fail'), count('skipped'), count('pending')];
  const enabled = probes.length - skipped;
  const parts = [ready ? `ready: ${passed} of ${enabled} enabled probes pass` : `NOT ready: ${describeBlocking(probes, blocking)}`];
  if (optionalFailing.length > 0) parts.push(`optional probes failing: ${optionalFailing.join(', ')}`);
  if (skipped > 0) parts.push(`${skipped} skipped`);
  return { passed, failed, skipped, pending, blocking, text: parts.join('; ') };
}

function describeBlocking(probes: readonly ProbeReport[], blocking: readonly string[]): string {
  const failing = blocking.filter((name) => probes.find((p) => p.name === name)?.status === 'fail');
  const waiting = blocking.filter((name) => !failing.includes(name));
  const parts: string[] = [];
  if (failing.length > 0) parts.push(`${failing.join(', ')} ${failing.length === 1 ? 'fails' : 'fail'}`);
  if (waiting.length > 0) parts.push(`waiting for the first run of ${waiting.join(', ')}`);
  return parts.join('; ');
}

const round = (seconds: number): number => Math.round(seconds * 1e6) / 1e6;
