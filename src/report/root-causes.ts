/**
 * Applies the causal graph (causes.ts) to the failures of one instance: which failing probe is
 * explained by which, the root each chain leads to, and the root causes with what they break.
 * Pure functions over the report's own data, so every renderer says the same thing.
 */
import type { FailureReason } from '../core/errors.js';
import type { Deployment } from '../gitlab/deployment.js';
import type { Fact } from '../core/run.js';
import { CAUSAL_GRAPH, type CausalEdge, type Effect, type FactCondition, type FailureMatch } from './causes.js';

/** A failing probe of one instance, as the graph sees it. */
export interface Failure {
  readonly probe: string;
  readonly reason: FailureReason;
  readonly facts: readonly Fact[];
}

export interface DiagnosisContext {
  readonly deployment: Deployment;
  /** The report's time: facts that are timestamps are judged against it. */
  readonly now: Date;
}

/** Where a failure comes from, when another failure explains it. */
export interface RootCauseOf {
  /** The root: a failing probe that nothing in the graph explains. */
  readonly probe: string;
  readonly reason: FailureReason;
  /** The root cause in a few words (the graph's summary of the edge from the root). */
  readonly summary: string;
  /** Failing probes between this one and the root, nearest first; empty when the root explains it directly. */
  readonly via: readonly string[];
}

/** A failure nothing explains, and the failures it explains, directly or through others. */
export interface RootCause {
  readonly probe: string;
  readonly reason: FailureReason;
  /** The graph's summaries of what is wrong, when the root explains others. */
  readonly summary: string | undefined;
  /** In the order of `failures`. */
  readonly affected: readonly { readonly probe: string; readonly reason: FailureReason }[];
  /** The edge from the root to what it explains, when there is exactly one (its fix applies). */
  readonly edge: CausalEdge | undefined;
}

export interface Diagnosis {
  /** Failing probes explained by another, by probe name. */
  readonly explained: ReadonlyMap<string, RootCauseOf>;
  /** One entry per root: those that explain the most first, then in the order of `failures`. */
  readonly causes: readonly RootCause[];
}

/** Whether `edge` says that `cause` failing explains `effect` failing (same instance). */
export function edgeApplies(edge: CausalEdge, cause: Failure, effect: Failure, context: DiagnosisContext, graphEffect = effectFor(edge, effect.probe)): boolean {
  if (!graphEffect || cause.probe === effect.probe) return false;
  if (edge.deployments && !edge.deployments.includes(context.deployment)) return false;
  if (!matches(edge.cause, cause, context) || !matches(graphEffect, effect, context)) return false;
  if (graphEffect.sameReason && effect.reason !== cause.reason) return false;
  if (graphEffect.checks && !failingChecks(effect.facts).every((check) => (graphEffect.checks as readonly string[]).includes(check))) return false;
  return true;
}

/** The failures of one instance, explained: each failing probe's root and the list of roots. */
export function diagnose(failures: readonly Failure[], context: DiagnosisContext, graph: readonly CausalEdge[] = CAUSAL_GRAPH): Diagnosis {
  const byProbe = new Map(failures.map((f) => [f.probe, f]));
  // The first edge of the graph (priority order) that explains each failure, and by which failure.
  const parent = new Map<string, { readonly by: Failure; readonly edge: CausalEdge }>();
  for (const effect of failures) {
    for (const edge of graph) {
      const graphEffect = effectFor(edge, effect.probe);
      const cause = graphEffect ? byProbe.get(edge.cause.probe) : undefined;
      if (cause && edgeApplies(edge, cause, effect, context, graphEffect)) {
        parent.set(effect.probe, { by: cause, edge });
        break;
      }
    }
  }
  const explained = new Map<string, RootCauseOf>();
  const rootOf = new Map<string, { readonly root: Failure; readonly edge: CausalEdge | undefined }>();
  for (const failure of failures) {
    // Up the chain to a failure nothing explains. The graph has no cycle (a test proves it); the
    // visited set keeps a broken table from looping all the same.
    const chain: Failure[] = [];
    const seen = new Set<string>([failure.probe]);
    let current = failure;
    let lastEdge: CausalEdge | undefined;
    for (let up = parent.get(current.probe); up && !seen.has(up.by.probe); up = parent.get(current.probe)) {
      chain.push(current);
      seen.add(up.by.probe);
      lastEdge = up.edge;
      current = up.by;
    }
    // Stopped on a cycle rather than at a root: the failure stands as its own cause.
    if (parent.has(current.probe)) {
      rootOf.set(failure.probe, { root: failure, edge: undefined });
      continue;
    }
    rootOf.set(failure.probe, { root: current, edge: lastEdge });
    if (current !== failure && lastEdge) {
      explained.set(failure.probe, { probe: current.probe, reason: current.reason, summary: lastEdge.summary, via: chain.slice(1).map((f) => f.probe) });
    }
  }
  const roots = failures.filter((f) => !explained.has(f.probe));
  const causes = roots.map((root): RootCause => {
    const affected = failures.filter((f) => explained.get(f.probe)?.probe === root.probe);
    const edges = [...new Set(affected.map((f) => rootOf.get(f.probe)?.edge).filter((e): e is CausalEdge => e !== undefined))];
    const summaries = [...new Set(edges.map((e) => e.summary))];
    return {
      probe: root.probe,
      reason: root.reason,
      summary: summaries.length > 0 ? summaries.join('; ') : undefined,
      affected: affected.map((f) => ({ probe: f.probe, reason: f.reason })),
      edge: edges.length === 1 ? edges[0] : undefined,
    };
  });
  // Stable: equal counts keep the order of `failures` (the catalog's).
  causes.sort((a, b) => b.affected.length - a.affected.length);
  return { explained, causes };
}

function effectFor(edge: CausalEdge, probe: string): Effect | undefined {
  return edge.effects.find((e) => e.probe === probe);
}

function matches(match: FailureMatch, failure: Failure, context: DiagnosisContext): boolean {
  if (match.probe !== failure.probe) return false;
  if (match.reasons && !match.reasons.includes(failure.reason)) return false;
  return (match.facts ?? []).every((condition) => factHolds(condition, failure.facts, context.now));
}

/** Whether the run exported a sample of the fact that meets the condition. */
export function factHolds(condition: FactCondition, facts: readonly Fact[], now: Date): boolean {
  const nowSeconds = now.getTime() / 1000;
  return facts.some(
    (f) =>
      f.name === condition.name &&
      Object.entries(condition.labels ?? {}).every(([label, wanted]) => (typeof wanted === 'string' ? [wanted] : wanted).includes(f.labels?.[label] ?? '')) &&
      (condition.value === undefined || (typeof condition.value === 'number' ? f.value === condition.value : condition.value.includes(f.value))) &&
      (condition.olderThanSeconds === undefined || f.value <= nowSeconds - condition.olderThanSeconds),
  );
}

/** GitLab's health-check results that failed and count here (health_check's facts). */
export function failingChecks(facts: readonly Fact[]): string[] {
  const key = (f: Fact) => `${f.labels?.check ?? ''}\u0000${f.labels?.target ?? ''}`;
  const notCounted = new Set(facts.filter((f) => f.name === 'gitlab_duo_health_check_probe_counted' && f.value === 0).map(key));
  const failed = facts.filter((f) => f.name === 'gitlab_duo_health_check_probe_success' && f.value === 0 && !notCounted.has(key(f)));
  return [...new Set(failed.map((f) => f.labels?.check ?? ''))];
}
