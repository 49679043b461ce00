import { ProbeError } from '../../errors.js';
import type { Credential } from '../../gitlab/availability.js';
import { requestApplicationSettings } from '../../gitlab/rest.js';
import { agentPlatformClient } from '../agent-platform-client.js';
import { codeSuggestions } from '../code-suggestions.js';
import { duoWorkflowTools } from '../duo-workflow-tools.js';
import type { ProbeContext, ProbeDefinition, TokenKind } from '../types.js';

/**
 * Which scopes each of the exporter's tokens needs, from what the probes that send it ask of
 * GitLab (docs/gitlab-compatibility.md, exporter_tokens). A scope is needed only where a probe
 * that needs it runs, and `admin_mode` only where GitLab refuses administrator rights without it:
 * a token that works is never reported as missing something.
 */

/** One scope a token must have: any of `accepted` satisfies it. */
export interface ScopeNeed {
  /** The scope the exporter's docs ask for. */
  readonly scope: string;
  /** Scopes GitLab accepts for it: `api` covers every API request (lib/api/api.rb:53-54). */
  readonly accepted: readonly string[];
  /** Who needs it, for the message. */
  readonly by: string;
}

const READ_API: Omit<ScopeNeed, 'by'> = { scope: 'read_api', accepted: ['read_api', 'api'] };

/** Whether `probe` runs on this instance: enabled, and not skipped by its relevance (unless forced). */
function runsHere(probe: ProbeDefinition, ctx: ProbeContext): boolean {
  const settings = ctx.instance.probeSettings[probe.name];
  if (settings?.enabled === false) return false;
  return probe.relevance?.(ctx.environment, ctx.instance).use !== 'skip' || settings?.required === true;
}

/** The scopes `kind` needs here, `admin_mode` aside (see adminModeMissing). */
export function scopeNeeds(ctx: ProbeContext, kind: TokenKind): ScopeNeed[] {
  // GraphQL queries and REST GETs: license, health_check, instance_settings, composite_identity,
  // version and the detection of what GitLab offers all read with it.
  if (kind === 'admin') return [{ ...READ_API, by: 'the admin probes and the detection (REST GET and GraphQL)' }];
  // direct_access is a POST with no allow_access_with_scope: api only (ee/lib/api/ai/duo_workflows/workflows.rb).
  if (kind === 'agent_platform') return runsHere(agentPlatformClient, ctx) ? [{ scope: 'api', accepted: ['api'], by: 'agent_platform_client' }] : [];
  const needs: ScopeNeed[] = [];
  // The completions POST accepts ai_features or api, not read_api (ee/lib/api/code_suggestions.rb:15).
  if (runsHere(codeSuggestions, ctx)) needs.push({ scope: 'ai_features', accepted: ['ai_features', 'api'], by: 'code_suggestions' });
  // list_tools accepts api or read_api, not ai_features (ee/lib/api/ai/duo_workflows/workflows.rb).
  if (runsHere(duoWorkflowTools, ctx)) needs.push({ ...READ_API, by: 'duo_workflow_tools' });
  return needs;
}

/** The needs none of `scopes` satisfies. */
export function missingScopes(scopes: readonly string[], needs: readonly ScopeNeed[]): ScopeNeed[] {
  return needs.filter((need) => !need.accepted.some((s) => scopes.includes(s)));
}

export const describeNeed = (need: ScopeNeed): string => `${need.scope}${need.accepted.length > 1 ? ` (or ${need.accepted.filter((s) => s !== need.scope).join(', ')})` : ''} for ${need.by}`;

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
