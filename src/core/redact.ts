/**
 * The one redactor. Text that comes back from GitLab (error messages, probe messages) is quoted in
 * our messages and notes, and reports scrub whatever leaves the process for humans; both remove our
 * own secrets (tokens, proxy credentials: known to the caller) and anything shaped like a GitLab
 * token or an Authorization value, in case a proxy or a debug page echoes a header back. A Secret
 * prints as the same REDACTED text (config/secret.ts), and so does the log's censor.
 */
import { visible } from '../text/escape.js';

// glpat-, gloas-, glrt-, gldt-, glptt-, glft-, glimt-, glcbt-, glsoat-, glagent- ... (GitLab's
// documented token prefixes), followed by the token body.
const GITLAB_TOKEN = /\bgl[a-z]{2,6}-[A-Za-z0-9_.-]{8,}/g;
const BEARER = /\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{8,}/gi;
export const REDACTED = '<redacted>';

export const DEFAULT_QUOTE_LENGTH = 200;

// Shorter strings would blank out ordinary words; no token or proxy password of interest is this short.
const MIN_SECRET_LENGTH = 4;

/** Removes every occurrence of the given secrets and of token-shaped strings. */
export function scrub(text: string, secrets: readonly string[] = []): string {
  let out = text;
  // Longest first, so a secret that contains another is removed whole.
  for (const secret of [...secrets].filter((s) => s.length >= MIN_SECRET_LENGTH).sort((a, b) => b.length - a.length)) {
    out = out.split(secret).join(REDACTED);
  }
  return out.replace(GITLAB_TOKEN, REDACTED).replace(BEARER, `$1 ${REDACTED}`);
}

/**
 * One line, at most `max` characters, scrubbed: whitespace runs (newlines, tabs, U+2028...) become
 * one space, and any other control, bidi or separator character a visible escape (`\u001b`), so
 * that what GitLab sent reads as sent and cannot act on a terminal or a log reader.
 */
export function quote(text: string, secrets: readonly string[] = [], max = DEFAULT_QUOTE_LENGTH): string {
  const line = visible(scrub(text, secrets).replace(/\s+/g, ' ').trim());
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

/** Joins parts and cuts the whole, for messages listing several problems. */
export function joinCapped(parts: readonly string[], separator: string, max: number): string {
  const joined = parts.join(separator);
  return joined.length > max ? `${joined.slice(0, max - 1)}…` : joined;
}

/**
 * Makes an open string from GitLab safe as a label value: lower case, only [a-z0-9_.-], at most
 * `max` characters; `fallback` when nothing is left. Keeps cardinality bounded and the exposition
 * valid whatever GitLab sends.
 */
export function labelValue(text: string, max: number, fallback: string): string {
  const cleaned = text
    .toLowerCase()
    .replace(/[^a-z0-9_.-]+/g, '_')
    .replace(/^_+|_+$/g, '')
    .slice(0, max);
  return cleaned === '' ? fallback : cleaned;
}
