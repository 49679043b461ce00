/**
 * Failure reasons: the closed set of metrics.md. A probe failure is always one of these, so the
 * `reason` label can never grow with error text.
 */
export const FAILURE_REASONS = [
  'dns',
  'connect',
  'timeout',
  'tls',
  'proxy',
  'http_status',
  'http2_not_negotiated',
  'grpc',
  'websocket_upgrade',
  'websocket_protocol',
  'auth',
  'forbidden',
  'rate_limited',
  'unexpected_response',
  'requirement_not_met',
  'internal',
] as const;

export type FailureReason = (typeof FAILURE_REASONS)[number];

/**
 * The reasons any probe can fail with, whatever it does: the runner's deadline (`timeout`) and an
 * exporter bug (`internal`). Each probe declares the others it can produce (ProbeDefinition.reasons).
 */
export const IMPLICIT_REASONS = ['timeout', 'internal'] as const satisfies readonly FailureReason[];

export interface ProbeErrorOptions {
  cause?: unknown;
  /** For `rate_limited`: seconds the server asked us to wait (Retry-After). */
  retryAfterSeconds?: number;
}

/**
 * The one error type a probe throws. `reason` is stable and machine-readable; `message` is for
 * humans (logs, status page, report) and must never contain a token.
 */
export class ProbeError extends Error {
  override readonly name = 'ProbeError';
  readonly retryAfterSeconds: number | undefined;

  constructor(
    readonly reason: FailureReason,
    message: string,
    options: ProbeErrorOptions = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.retryAfterSeconds = options.retryAfterSeconds;
  }
}

/** A configuration problem; `issues` lists every problem found, each naming its path. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly issues: readonly string[];

  constructor(
    issues: readonly string[],
    readonly source: string,
  ) {
    super(`invalid configuration (${source}):\n${capIssues(issues).map((i) => `  - ${i}`).join('\n')}`);
    this.issues = capIssues(issues);
  }
}

/**
 * The HTTP server could not bind its address (a port in use, a privileged port). Not a config
 * error: the config may be right and another process in the way, so the message says what to do.
 */
export class ListenError extends Error {
  override readonly name = 'ListenError';

  constructor(
    readonly address: string,
    readonly code: string | undefined,
    message: string,
  ) {
    super(message);
  }
}

// A broken or hostile file can yield hundreds of problems, or quote back a value of megabytes;
// what reaches a terminal, a log line or a reload answer stays readable and bounded.
const MAX_ISSUES = 20;
const MAX_ISSUE_LENGTH = 500;

function capIssues(issues: readonly string[]): string[] {
  const shown = issues.slice(0, MAX_ISSUES).map((i) => (i.length > MAX_ISSUE_LENGTH ? `${i.slice(0, MAX_ISSUE_LENGTH - 1)}…` : i));
  if (issues.length > MAX_ISSUES) shown.push(`… and ${issues.length - MAX_ISSUES} more`);
  return shown;
}

export function isFailureReason(value: unknown): value is FailureReason {
  return typeof value === 'string' && (FAILURE_REASONS as readonly string[]).includes(value);
}
