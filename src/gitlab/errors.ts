import { ProbeError } from '../core/errors.js';
import { TOKEN_DESCRIPTIONS, type Credential } from './availability.js';
import { quote } from '../core/redact.js';

/** What the status mapping needs to know about an answer. */
export interface StatusContext {
  readonly status: number;
  /** `GET /api/v4/metadata`: method and path, never a query or credentials. */
  readonly where: string;
  /** GitLab's own explanation, already quoted (short, scrubbed), or ''. */
  readonly gitlabMessage: string;
  readonly retryAfter: string | undefined;
  readonly credential: Credential | undefined;
}

// Retry-After beyond a day is not a real answer; cap it so a hostile value cannot park a probe.
const MAX_RETRY_AFTER_SECONDS = 24 * 3600;

/**
 * Maps a non-2xx answer to a failure reason: 401 `auth`, 403 `forbidden`, 429 `rate_limited`
 * (with Retry-After, so the scheduler defers the next run), anything else `http_status`.
 * `hint` is the probe's explanation of what this status means for it.
 */
export function statusError(res: StatusContext, hint = ''): ProbeError {
  const said = res.gitlabMessage ? `: ${res.gitlabMessage}` : '';
  const extra = hint ? ` (${hint})` : '';
  const token = res.credential ? TOKEN_DESCRIPTIONS[res.credential.kind] : 'no token';
  switch (res.status) {
    case 401:
      return new ProbeError('auth', `${res.where} answered 401${extra}; GitLab did not accept the ${token}: unknown, expired or revoked${said}`);
    case 403:
      // GitLab's API guard answers a missing scope with insufficient_scope and the scopes it wanted.
      if (/insufficient_scope/.test(res.gitlabMessage)) {
        return new ProbeError('forbidden', `${res.where} answered 403: the ${token} lacks a scope this endpoint needs${said}`);
      }
      return new ProbeError('forbidden', `${res.where} answered 403${extra}; the ${token} is valid but not allowed here${said}`);
    case 429: {
      const retryAfterSeconds = parseRetryAfter(res.retryAfter);
      const wait = retryAfterSeconds === undefined ? '' : `; retrying after ${retryAfterSeconds}s`;
      return new ProbeError('rate_limited', `${res.where} answered 429 Too Many Requests${extra}${wait}${said}`, retryAfterSeconds === undefined ? {} : { retryAfterSeconds });
    }
    default:
      return new ProbeError('http_status', `${res.where} answered ${res.status}${extra}${said}`);
  }
}

/** `Retry-After` as delay-seconds or an HTTP date (RFC 9110 §10.2.3); undefined if neither. */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Math.min(Number(text), MAX_RETRY_AFTER_SECONDS);
  // Only date-shaped text: Date.parse would accept a bare "5" or "1.5" as a year.
  if (!/^[A-Za-z]{3},? /.test(text)) return undefined;
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  return Math.min(Math.max(0, Math.ceil((at - now) / 1000)), MAX_RETRY_AFTER_SECONDS);
}

/**
 * GitLab's explanation from an error body: Grape's `{"message": ...}` (a string or a hash of
 * validation errors), `{"error": ..., "error_description": ...}`, or GraphQL's `{"errors": [...]}`.
 */
export function extractGitLabMessage(json: unknown, secrets: readonly string[]): string {
  if (typeof json !== 'object' || json === null) return '';
  const body = json as Record<string, unknown>;
  const parts: string[] = [];
  if (typeof body.message === 'string') parts.push(body.message);
  else if (body.message !== undefined && body.message !== null) parts.push(structured(body.message));
  if (typeof body.error === 'string') parts.push(body.error);
  if (typeof body.error_description === 'string') parts.push(body.error_description);
  if (typeof body.detail === 'string') parts.push(body.detail);
  // rack-oauth2's insufficient_scope error lists the scopes, space-separated.
  if (body.error === 'insufficient_scope' && typeof body.scope === 'string') parts.push(`scopes accepted: ${body.scope}`);
  if (Array.isArray(body.errors)) {
    for (const e of body.errors.slice(0, 3)) {
      if (typeof e === 'string') parts.push(e);
      else if (typeof e === 'object' && e !== null && typeof (e as { message?: unknown }).message === 'string') parts.push((e as { message: string }).message);
    }
  }
  return quote(parts.join('; '), secrets);
}

/**
 * A structured `message` (Grape's validation errors hash) as JSON. JSON.stringify recurses: a
 * hostile answer nested 10 000 deep made it throw, and the probe report `internal` instead of
 * the status it got.
 */
function structured(value: unknown): string {
  try {
    return JSON.stringify(value);
  } catch {
    return '(a message too deeply nested to show)';
  }
}
