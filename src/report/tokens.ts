import { TOKEN_SETTINGS } from '../probes/exporter-tokens.js';
import type { Fact, TokenKind } from '../core/run.js';

/**
 * The exporter's own tokens as the report shows them, from the `exporter_tokens` probe's last run:
 * the expiry fact (days left counted at report time, not at the run, which may be an hour old),
 * the scope verdict fact and the line the probe noted for each token. Never the token itself.
 */
export interface TokenReport {
  readonly token: TokenKind;
  /** The setting it comes from: `admin_token` or `duo_user_token`. */
  readonly setting: string;
  /** The day it stops working (00:00 UTC, `YYYY-MM-DD`); absent when it never expires or was not read. */
  readonly expiresAt?: string;
  /** Whole days from the report to that moment (negative once past). */
  readonly daysLeft?: number;
  /** Whether it has the scopes the probes need; absent when they were not judged. */
  readonly scopesOk?: boolean;
  /** What the last run found, e.g. `never expires; scopes api: what the probes need` (never the token). */
  readonly detail: string;
}

export const TOKENS_PROBE = 'exporter_tokens';

/** What tokenReports reads of the probe's report entry (report.ts's ProbeReport has it all). */
interface ProbeLastRun {
  readonly status: string;
  readonly notes?: readonly string[];
  readonly facts?: readonly Fact[];
}

const DAY_MS = 86_400_000;
const KINDS = Object.keys(TOKEN_SETTINGS) as TokenKind[];

/** The tokens the last run checked, in config order; empty before a run or when none was checked. */
export function tokenReports(probe: ProbeLastRun | undefined, now: Date): TokenReport[] {
  if (!probe || (probe.status !== 'pass' && probe.status !== 'fail')) return [];
  return KINDS.flatMap((token): TokenReport[] => {
    const setting = TOKEN_SETTINGS[token];
    const line = (probe.notes ?? []).find((n) => n.startsWith(`${setting}: `));
    if (line === undefined) return [];
    const fact = (name: string) => probe.facts?.find((f) => f.name === name && f.labels?.token === token)?.value;
    const expiry = fact('gitlab_duo_token_expiry_timestamp_seconds');
    const scopes = fact('gitlab_duo_token_scopes_ok');
    return [
      {
        token,
        setting,
        ...(expiry === undefined ? {} : { expiresAt: new Date(expiry * 1000).toISOString().slice(0, 10), daysLeft: Math.floor((expiry * 1000 - now.getTime()) / DAY_MS) }),
        ...(scopes === undefined ? {} : { scopesOk: scopes === 1 }),
        detail: line.slice(setting.length + 2),
      },
    ];
  });
}

/**
 * One line per token, the same in every renderer, with the days left counted now:
 * `admin_token: expires 2026-08-15 (120 days left); scopes read_api, admin_mode: what the probes need`.
 */
export function tokenLine(t: TokenReport): string {
  const dated = `expires ${t.expiresAt}`;
  const detail = t.expiresAt !== undefined && t.detail.startsWith(dated) ? `${dated} (${daysText(t.daysLeft!)})${t.detail.slice(dated.length)}` : t.detail;
  return `${t.setting}: ${detail}`;
}

function daysText(days: number): string {
  if (days < 0) return 'expired';
  if (days === 0) return 'its last day';
  return `${days} ${days === 1 ? 'day' : 'days'} left`;
}
