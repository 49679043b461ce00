import { ProbeError, type FailureReason } from '../core/errors.js';
import { credential, instanceUrl, needsAnyToken, secretsOf, type Credential } from '../gitlab/availability.js';
import { API_PHASES, API_REASONS, errorFor, parseBody, type ApiResponse } from '../gitlab/request.js';
import { requestTokenSelf, tokenSelfResponse, type TokenSelf } from '../gitlab/rest.js';
import { joinCapped, quote } from '../core/redact.js';
import { adminModeMissing, describeNeed, missingScopes, scopeNeeds } from './shared/token-scopes.js';
import { defineProbe, type ProbeContext, type ProbeDefinition } from './types.js';
import { type TokenKind } from '../core/run.js';

const PATH = '/api/v4/personal_access_tokens/self';
const DAY_MS = 86_400_000;

/** The config setting of each token: how notes, messages and the report name it (never its value). */
export const TOKEN_SETTINGS: Readonly<Record<TokenKind, string>> = { admin: 'admin_token', duo_user: 'duo_user_token', agent_platform: 'agent_platform_token' };
const KINDS: readonly TokenKind[] = ['admin', 'duo_user', 'agent_platform'];

/** What one run learnt of one token: its note line and, if it is a problem, the failure. */
interface TokenVerdict {
  readonly kind: TokenKind;
  /** `admin_token: …`, one line of the notes. */
  readonly line: string;
  readonly problem?: ProbeError;
  /** When it stops working (Unix ms), if it expires. */
  readonly expiry?: number;
  /** GitLab showed its details, and whether its scopes were judged against the needs. */
  readonly read?: { readonly scopesJudged: boolean };
}

/**
 * The exporter's own tokens, each in the same run (the catalog, given by src/probes/index.ts, says
 * which scopes the probes that run here need): GitLab's details of the token
 * (`GET /api/v4/personal_access_tokens/self`) give when it expires and its scopes. An expired
 * admin token otherwise only shows as every admin probe failing with `auth`; here it is announced
 * weeks ahead (gitlab_duo_token_expiry_timestamp_seconds), and a missing scope is named.
 */
export function exporterTokens(catalog: () => readonly ProbeDefinition[]) {
  return defineProbe({
    name: 'exporter_tokens',
    group: 'settings',
    proves: "the exporter's own GitLab tokens are accepted and have the scopes its probes need; exports when each expires",
    defaultInterval: '1h',
    defaultTimeout: '20s',
    // An expired or refused token already fails the probes that use it.
    required: false,
    phases: API_PHASES,
    facts: ['gitlab_duo_token_expiry_timestamp_seconds', 'gitlab_duo_token_scopes_ok'],
    // auth: a token refused or revoked; requirement_not_met: a scope missing.
    reasons: [...API_REASONS, 'requirement_not_met'],
    // Every configured token is checked; `admin` names the one the enabling hint asks for, as for `version`.
    token: 'admin',
    alerts: { failing: 'GitLabDuoSettingsProbeFailed', byReason: { requirement_not_met: 'GitLabDuoExporterTokenScopeMissing' } },
    advice: {
      default: 'Give the exporter tokens GitLab accepts, with the scopes of docs/deployment.md#tokens; the message names the token and what is wrong with it.',
      auth: 'The token the message names was refused (expired, revoked or unknown) or its file could not be read: create a new token with the same scopes for the same user and write it to the token file.',
      forbidden: 'GitLab refuses API access to the token\u2019s user (blocked, deactivated, or terms not accepted): unblock the user in Admin > Users, or use another dedicated user.',
      requirement_not_met:
        'Create a new token with the scopes the message names (admin: read_api + admin_mode; Duo user: ai_features + read_api) and replace the token file: scopes cannot be added to an existing token.',
    },
    availability: (instance) => needsAnyToken(instance),
    target: (instance) => (instance.url ? instanceUrl(instance, PATH).href : ''),
    run: (ctx: ProbeContext) => runTokens(ctx, catalog()),
  });
}

