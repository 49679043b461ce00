import type { FactName } from './facts.js';

/**
 * What a probe run measures and records, as every layer sees it: the network and GitLab helpers
 * time phases and record facts through a Recorder, the runner owns it, metrics and reports read
 * what it kept. Types only: this file imports nothing but the fact catalog.
 */

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

export type Availability = { readonly enabled: true } | { readonly enabled: false; readonly why: string };
