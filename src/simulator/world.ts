import type { Logger } from 'pino';
import type { ChatBus } from './chat-bus.js';
import { has } from './release.js';
import type { Conditions, ScenarioName, TokenScope } from './scenarios.js';

/** Host names and public URLs of the simulated services (see index.ts). */
export interface Endpoints {
  readonly gitlabHost: string; // host:port
  readonly customersPortalUrl: string;
  readonly cloudConnectorUrl: string;
  readonly duoWorkflowService: string; // host:port
  readonly aiGatewayUrl: string;
}

export interface SimUser {
  readonly id: number;
  readonly username: string;
  readonly name: string;
  readonly admin: boolean;
  /** The Duo user's seat depends on the scenario; the admin always has one. */
  readonly kind: 'admin' | 'duo_user' | 'agent_platform';
}

/** Who sent a request: nobody, a token GitLab does not know, or a user. */
export type Caller = { readonly kind: 'anonymous' } | { readonly kind: 'invalid' } | { readonly kind: 'user'; readonly user: SimUser };

/** Everything the listeners share; the scenario is read on every request, never cached. */
export interface SimContext {
  conditions(): Conditions;
  scenario(): ScenarioName;
  readonly endpoints: Endpoints;
  readonly instanceId: string;
  /** Delay of the code_suggestions_slow scenario. */
  readonly slowDelayMs: number;
  readonly logger: Logger;
  /** Resolves a token to a user; tokens are compared here only, never logged. */
  caller(token: string | undefined): Caller;
  /** Duo Workflow Service tokens direct_access minted: token → expiry (ms); the service checks them. */
  readonly dwsTokens: Map<string, number>;
  /** Duo Chat's subscriptions, which the aiAction mutation triggers. */
  readonly chat: ChatBus;
  /** How long "Sidekiq" takes to answer a chat question. */
  readonly chatAnswerDelayMs: number;
}

export const ADMIN_USER: SimUser = { id: 1, username: 'root', name: 'Administrator', admin: true, kind: 'admin' };
export const DUO_USER: SimUser = { id: 2, username: 'duo-user', name: 'Duo User', admin: false, kind: 'duo_user' };
/** The owner of agent_platform_token (a token with `api`, as the IDE's OAuth token has). */
export const AGENT_PLATFORM_USER: SimUser = { id: 3, username: 'agent-user', name: 'Agent Platform User', admin: false, kind: 'agent_platform' };

/** `duo_features_enabled`: on for default_on, and in the REST-only "enabled and locked" state. */
export function duoEnabled(c: Conditions): boolean {
  return c.duoAvailability === 'default_on' || c.duoEnabledAndLocked;
}

/**
 * Whether the Agent Platform works for users here: it exists in the release, it is switched on,
 * and up to 18.7 the beta toggle is on too (docs/gitlab-compatibility.md, Agent Platform).
 */
export function agentPlatformWorks(c: Conditions): boolean {
  if (!has(c.version, 'listTools') || !c.agentPlatform || !duoEnabled(c)) return false;
  return has(c.version, 'agentPlatformGa') || c.duoAvailability !== 'never_on';
}

export function tokenValid(c: Conditions): boolean {
  return c.tokenExpiresInMs > 0;
}

const DAY_MS = 86_400_000;

export function isoTime(ms: number): string {
  return new Date(ms).toISOString();
}

export function isoDate(ms: number): string {
  return isoTime(ms).slice(0, 10);
}

/** GraphQL `CurrentLicense` (facts §2); dates relative to now. */
export function currentLicense(c: Conditions, now: number) {
  const startsAt = now - 180 * DAY_MS;
  const expiresAt = now + 185 * DAY_MS;
  return {
    __typename: 'CurrentLicense',
    id: 'gid://gitlab/License/1',
    type: c.licenseType,
    plan: 'ultimate',
    name: 'Duo Simulator',
    email: 'admin@duo-sim.test',
    company: 'Duo Simulator Inc.',
    startsAt: isoDate(startsAt),
    createdAt: isoDate(startsAt),
    activatedAt: isoDate(startsAt),
    expiresAt: isoDate(expiresAt),
    blockChangesAt: isoDate(expiresAt + 14 * DAY_MS),
    lastSync: c.lastSyncAgeMs === null ? null : isoTime(now - c.lastSyncAgeMs),
    usersInLicenseCount: 100,
    billableUsersCount: 42,
    maximumUserCount: 45,
    usersOverLicenseCount: 0,
    trial: false,
  };
}

/**
 * `GET /api/v4/application/settings` as the release exposes it (ee/app/helpers/ee/application_settings_helper.rb
 * visible_attributes; ee/app/models/ee/application_setting.rb for duo_availability).
 */