async function runTokens(ctx: ProbeContext, catalog: readonly ProbeDefinition[]): Promise<void> {
  const verdicts: TokenVerdict[] = [];
  for (const kind of KINDS) {
    const verdict = await checkToken(ctx, kind, catalog);
    if (verdict) verdicts.push(verdict);
  }
  const problems = verdicts.flatMap((v) => (v.problem ? [v.problem] : []));
  if (problems.length === 0) ctx.record.note(summary(verdicts));
  for (const v of verdicts) ctx.record.note(v.line);
  if (problems.length > 0) throw combined(problems);
}

/** One token: undefined when it is not configured. A connection failure ends the whole run. */
async function checkToken(ctx: ProbeContext, kind: TokenKind, catalog: readonly ProbeDefinition[]): Promise<TokenVerdict | undefined> {
  const setting = TOKEN_SETTINGS[kind];
  let token: Credential | undefined;
  try {
    token = credential(ctx.instance, kind);
  } catch (err) {
    // Its file could not be read for this run: that token's problem, not the other's.
    if (!(err instanceof ProbeError)) throw err;
    return { kind, line: `${setting}: ${err.message}`, problem: err };
  }
  if (!token) return undefined;
  const res = await requestTokenSelf(ctx, token);
  if (res.status >= 200 && res.status < 300) return judge(ctx, token, catalog, parseBody(res, tokenSelfResponse, "a token's details ({scopes, expires_at})", secretsOf(ctx.instance)));
  const unreadable = notShown(res);
  if (unreadable) return { kind, line: `${setting}: ${unreadable}` };
  const problem = errorFor(res);
  return { kind, line: `${setting}: ${problem.message}`, problem };
}

/**
 * Answers that say GitLab will not show this token's details, which is no fault of the token: a
 * token that is not a personal access token (400, "requires token type to be a personal access
 * token"), or a release whose scope rules refuse it (403 insufficient_scope; none found, every
 * release read allows all scopes). A 404 is not one of them: every supported release (17.2+) has
 * the endpoint (15.5+), so a 404 means the URL does not lead to GitLab's API (`http_status`).
 */
function notShown(res: ApiResponse): string | undefined {
  const said = res.gitlabMessage ? ` (${res.gitlabMessage})` : '';
  if (res.status === 400) return `GitLab shows no details for it${said}: not a personal access token (an OAuth or CI job token?), so its expiry and scopes are not checked`;
  if (res.status === 403 && /insufficient_scope/.test(res.gitlabMessage)) return `GitLab does not let its scopes read its own details${said}: its expiry and scopes are not checked`;
  return undefined;
}

/** A token GitLab accepted: its expiry exported, its scopes judged against what the probes need. */
async function judge(ctx: ProbeContext, token: Credential, catalog: readonly ProbeDefinition[], details: TokenSelf): Promise<TokenVerdict> {
  const { kind } = token;
  const setting = TOKEN_SETTINGS[kind];
  const secrets = secretsOf(ctx.instance);
  const expiry = expiryOf(details.expires_at);
  if (expiry !== undefined) ctx.record.fact('gitlab_duo_token_expiry_timestamp_seconds', expiry / 1000, { token: kind });
  const when = details.expires_at ? (expiry === undefined ? `expires_at "${quote(details.expires_at, secrets, 40)}" is not a date` : `expires ${day(expiry)}`) : 'never expires';
  // GitLab answers only for a token it accepts; a revoked or expired one gets 401. Said all the same.
  if (details.revoked === true || details.active === false) {
    const state = details.revoked === true ? 'revoked' : 'not active';
    return { kind, line: `${setting}: GitLab reports it ${state}; ${when}`, problem: new ProbeError('auth', `${setting} is ${state} (GitLab's own details of the token say so): create a new one`), expiry };
  }
  const { text, missing, judged } = await scopesVerdict(ctx, token, details.scopes, catalog);
  const line = `${setting}: ${when}; ${text}`;
  const read = { scopesJudged: judged };
  if (missing.length === 0) return { kind, line, expiry, read };
  return { kind, line, expiry, read, problem: new ProbeError('requirement_not_met', `${setting} lacks ${missing.join('; ')}`) };
}

