import type { Logger } from 'pino';
import { FAILURE_REASONS, IMPLICIT_REASONS, type FailureReason } from '../errors.js';
import type { InstanceConfig } from '../config/schema.js';
import type { NetOptions } from '../net/options.js';
import type { FactName } from '../metrics/facts.js';
import type { InstanceEnvironment } from '../gitlab/deployment.js';

/** Phases of metrics.md; a probe lists the ones it has and the runner pre-sets them to 0. */
export const PHASES = [
  'dns',
  'connect',
  'proxy_connect',
  'tls',
  'first_byte',
  'transfer',
  'upgrade',
  'welcome',
  'grpc',
  'api',
  // duo_chat: the subscription's confirmation, then the streamed answer's start and end.
  'subscribe',
  'first_chunk',
  'complete',
] as const;
export type Phase = (typeof PHASES)[number];

export type ProbeGroup = 'network' | 'inbound' | 'sync' | 'exchange' | 'settings' | 'node';

/** Which token a probe needs, so a skipped probe can say what would enable it. */
export type TokenKind = 'admin' | 'duo_user' | 'agent_platform';

/** A probe fact: one sample of a family declared in metrics/facts.ts. */
export interface Fact {
  readonly name: FactName;
  /**
   * Extra labels beyond `gitlab` (and `probe` where the family has it); values from closed sets
   * only, but for `gitlab_duo_tls_peer_info`'s certificate names (bounded, see metrics/facts.ts).
   */
  readonly labels?: Readonly<Record<string, string>>;
  readonly value: number;
}

/**
 * Collects what a run measured. Owned by the runner so that phase timings and facts recorded
 * before a failure survive the throw.
 */
export interface Recorder {
  /** Times `fn` as `phase` (added to any earlier time in the same phase). */
  phase<T>(phase: Phase, fn: () => Promise<T>): Promise<T>;
  /** Adds an already measured duration to a phase. */
  addPhase(phase: Phase, seconds: number): void;
  fact(name: FactName, value: number, labels?: Record<string, string>): void;
  /** A short human line saying what was tested and what came back; shown in reports and logs. */
  note(text: string): void;
}

/** What a probe gets for one run. It must bound every I/O call by `signal`. */
export interface ProbeContext {
  readonly instance: InstanceConfig;
  readonly signal: AbortSignal;
  /** Absolute deadline (ms since the epoch); the same moment `signal` aborts. */
  readonly deadline: number;
  readonly net: NetOptions;
  readonly record: Recorder;
  readonly logger: Logger;
  /** What this GitLab offers and how Duo is deployed (detected at start, reload, version change). */
  readonly environment: InstanceEnvironment;
}

export type Availability = { readonly enabled: true } | { readonly enabled: false; readonly why: string };

/**
 * Whether this instance uses what a probe tests: `required` counts in gitlab_duo_ready,
 * `optional` runs and is reported only, `skip` does not run (a feature this instance does not
 * use, or a release that does not have it), with the reason shown wherever the probe is listed.
 */
export type Relevance =
  | { readonly use: 'required'; readonly why?: string }
  | { readonly use: 'optional'; readonly why: string }
  | { readonly use: 'skip'; readonly why: string };

/**
 * One row of the probe catalog (architecture.md). `run` resolves when the check passed and throws
 * a ProbeError (anything else is classified by the runner) when it did not.
 */
export interface ProbeDefinition<Name extends string = string> {
  readonly name: Name;
  readonly group: ProbeGroup;
  /** What a success proves, in one sentence (status page, report, docs). */
  readonly proves: string;
  readonly defaultInterval: string;
  readonly defaultTimeout: string;
  /** Counted in `gitlab_duo_ready` unless `relevance` or the config says otherwise. */
  readonly required: boolean;
  /**
   * Whether the deployment profile and GitLab's capabilities make the probe required, optional or
   * not applicable here; without it the probe is `required` as declared. Never does I/O.
   */
  relevance?(env: InstanceEnvironment, instance: InstanceConfig): Relevance;
  readonly phases: readonly Phase[];
  readonly facts: readonly FactName[];
  /**
   * The failure reasons `run` can produce besides `timeout` and `internal` (implicit in every set):
   * its own, and those of the net/ and gitlab/ helpers it calls (their `*_REASONS` lists). The
   * failure_reason one-hot covers exactly these; a run failing with another is an exporter bug,
   * reported as `internal` (runner/run-probe.ts). test/probes/declared-reasons.test.ts holds each
   * list against what the probe really produces.
   */
  readonly reasons: readonly FailureReason[];
  readonly token?: TokenKind;
  /** Whether this instance's config lets the probe run at all (token present, endpoint set). */
  availability(instance: InstanceConfig): Availability;
  /** What the probe talks to, for reports: a URL or host:port, never with credentials. */
  target(instance: InstanceConfig): string;
  run(ctx: ProbeContext): Promise<void>;
}

/**
 * Keeps each probe's literal name type, and refuses at start a reason list naming one twice or
 * naming an implicit one (the docs list the declared set, so it has one spelling).
 */
export function defineProbe<const Name extends string>(probe: ProbeDefinition<Name>): ProbeDefinition<Name> {
  const wrong = probe.reasons.filter((r, i) => probe.reasons.indexOf(r) !== i || (IMPLICIT_REASONS as readonly string[]).includes(r));
  if (wrong.length > 0) throw new Error(`probe ${probe.name}: reasons must list each reason once and leave out ${IMPLICIT_REASONS.join(' and ')}: ${wrong.join(', ')}`);
  return probe;
}

const declared = new WeakMap<ProbeDefinition, readonly FailureReason[]>();

/** Every reason a run of the probe can end with: its own and the implicit ones, in the closed set's order. */
export function declaredReasons(probe: ProbeDefinition): readonly FailureReason[] {
  let reasons = declared.get(probe);
  if (!reasons) {
    const own = new Set<FailureReason>([...probe.reasons, ...IMPLICIT_REASONS]);
    reasons = FAILURE_REASONS.filter((r) => own.has(r));
    declared.set(probe, reasons);
  }
  return reasons;
}
