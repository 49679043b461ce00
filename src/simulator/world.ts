import type { Logger } from 'pino';
import type { Conditions, ScenarioName } from './scenarios.js';

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
  readonly kind: 'admin' | 'duo_user';
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
}

export const ADMIN_USER: SimUser = { id: 1, username: 'root', name: 'Administrator', admin: true, kind: 'admin' };
export const DUO_USER: SimUser = { id: 2, username: 'duo-user', name: 'Duo User', admin: false, kind: 'duo_user' };
/** The composite-identity service account that onboarding creates (facts §4). */
export const SERVICE_ACCOUNT = { id: 3, username: 'duo-developer', name: 'Duo Developer' } as const;

export function parseVersion(version: string): [number, number] {
  const match = /^(\d+)\.(\d+)/.exec(version);
  return match ? [Number(match[1]), Number(match[2])] : [0, 0];
}

export function versionAtLeast(version: string, major: number, minor: number): boolean {
  const [maj, min] = parseVersion(version);
  return maj > major || (maj === major && min >= minor);
}

/** Which parts of the API exist at the simulated version (facts §1, §4, §6). */
export function features(c: Conditions) {
  return {
    cloudConnectorStatus: versionAtLeast(c.version, 17, 3),
    compositeIdentity: versionAtLeast(c.version, 18, 3),
    // The introduction version of list_tools and the Agent Platform switch is unconfirmed; 18.0.
    agentPlatform: versionAtLeast(c.version, 18, 0),
  };
}

export function duoEnabled(c: Conditions): boolean {
  return c.duoAvailability === 'default_on';
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

/** `GET /api/v4/application/settings`, the keys facts §4 names plus a few ordinary ones. */
export function applicationSettings(c: Conditions, now: number): Record<string, unknown> {
  const f = features(c);
  const settings: Record<string, unknown> = {
    id: 1,
    default_projects_limit: 100000,
    signup_enabled: false,
    updated_at: isoTime(now - 7 * DAY_MS),
    silent_mode_enabled: c.silentMode,
    duo_features_enabled: duoEnabled(c),
    lock_duo_features_enabled: c.duoAvailability === 'never_on',
    duo_availability: c.duoAvailability,
    // never_on forces the beta toggle off (facts §4).
    instance_level_ai_beta_features_enabled: c.duoAvailability !== 'never_on',
    disabled_direct_code_suggestions: false,
    model_prompt_cache_enabled: true,
    dns_rebinding_protection_enabled: true,
    deny_all_requests_except_allowed: false,
    outbound_local_requests_allowlist_raw: '',
    admin_mode: false,
  };
  if (f.agentPlatform) {
    settings.duo_agent_platform_enabled = true;
    settings.duo_remote_flows_enabled = true;
    settings.duo_foundational_flows_enabled = true;
  }
  if (f.compositeIdentity) settings.duo_workflow_oauth_application_id = c.compositeIdentity ? 7 : null;
  return settings;
}

/** The duo-developer account, or undefined when onboarding never ran. */
export function serviceAccount(c: Conditions, gitlabHost: string) {
  if (!c.compositeIdentity || !features(c).compositeIdentity) return undefined;
  return {
    ...SERVICE_ACCOUNT,
    state: 'active',
    locked: false,
    avatar_url: null,
    web_url: `https://${gitlabHost}/${SERVICE_ACCOUNT.username}`,
    composite_identity_enforced: true,
  };
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