/** The scope verdict of one token, exported as gitlab_duo_token_scopes_ok. */
async function scopesVerdict(ctx: ProbeContext, token: Credential, scopes: readonly string[], catalog: readonly ProbeDefinition[]): Promise<{ text: string; missing: string[]; judged: boolean }> {
  const shown = `scopes ${quote(scopes.join(', '), secretsOf(ctx.instance), 200) || '(none)'}`;
  // A granular token has permissions instead of scopes (lib/gitlab/auth.rb GRANULAR_SCOPE): not judged.
  if (scopes.includes('granular')) return { text: `${shown}: a granular token, whose permissions are not scopes, so they are not judged`, missing: [], judged: false };
  const needs = scopeNeeds(ctx, token.kind, catalog);
  const missing = missingScopes(scopes, needs).map(describeNeed);
  let adminMode = '';
  if (token.kind === 'admin' && !scopes.includes('admin_mode')) {
    const verdict = await adminModeMissing(ctx, token, missing.length === 0);
    if (verdict.missing) missing.push(verdict.text);
    else adminMode = ` (${verdict.text})`;
  }
  ctx.record.fact('gitlab_duo_token_scopes_ok', missing.length === 0 ? 1 : 0, { token: token.kind });
  return { text: missing.length === 0 ? `${shown}: what the probes need${adminMode}` : `${shown}: missing ${missing.join('; ')}`, missing, judged: true };
}

/**
 * `expires_at` as the moment the token stops working: GitLab sends a date, and a token is
 * expired once `expires_at <= Time.current`, the date read as 00:00 UTC (app/models/concerns/
 * expirable.rb): it works through the day before. A full timestamp is taken as it is.
 */
export function expiryOf(expiresAt: string | null | undefined): number | undefined {
  if (!expiresAt) return undefined;
  const at = Date.parse(/^\d{4}-\d{2}-\d{2}$/.test(expiresAt) ? `${expiresAt}T00:00:00Z` : expiresAt);
  return Number.isNaN(at) ? undefined : at;
}

const day = (ms: number): string => new Date(ms).toISOString().slice(0, 10);

/** `in 5 days`, `in 13 h`, `3 days ago`: how far the expiry is, to the day once it is a day away. */
function relative(ms: number): string {
  const hours = Math.round(Math.abs(ms) / 3_600_000);
  const span = hours < 48 ? `${hours} h` : `${Math.floor(Math.abs(ms) / DAY_MS)} days`;
  return ms >= 0 ? `in ${span}` : `${span} ago`;
}

/** The message of a passing run: what was checked of which token, and the first to expire. */
function summary(verdicts: readonly TokenVerdict[]): string {
  const names = (list: readonly TokenVerdict[]): string => list.map((v) => TOKEN_SETTINGS[v.kind]).join(' and ');
  const read = verdicts.filter((v) => v.read);
  const unread = verdicts.filter((v) => !v.read);
  const notChecked = unread.length > 0 ? `${names(unread)}: not checked, GitLab shows no details for ${unread.length > 1 ? 'them' : 'it'}` : '';
  if (read.length === 0) return notChecked;
  const scopes = read.every((v) => v.read!.scopesJudged) ? 'with the scopes the probes need' : 'scopes as noted';
  const expiring = read.filter((v) => v.expiry !== undefined).sort((a, b) => a.expiry! - b.expiry!)[0];
  const never = read.length > 1 ? 'none of them expires' : 'it never expires';
  const who = read.length > 1 ? `${TOKEN_SETTINGS[expiring?.kind ?? 'admin']} expires first, on` : 'it expires on';
  const first = expiring ? `${who} ${day(expiring.expiry!)} (${relative(expiring.expiry! - Date.now())})` : never;
  return `${names(read)}: accepted, ${scopes}; ${first}${notChecked ? `; ${notChecked}` : ''}`;
}

// A refused token outweighs a missing scope: it is what breaks probes now.
const PRIORITY: readonly FailureReason[] = ['auth', 'forbidden', 'requirement_not_met'];
const rank = (reason: FailureReason): number => (PRIORITY.includes(reason) ? PRIORITY.indexOf(reason) : PRIORITY.length);

/** Every token's problem in one failure, with the reason of the gravest. */
function combined(problems: readonly ProbeError[]): ProbeError {
  const worst = [...problems].sort((a, b) => rank(a.reason) - rank(b.reason))[0]!;
  const message = joinCapped(problems.map((p) => p.message), '; ', 1000);
  return new ProbeError(worst.reason, message, worst.retryAfterSeconds === undefined ? {} : { retryAfterSeconds: worst.retryAfterSeconds });
}
