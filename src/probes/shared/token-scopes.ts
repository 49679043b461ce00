import { ProbeError } from '../../core/errors.js';
import type { Credential } from '../../gitlab/availability.js';
import { requestApplicationSettings } from '../../gitlab/rest.js';
import type { ProbeContext, ProbeDefinition } from '../types.js';
import type { TokenKind } from '../../core/run.js';

/**
 * Which scopes each of the exporter's tokens needs, from what the probes that send it ask of
 * GitLab (docs/gitlab-compatibility.md, exporter_tokens). A scope is needed only where a probe
 * that needs it runs, and `admin_mode` only where GitLab refuses administrator rights without it:
 * a token that works is never reported as missing something.
 */

/** One scope a token must have, any of `accepted` satisfying it, and who needs it. */
export interface TokenNeed {
  readonly scope: string;
  readonly accepted: readonly string[];
  /** Who needs it, for the message: the probes that declare it, or the admin probes and the detection. */
  readonly by: string;
}

const READ_API = { scope: 'read_api', accepted: ['read_api', 'api'] } as const;

/** Whether `probe` runs on this instance: enabled, and not skipped by its relevance (unless forced). */
function runsHere(probe: ProbeDefinition, ctx: ProbeContext): boolean {
  const settings = ctx.instance.probeSettings[probe.name];
  if (settings?.enabled === false) return false;
  return probe.relevance?.(ctx.environment, ctx.instance).use !== 'skip' || settings?.required === true;
}

/**
 * The scopes `kind` needs here, `admin_mode` aside (see adminModeMissing): what the probes of
 * `catalog` that run here declare (ProbeDefinition.scopes), one need per scope naming every probe
 * that declares it.
 */
export function scopeNeeds(ctx: ProbeContext, kind: TokenKind, catalog: readonly ProbeDefinition[]): TokenNeed[] {
  // GraphQL queries and REST GETs: license, health_check, instance_settings, composite_identity,
  // version and the detection of what GitLab offers all read with it.
  if (kind === 'admin') return [{ ...READ_API, by: 'the admin probes and the detection (REST GET and GraphQL)' }];
  const byScope = new Map<string, { accepted: readonly string[]; by: string[] }>();
  for (const probe of catalog.filter((p) => runsHere(p, ctx))) {
    for (const need of (probe.scopes ?? []).filter((n) => n.token === kind)) {
      const entry = byScope.get(need.scope) ?? { accepted: need.accepted, by: [] };
      entry.by.push(probe.name);
      byScope.set(need.scope, entry);
    }
  }
  return [...byScope].map(([scope, { accepted, by }]) => ({ scope, accepted, by: by.join(', ') }));
}

/** The needs none of `scopes` satisfies. */
export function missingScopes(scopes: readonly string[], needs: readonly TokenNeed[]): TokenNeed[] {
  return needs.filter((need) => !need.accepted.some((s) => scopes.includes(s)));
}

export const describeNeed = (need: TokenNeed): string => `${need.scope}${need.accepted.length > 1 ? ` (or ${need.accepted.filter((s) => s !== need.scope).join(', ')})` : ''} for ${need.by}`;

/** Whether the admin token lacks a needed admin_mode, and what was learnt either way. */
export interface AdminModeVerdict {
  readonly missing: boolean;
  readonly text: string;
}

/**
 * For an admin token without `admin_mode`: GitLab needs the scope only when Admin Mode is on
 * (app/policies/base_policy.rb:31-35; a token gets administrator rights only with admin_mode,
 * lib/api/api_guard.rb:93-97). One admin request tells: answered, the token is an administrator's
 * as it is; a bare 403, it is not, so with Admin Mode on it needs admin_mode (or its user is no
 * administrator, which no scope mends: the message says both). Anything else leaves it unknown,
 * which is not reported as missing.
 */
export async function adminModeMissing(ctx: ProbeContext, admin: Credential, canRead: boolean): Promise<AdminModeVerdict> {
  if (!canRead) return { missing: false, text: 'whether admin_mode is needed cannot be told without read_api' };
  let status: number;
  let said: string;
  try {
    const res = await requestApplicationSettings(ctx, admin);
    status = res.status;
    said = res.gitlabMessage;
  } catch (err) {
    if (ctx.signal.aborted || !(err instanceof ProbeError)) throw err;
    return { missing: false, text: `whether admin_mode is needed is unknown: ${err.message}` };
  }
  if (status >= 200 && status < 300) return { missing: false, text: 'admin_mode not needed: GitLab treats the token as an administrator\u2019s without it (Admin Mode is off)' };
  if (status === 403 && !/insufficient_scope/.test(said)) {
    return {
      missing: true,
      text: 'admin_mode for the admin REST endpoints: GitLab refuses this token administrator rights (403 on the application settings), so Admin Mode is on and the token lacks admin_mode, or its user is not an administrator',
    };
  }
  return { missing: false, text: `whether admin_mode is needed is unknown: the application settings answered ${status}` };
}
