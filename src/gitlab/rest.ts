import { z } from 'zod';
import { noGitLabApi } from './api-presence.js';
import type { Credential } from './availability.js';
import { apiRequest, ensureOk, parseBody, type ApiContext, type ApiResponse } from './request.js';

/** Typed REST calls (facts §3, §4, §6). Calls whose statuses a probe interprets return the raw answer. */

const metadata = z.looseObject({
  version: z.string().min(1),
  revision: z.string().optional(),
  enterprise: z.boolean().optional(),
});
export type Metadata = z.output<typeof metadata>;

/**
 * `GET /api/v4/metadata` (read_api or ai_features); `/api/v4/version` when it is missing (< 15.2).
 * An answer that says there is no GitLab API at the URL is said so (api-presence.ts); `onStatus`
 * gets the status of the answer judged.
 */
export async function getMetadata(ctx: ApiContext, credential: Credential, onStatus?: (status: number) => void): Promise<Metadata> {
  const first = await apiRequest(ctx, { method: 'GET', path: '/api/v4/metadata', credential });
  const res = first.status === 404 ? await apiRequest(ctx, { method: 'GET', path: '/api/v4/version', credential }) : first;
  onStatus?.(res.status);
  const missing = noGitLabApi(ctx.instance, res, res === first ? res.where : `${first.where} and ${res.where.replace(/^GET /, '')}`);
  if (missing) throw missing;
  ensureOk(res);
  return parseBody(res, metadata, 'GitLab metadata ({version, revision})');
}

// Keys absent on older versions stay undefined; the probes then skip that fact.
const applicationSettings = z.looseObject({
  silent_mode_enabled: z.boolean().optional(),
  duo_features_enabled: z.boolean().optional(),
  lock_duo_features_enabled: z.boolean().optional(),
  duo_availability: z.string().optional(),
  instance_level_ai_beta_features_enabled: z.boolean().optional(),
  duo_agent_platform_enabled: z.boolean().optional(),
  duo_workflow_oauth_application_id: z.number().nullable().optional(),
});
export type ApplicationSettings = z.output<typeof applicationSettings>;

/** `GET /api/v4/application/settings`: administrators only (read_api + admin_mode). */
export async function getApplicationSettings(ctx: ApiContext, credential: Credential): Promise<ApplicationSettings> {
  const res = await apiRequest(ctx, { method: 'GET', path: '/api/v4/application/settings', credential });
  ensureOk(res, 'application settings need an administrator\'s token; with Admin Mode on, one with the admin_mode scope');
  return parseBody(res, applicationSettings, 'the application settings object');
}

/**
 * `GET /api/v4/personal_access_tokens/self`: the token that made the request (GitLab 15.5+; every
 * scope may call it, lib/api/personal_access_tokens/self_information.rb). The probe judges the status.
 */
export function requestTokenSelf(ctx: ApiContext, credential: Credential): Promise<ApiResponse> {
  return apiRequest(ctx, { method: 'GET', path: '/api/v4/personal_access_tokens/self', credential });
}

// Entities::PersonalAccessToken: `expires_at` a date (`2026-08-15`) or null; at most the scopes
// GitLab knows, each a short identifier.
export const tokenSelfResponse = z.looseObject({
  scopes: z.array(z.string().max(64)).max(64),
  expires_at: z.string().max(64).nullable().optional(),
  active: z.boolean().optional(),
  revoked: z.boolean().optional(),
});
export type TokenSelf = z.output<typeof tokenSelfResponse>;

/** `GET /api/v4/application/settings` unjudged: whether GitLab treats the token as an administrator's. */
export function requestApplicationSettings(ctx: ApiContext, credential: Credential): Promise<ApiResponse> {
  return apiRequest(ctx, { method: 'GET', path: '/api/v4/application/settings', credential });
}

/** The smallest completion request GitLab accepts (facts §3). */
export const COMPLETION_REQUEST = {
  current_file: { file_name: 'x.py', content_above_cursor: 'def hello', content_below_cursor: '' },
  intent: 'completion',
} as const;