export function applicationSettings(c: Conditions, now: number): Record<string, unknown> {
  const enabled = duoEnabled(c);
  const locked = c.duoAvailability === 'never_on' || c.duoEnabledAndLocked;
  const settings: Record<string, unknown> = {
    id: 1,
    default_projects_limit: 100000,
    signup_enabled: false,
    updated_at: isoTime(now - 7 * DAY_MS),
    silent_mode_enabled: c.silentMode,
    duo_features_enabled: enabled,
    lock_duo_features_enabled: locked,
    // never_on forces the beta toggle off.
    instance_level_ai_beta_features_enabled: c.duoAvailability !== 'never_on',
    disabled_direct_code_suggestions: false,
    model_prompt_cache_enabled: true,
    dns_rebinding_protection_enabled: true,
    deny_all_requests_except_allowed: false,
    outbound_local_requests_allowlist_raw: '',
    admin_mode: c.adminMode,
  };
  // The getter: on and unlocked → default_on; off and unlocked → default_off; anything else (also
  // on and locked, a state only REST or the 17.3 checkboxes can write) → never_on.
  if (has(c.version, 'duoAvailabilitySetting')) settings.duo_availability = enabled && !locked ? 'default_on' : !enabled && !locked ? 'default_off' : 'never_on';
  if (has(c.version, 'remoteFlowsSetting')) {
    settings.duo_remote_flows_enabled = true;
    // The non-composite OAuth app, written the first time anyone needs an Agent Platform token.
    settings.duo_workflow_oauth_application_id = agentPlatformWorks(c) ? 9 : null;
  }
  if (has(c.version, 'agentPlatformSetting')) {
    settings.duo_agent_platform_enabled = c.agentPlatform;
    settings.duo_foundational_flows_enabled = true;
  }
  return settings;
}

/** A service account the composite-identity onboarding created. */
export interface ServiceAccount {
  readonly id: number;
  readonly username: string;
  readonly name: string;
  readonly state: 'active' | 'blocked';
  readonly compositeIdentityEnforced: boolean;
}

/**
 * The onboarding's service account (onboarding_service.rb): `duo-developer` ("Duo Developer")
 * from 18.5; before, a generated `service_account_…` ("Duo Workflow Service"), which instances
 * onboarded then keep. Turning composite identity off blocks it (duo_workflow_settings_controller.rb).
 */
export function serviceAccounts(c: Conditions): ServiceAccount[] {
  if (!has(c.version, 'compositeIdentityOnboarding') || c.compositeIdentity === 'never') return [];
  const legacy = c.legacyServiceAccount || !has(c.version, 'duoDeveloperUsername');
  return [
    {
      id: 3,
      username: legacy ? 'service_account_6f1c2a' : 'duo-developer',
      name: legacy ? 'Duo Workflow Service' : 'Duo Developer',
      state: c.compositeIdentity === 'blocked' ? 'blocked' : 'active',
      compositeIdentityEnforced: true,
    },
  ];
}

/**
 * `GET /api/v4/personal_access_tokens/self` for the caller's token: Entities::PersonalAccessToken
 * (lib/api/entities/personal_access_token.rb), the same fields from 17.2 on (18.0 adds
 * `last_used_ips`, which the exporter does not read). `expires_at` is a date, null for a token
 * that never expires.
 */
export function tokenDetails(c: Conditions, user: SimUser, now: number) {
  const admin = user.kind === 'admin';
  const agent = user.kind === 'agent_platform';
  const days = admin ? c.adminTokenExpiresInDays : agent ? c.agentPlatformTokenExpiresInDays : c.duoUserTokenExpiresInDays;
  return {
    id: admin ? 11 : agent ? 13 : 12,
    name: 'gitlab-duo-exporter',
    revoked: false,
    created_at: isoTime(now - 30 * DAY_MS),
    description: null,
    scopes: tokenScopesOf(c, user),
    user_id: user.id,
    last_used_at: isoTime(now),
    active: true,
    expires_at: days === null ? null : isoDate(now + days * DAY_MS),
  };
}

/** The scopes of the token the user's requests carry. */
export function tokenScopesOf(c: Conditions, user: SimUser): readonly TokenScope[] {
  if (user.kind === 'admin') return c.adminTokenScopes;
  return user.kind === 'agent_platform' ? c.agentPlatformTokenScopes : c.duoUserTokenScopes;
}

/** The Cloud Connector JWT claims token_probe decodes (not verified, as GitLab does). */
export function serviceTokenClaims(c: Conditions, instanceId: string, now: number) {
  const exp = Math.floor((now + c.tokenExpiresInMs) / 1000);
  // A refresh rewrites the token and the catalog together, so it was issued when the catalog was.
  const iat = Math.floor((now - c.accessAgeMs) / 1000);
  return {
    iss: 'https://customers.gitlab.com',
    aud: ['gitlab-ai-gateway', 'gitlab-duo-workflow-service'],
    sub: instanceId,
    gitlab_realm: 'self-managed',
    scopes: ['complete_code', 'generate_code', 'duo_chat', 'duo_workflow_execute_workflow'],
    iat,
    nbf: iat,
    exp,
    jti: `${instanceId}-token`,
  };
}
