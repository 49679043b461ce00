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
