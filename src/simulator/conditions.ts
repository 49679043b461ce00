/**
 * The facts a simulated world is made of ({@link Conditions}) and the healthy world every scenario
 * starts from. Scenarios (scenarios.ts) override a few of them; the listeners derive GitLab's
 * answers from them.
 */

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** Facts about the simulated world; HEALTHY is the default and scenarios override a few. */
export interface Conditions {
  /** What `/api/v4/metadata` reports; below 17.3 GitLab has no `cloudConnectorStatus`. */
  readonly version: string;
  readonly silentMode: boolean;
  readonly duoAvailability: 'default_on' | 'default_off' | 'never_on';
  /** Duo on and locked, written over REST: GitLab's getter reports it as never_on. */
  readonly duoEnabledAndLocked: boolean;
  readonly licenseType: 'online_cloud' | 'offline_cloud' | 'legacy_license';
  /** Age of `licenses.last_synced_at` (daily seat-link sync); null = never synchronised. */
  readonly lastSyncAgeMs: number | null;
  /** Age of `CloudConnector::Access.updated_at`, rewritten with every token refresh. */
  readonly accessAgeMs: number;
  /** Time left on the Cloud Connector service token; negative = expired. */
  readonly tokenExpiresInMs: number;
  /** Composite-identity onboarding: ran (`on`), never ran, or was turned off again (account blocked). */
  readonly compositeIdentity: 'on' | 'never' | 'blocked';
  /** Onboarded before 18.5: the service account keeps its generated `service_account_…` name. */
  readonly legacyServiceAccount: boolean;
  /** The Duo user holds a Duo seat. */
  readonly duoUserSeat: boolean;
  /** The Duo user has a default Duo namespace (else completions answer 422). */
  readonly duoUserDefaultGroup: boolean;
  /** The Duo user has spent the 60 completions/minute budget. */
  readonly duoUserRateLimited: boolean;
  /** Workhorse (which proxies completions) reaches the AI gateway. */
  readonly workhorseReachesAiGateway: boolean;
  /** Rails (health check, service token) reaches cloud.gitlab.com. */
  readonly railsReachesCloudConnector: boolean;
  /** The AI gateway answers completions only after the configured slow delay. */
  readonly aiGatewaySlow: boolean;
  readonly cable: 'ok' | 'upgrade_stripped' | 'bad_origin';
  /** ALPN the instance's TLS front offers. */
  readonly instanceAlpn: 'h2' | 'http/1.1';
  readonly customersPortalUp: boolean;
  readonly cloudConnectorUp: boolean;
  /** ALPN the Duo Workflow Service's load balancer offers. */
  readonly dwsAlpn: 'h2' | 'http/1.1';
  readonly aiGatewayReady: boolean;
  /** The self-hosted AI gateway's process answers at all. */
  readonly aiGatewayUp: boolean;
  /**
   * How Duo is served: `cloud` (GitLab's AI gateway at cloud.gitlab.com), `self_hosted` (an AI
   * gateway URL set in GitLab, an offline cloud licence, no cloud connection needed) or `hybrid`
   * (an AI gateway URL beside GitLab-hosted features, online cloud licence).
   */
  readonly deployment: 'cloud' | 'self_hosted' | 'hybrid';
  /** The instance's Duo Agent Platform switch (where the release has one). */
  readonly agentPlatform: boolean;
  /** Rails reaches the internet only through an HTTP proxy (Omnibus gitlab_rails['env']). */
  readonly railsProxy: boolean;
  /** Admin Mode is on: admin REST calls need a token with the admin_mode scope. */
  readonly adminMode: boolean;
  /** Scopes of the admin's token and of the Duo user's token. */
  readonly adminTokenScopes: readonly TokenScope[];
  readonly duoUserTokenScopes: readonly TokenScope[];
  /**
   * Days until each token's `expires_at` (GitLab's date, the day it stops working); null = it
   * never expires. Only the token details show it: the simulator does not refuse an expired token.
   */
  readonly adminTokenExpiresInDays: number | null;
  readonly duoUserTokenExpiresInDays: number | null;
  /** agent_platform_token: its scopes (direct_access needs api) and days until it expires. */
  readonly agentPlatformTokenScopes: readonly TokenScope[];
  readonly agentPlatformTokenExpiresInDays: number | null;
  /** The Duo Workflow Service refuses the tokens it generated for GitLab (UNAUTHENTICATED). */
  readonly dwsRejectsGitlabTokens: boolean;
  /** The service has ListTools (added about 18.4); false: an older self-hosted service. */
  readonly dwsListTools: boolean;
  /** The Duo user may use Duo Chat (a seat that includes it, or Duo Core); false: aiAction refuses. */
  readonly duoUserChatAccess: boolean;
  /** The Duo user spent its ai_action budget (160 per 8 hours): aiAction answers the rate-limit error. */
  readonly chatRateLimited: boolean;
  /**
   * The chat stream on /-/cable. `buffered`: a proxy in front upgrades and relays the
   * confirmations, then holds every frame from the first chat message on. `no_trigger`: GitLab's
   * ActionCable never receives the subscription triggers (Puma and ActionCable on different
   * Redis): pings flow, chat messages never come.
   */
  readonly cableStream: 'ok' | 'buffered' | 'no_trigger';
}

export type TokenScope = 'api' | 'read_api' | 'read_user' | 'admin_mode' | 'ai_features';

export const HEALTHY: Conditions = {
  version: '18.9.0-ee',
  silentMode: false,
  duoAvailability: 'default_on',
  licenseType: 'online_cloud',
  lastSyncAgeMs: 2 * HOUR,
  accessAgeMs: 2 * HOUR,
  tokenExpiresInMs: 3 * DAY,
  compositeIdentity: 'on',
  legacyServiceAccount: false,
  duoEnabledAndLocked: false,
  duoUserSeat: true,
  duoUserDefaultGroup: true,
  duoUserRateLimited: false,
  workhorseReachesAiGateway: true,
  railsReachesCloudConnector: true,
  aiGatewaySlow: false,
  cable: 'ok',
  instanceAlpn: 'h2',
  customersPortalUp: true,
  cloudConnectorUp: true,
  dwsAlpn: 'h2',
  aiGatewayReady: true,
  aiGatewayUp: true,
  deployment: 'cloud',
  agentPlatform: true,
  railsProxy: false,
  adminMode: false,
  adminTokenScopes: ['read_api', 'admin_mode'],
  duoUserTokenScopes: ['ai_features', 'read_api'],
  adminTokenExpiresInDays: 200,
  duoUserTokenExpiresInDays: 300,
  agentPlatformTokenScopes: ['api'],
  agentPlatformTokenExpiresInDays: 250,
  dwsRejectsGitlabTokens: false,
  dwsListTools: true,
  duoUserChatAccess: true,
  chatRateLimited: false,
  cableStream: 'ok',
};
