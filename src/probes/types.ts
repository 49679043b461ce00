import type { Logger } from 'pino';
import { FAILURE_REASONS, IMPLICIT_REASONS, type FailureReason } from '../core/errors.js';
import type { InstanceConfig } from '../config/schema.js';
import type { NetOptions } from '../net/options.js';
import type { FactName } from '../core/facts.js';
import type { Availability, Phase, Recorder, TokenKind } from '../core/run.js';
import type { InstanceEnvironment } from '../gitlab/deployment.js';

/** One scope a probe needs of one of the exporter's tokens. */
export interface ScopeNeed {
  readonly token: TokenKind;
  /** The scope the exporter's docs ask for. */
  readonly scope: string;
  /** Scopes GitLab accepts for it: `api` covers every API request (lib/api/api.rb:53-54). */
  readonly accepted: readonly string[];
}

/**
 * What a probe's requests go to: `network` from this host to a host outside (GitLab's cloud
 * endpoints, the Duo Workflow Service, an AI gateway), `node` this node's own files, every other
 * group the instance's external URL. Advice, the causal graph and the runner read it so.
 */
export type ProbeGroup = 'network' | 'inbound' | 'sync' | 'exchange' | 'settings' | 'node';

/** The alerts of alerts/gitlab-duo.rules.yml that page when the probe fails; each has a runbook section. */
export interface ProbeAlerts {
  /** The alert that fires when the probe fails, whatever the reason. */
  readonly failing: string;
  /** Where a more specific alert (and runbook section) covers a reason, it wins. */
  readonly byReason?: Readonly<Partial<Record<FailureReason, string>>>;
}

/**
 * What to do when the probe fails, in one or two sentences condensed from docs/runbook.md (which
 * has the commands and the detail): in general, and for the reasons where the probe knows better
 * than its token's or its path's advice (report/fixes.ts looks them up most specific first).
 * Reports, the status page and tests quote them.
 */
export type ProbeAdvice = { readonly default: string } & Readonly<Partial<Record<FailureReason, string>>>;

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
  /**
   * The scopes its requests need of the exporter's tokens, each satisfied by any of `accepted`
   * (cited in docs/gitlab-compatibility.md); exporter_tokens checks the tokens against the needs
   * of the probes that run here.
   */
  readonly scopes?: readonly ScopeNeed[];
  readonly alerts: ProbeAlerts;
  readonly advice: ProbeAdvice;
  /**
   * For a probe the config can leave off for want of something other than a token or the URL (an
   * endpoint, a node's folders): what would enable it, as the report and status page say it.
   */
  readonly enablingHint?: string;
  /** Whether this instance's config lets the probe run at all (token present, endpoint set). */
  availability(instance: InstanceConfig): Availability;
  /** What the probe talks to, for reports: a URL or host:port, never with credentials. */
  target(instance: InstanceConfig): string;
  run(ctx: ProbeContext): Promise<void>;
}

/**
 * Keeps each probe's literal name type, and refuses at start a reason list naming one twice or
 * naming an implicit one (the docs list the declared set, so it has one spelling), and advice or an
 * alert for a reason the probe cannot fail with (dead text, left behind when a reason goes).
 */
export function defineProbe<const Name extends string>(probe: ProbeDefinition<Name>): ProbeDefinition<Name> {
  const wrong = probe.reasons.filter((r, i) => probe.reasons.indexOf(r) !== i || (IMPLICIT_REASONS as readonly string[]).includes(r));
  if (wrong.length > 0) throw new Error(`probe ${probe.name}: reasons must list each reason once and leave out ${IMPLICIT_REASONS.join(' and ')}: ${wrong.join(', ')}`);
  const canFail = new Set<string>([...probe.reasons, ...IMPLICIT_REASONS]);
  const perReason = [...Object.keys(probe.advice), ...Object.keys(probe.alerts.byReason ?? {})].filter((key) => key !== 'default');
  const dead = perReason.filter((reason) => !canFail.has(reason));
  if (dead.length > 0) throw new Error(`probe ${probe.name}: advice or alerts for reasons it does not declare: ${[...new Set(dead)].join(', ')}`);
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