/** `POST /api/v4/code_suggestions/completions`; the probe judges the status. */
export function requestCompletion(ctx: ApiContext, credential: Credential): Promise<ApiResponse> {
  return apiRequest(ctx, { method: 'POST', path: '/api/v4/code_suggestions/completions', credential, json: COMPLETION_REQUEST });
}

export const completionResponse = z.looseObject({
  choices: z.array(z.looseObject({ text: z.string().nullable().optional() })),
});

/** `GET /api/v4/ai/duo_workflows/list_tools`; the probe judges the status. */
export function requestWorkflowTools(ctx: ApiContext, credential: Credential): Promise<ApiResponse> {
  return apiRequest(ctx, { method: 'GET', path: '/api/v4/ai/duo_workflows/list_tools', credential });
}

export const workflowToolsResponse = z.looseObject({ tools: z.array(z.unknown()).optional() });

/**
 * `POST /api/v4/ai/duo_workflows/direct_access` (api scope): what an IDE asks before it talks to
 * the Duo Workflow Service. Every call mints a 2-hour OAuth token and a service token
 * (docs/gitlab-compatibility.md); the probe judges the status.
 */
export function requestDirectAccess(ctx: ApiContext, credential: Credential): Promise<ApiResponse> {
  return apiRequest(ctx, { method: 'POST', path: '/api/v4/ai/duo_workflows/direct_access', credential, json: {} });
}

// `token_expires_at`: Unix seconds from the service's GenerateTokenResponse.expiresAt at S, but
// the unit and form are not settled for every release (ms in the language server's mock, an ISO
// time for gitlab_rails): a number or a string is accepted and read in probes/agent-platform-client.ts.
export const directAccessResponse = z.looseObject({
  duo_workflow_service: z.looseObject({
    base_url: z.string().min(1).max(512),
    token: z.string().min(1).max(16_384),
    token_expires_at: z.union([z.number(), z.string().max(64)]).nullable().optional(),
    headers: z.record(z.string().max(128), z.union([z.string().max(4096), z.number(), z.boolean(), z.null()])).optional(),
    secure: z.boolean().optional(),
  }),
});
export type DirectAccess = z.output<typeof directAccessResponse>;

const userSummary = z.looseObject({ id: z.number(), username: z.string(), state: z.string() });
const userPage = z.array(userSummary).max(100);
export type UserSummary = z.output<typeof userSummary>;

/** `GET /api/v4/users?username=` (admins see every state); at most one user matches. */
export async function findUser(ctx: ApiContext, credential: Credential, username: string): Promise<UserSummary | undefined> {
  const res = await apiRequest(ctx, { method: 'GET', path: `/api/v4/users?username=${encodeURIComponent(username)}`, credential });
  ensureOk(res);
  return parseBody(res, userPage, 'a list of users')[0];
}

const serviceAccount = z.looseObject({ id: z.number(), username: z.string(), name: z.string() });
const serviceAccountPage = z.array(serviceAccount).max(100);
export type ServiceAccountSummary = z.output<typeof serviceAccount>;

/** Pages of service accounts read at most: 1 000 accounts, enough for any instance's onboarding. */
const MAX_SERVICE_ACCOUNT_PAGES = 10;

/** `GET /api/v4/service_accounts` (instance service accounts; administrators only), page by page. */
export async function listServiceAccounts(ctx: ApiContext, credential: Credential): Promise<ServiceAccountSummary[]> {
  const accounts: ServiceAccountSummary[] = [];
  for (let page = 1; page <= MAX_SERVICE_ACCOUNT_PAGES; page++) {
    const res = await apiRequest(ctx, { method: 'GET', path: `/api/v4/service_accounts?per_page=100&page=${page}`, credential });
    ensureOk(res, "the service accounts list needs an administrator's token; with Admin Mode on, one with the admin_mode scope");
    const batch = parseBody(res, serviceAccountPage, 'a list of service accounts');
    accounts.push(...batch);
    if (batch.length < 100) break;
  }
  return accounts;
}
