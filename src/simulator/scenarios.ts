/**
 * THE table of simulator scenarios. Everything else (the behaviour of every listener, the control
 * endpoint, docs/simulator.md and the contract tests) derives from it, so a scenario is added here
 * and nowhere else.
 *
 * A scenario is a set of {@link Conditions}: facts about the simulated world (what the licence is,
 * whether a proxy strips headers...). The listeners derive GitLab's answers from those facts, so
 * GitLab's own `cloudConnectorStatus` always agrees with what the exporter's probes see.
 */

import { HEALTHY, type Conditions } from './conditions.js';
import { has } from './release.js';

/** The exporter's probe names (architecture.md's catalog). */
export const EXPORTER_PROBES = [
  'customers_portal',
  'cloud_connector',
  'duo_workflow_service',
  'ai_gateway',
  'websocket_cable',
  'duo_chat',
  'instance_http2',
  'license',
  'health_check',
  'code_suggestions',
  'duo_workflow_tools',
  'agent_platform_client',
  'instance_settings',
  'composite_identity',
  'version',
  'exporter_tokens',
  'proxy_env',
] as const;
export type ExporterProbe = (typeof EXPORTER_PROBES)[number];

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

export { HEALTHY, type Conditions, type TokenScope } from './conditions.js';

export interface ScenarioDefinition {
  readonly name: string;
  /** What it simulates, one sentence. */
  readonly description: string;
  /** Exporter probes expected to fail (proxy_env never: the simulator has no Omnibus node). */
  readonly affects: readonly ExporterProbe[];
  /** Why exactly those probes fail, with the facts it rests on. */
  readonly why: string;
  readonly conditions: Partial<Conditions>;
  /**
   * Probes of `affects` that fail only on some releases, because GitLab's behaviour changed
   * (docs/gitlab-compatibility.md): the fault matrix expects them where `when(version)` holds.
   */
  readonly affectedWhere?: Partial<Record<ExporterProbe, { readonly when: (version: string) => boolean; readonly why: string }>>;
}

const SCENARIO_TABLE = [
  {
    name: 'healthy',
    description: 'Everything works: online cloud licence synced 2 h ago, token valid 3 more days, Duo on.',
    affects: [],
    why: 'Nothing fails.',
    conditions: {},
  },
  {
    name: 'silent_mode_on',
    description: 'Silent Mode is turned on.',
    affects: ['instance_settings', 'health_check', 'code_suggestions'],
    why: 'Settings report silent_mode_enabled=true. Silent Mode blocks outbound POST, so GitLab\'s end_to_end_probe fails with "only get, head, options, and trace methods are allowed in silent mode" and completions fail (the simulator answers 500; the exact status is not confirmed).',
    conditions: { silentMode: true },
  },
  {
    name: 'offline_license',
    description: 'The instance runs an offline cloud licence.',
    affects: ['license', 'health_check'],
    why: 'currentLicense.type is offline_cloud with no lastSync; GitLab\'s license_probe requires an online cloud licence. The catalog and token from an earlier online sync are still valid, so features keep working for now.',
    conditions: { licenseType: 'offline_cloud', lastSyncAgeMs: null },
    affectedWhere: {
      health_check: {
        when: (v) => !has(v, 'selfHostedProbeSet') || has(v, 'selfHostedByGatewayUrl'),
        why: '17.5-17.9 take an offline licence for an air-gapped Duo Self-Hosted instance and run the self-hosted health checks, which pass',
      },
    },
  },
  {
    name: 'legacy_license',
    description: 'The instance runs a legacy licence key or file.',
    affects: ['license', 'health_check'],
    why: 'currentLicense.type is legacy_license with no lastSync; license_probe fails as for offline_license.',
    conditions: { licenseType: 'legacy_license', lastSyncAgeMs: null },
  },
  {
    name: 'sync_stale',
    description: 'No synchronisation with the customers portal for 4 days.',
    affects: ['license', 'health_check'],
    why: 'lastSync and the access catalog are 4 days old (over 72 h), so access_probe fails. The token, not refreshed since, still has 20 h left, so completions still work.',
    conditions: { lastSyncAgeMs: 4 * DAY, accessAgeMs: 4 * DAY, tokenExpiresInMs: 20 * HOUR },
  },
  {
    name: 'token_expired',
    description: 'The hourly Cloud Connector token refresh has failed for days; the token expired 1 h ago, while the daily seat-link sync still works.',
    affects: ['health_check', 'code_suggestions', 'duo_workflow_tools', 'agent_platform_client'],
    why: 'token_probe fails, and access_probe too because the catalog is rewritten only with the token (3 d 3 h ago). The AI gateway and DWS reject the expired token: end_to_end_probe and duo_agent_platform_probe fail, completions get the gateway\'s 401, list_tools a 400, and direct_access a 400 (Rails\' GenerateToken refused). lastSync (seat link) is recent, so the license probe passes.',
    conditions: { tokenExpiresInMs: -HOUR, accessAgeMs: 3 * DAY + 3 * HOUR },
  },
  {
    name: 'composite_identity_off',
    description: 'Composite-identity onboarding never ran.',
    affects: ['composite_identity'],
    why: 'No Agent Platform service account exists (onboarding creates duo-developer). Before 18.8 GitLab shows no composite-identity flag, so the exporter skips the probe there.',
    conditions: { compositeIdentity: 'never' },
  },
  {
    name: 'composite_identity_turned_off',
    description: 'Composite identity was turned on, then off again (the service account is blocked).',
    affects: ['composite_identity'],
    why: 'Turning it off blocks the service account (duo_workflow_settings_controller.rb); GraphQL reports state blocked. Observable from 18.8.',
    conditions: { compositeIdentity: 'blocked' },
  },
  {
    name: 'admin_token_without_admin_mode',
    description: 'Admin Mode is on and the admin token lacks the admin_mode scope.',
    affects: ['instance_settings', 'composite_identity', 'exporter_tokens'],
    why: 'Admin REST endpoints (application settings, service accounts) answer 403 {"message":"403 Forbidden"} (lib/api/api_guard.rb:93-97). GraphQL bypasses Admin Mode for tokens, so license and health_check pass. Without the settings the exporter cannot tell whether the Agent Platform is on, so its probes become optional. exporter_tokens names the missing admin_mode.',
    conditions: { adminMode: true, adminTokenScopes: ['read_api'] },
    affectedWhere: { composite_identity: { when: (v) => has(v, 'compositeIdentityField'), why: 'observable from 18.8 only' } },
  },
  {
    name: 'duo_token_without_read_api',
    description: 'The Duo user token has ai_features only.',
    affects: ['duo_workflow_tools', 'duo_chat', 'exporter_tokens'],
    why: 'list_tools accepts api or read_api (lib/api/api.rb:53-54): 403 insufficient_scope with "scope":"api read_api". GraphQL fields default to api and read_api, and an unauthorized field is null: duo_chat finds no currentUser to subscribe for. Completions accept ai_features, so code_suggestions passes. exporter_tokens names the missing read_api for duo_chat (and duo_workflow_tools where it runs).',
    conditions: { duoUserTokenScopes: ['ai_features'] },
  },
  {
    name: 'token_expiring',
    description: "The exporter's admin token expires in 5 days.",
    affects: [],
    why: 'GitLab still accepts it, so nothing fails: exporter_tokens exports its expires_at (gitlab_duo_token_expiry_timestamp_seconds) and GitLabDuoExporterTokenExpiresSoon fires 14 days ahead.',
    conditions: { adminTokenExpiresInDays: 5 },
  },
  {
    name: 'token_scope_missing',
    description: "The Duo user token has read_api but not ai_features.",
    affects: ['code_suggestions', 'duo_chat', 'exporter_tokens'],
    why: 'The completions POST accepts ai_features or api (ee/lib/api/code_suggestions.rb:15): 403 insufficient_scope with "scope":"api ai_features". The aiAction mutation is mounted with scopes api and ai_features (mutation_type.rb), so Duo Chat\'s question is refused too. exporter_tokens reads the token\'s scopes and names ai_features as missing (gitlab_duo_token_scopes_ok 0).',
    conditions: { duoUserTokenScopes: ['read_api'] },
  },
  {
    name: 'version_too_old',
    description: 'GitLab 17.1.2-ee, older than the 17.2 Duo needs.',
    affects: ['version'],
    why: 'The version probe reports 17.1 < 17.2. The exporter learns from introspection that cloudConnectorStatus (17.3), list_tools (18.4) and compositeIdentityEnforced (18.8) do not exist and skips health_check, duo_workflow_tools and composite_identity with that reason instead of failing them.',
    conditions: { version: '17.1.2-ee', compositeIdentity: 'never' },
  },
  {
    name: 'duo_never_on',
    description: 'GitLab Duo is turned off and locked (duo_availability never_on).',
    affects: ['instance_settings', 'code_suggestions', 'health_check'],
    why: 'Settings report duo_features_enabled=false, never_on; completions answer 401 from the monolith; GitLab\'s end_to_end_probe fails because no user may use Code Suggestions.',
    conditions: { duoAvailability: 'never_on' },
  },
  {
    name: 'code_suggestions_unauthorized',
    description: 'The Duo user token\'s user has no Duo seat.',
    affects: ['code_suggestions'],
    why: 'Completions answer 401 {"message":"401 Unauthorized"} with X-GitLab-Error-Origin: monolith. GitLab\'s health check runs as the admin, who has a seat, so it passes.',
    conditions: { duoUserSeat: false },
  },
  {
    name: 'code_suggestions_no_default_group',
    description: 'The Duo user has no default GitLab Duo namespace.',
    affects: ['code_suggestions'],
    why: 'Completions answer 422 {"error":"missing_default_duo_group"} from the monolith; only this user is affected.',
    conditions: { duoUserDefaultGroup: false },
  },
  {
    name: 'code_suggestions_gateway_unreachable',
    description: 'Workhorse cannot reach the AI gateway (Rails has the proxy, Workhorse does not: gitlab-org/gitlab#422001).',
    affects: ['code_suggestions'],
    why: 'Workhorse answers 500 to completions. Rails reaches the gateway, so GitLab\'s own end_to_end_probe passes: the classic case where the health check is green and IDEs fail. (With a real Omnibus node proxy_env would flag it; the simulator has none.)',
    conditions: { workhorseReachesAiGateway: false },
  },
  {
    name: 'code_suggestions_rate_limited',
    description: 'The Duo user exceeded 60 completions per minute.',
    affects: ['code_suggestions'],
    why: 'Completions answer 429 with Retry-After from the monolith; the limit is per user, so the admin\'s health check passes.',
    conditions: { duoUserRateLimited: true },
  },
  {
    name: 'code_suggestions_slow',
    description: 'The AI gateway answers completions only after a delay (slowDelayMs, default 3 s).',
    affects: ['code_suggestions', 'health_check'],
    why: 'code_suggestions fails only when its timeout is shorter than the delay, otherwise it shows as latency. GitLab\'s end_to_end_probe has a 3 s timeout, so with a delay of 3 s or more it fails (Net::ReadTimeout); with a shorter delay only the latency shows.',
    conditions: { aiGatewaySlow: true },
  },
  {
    name: 'cable_upgrade_stripped',
    description: 'A reverse proxy in front of GitLab strips the Upgrade/Connection headers.',
    affects: ['websocket_cable', 'duo_chat'],
    why: 'Workhorse sees a plain GET on /-/cable and answers 400 "websocket upgrade required"; Duo Chat\'s answers travel the same WebSocket.',
    conditions: { cable: 'upgrade_stripped' },
  },
  {
    name: 'cable_bad_origin',
    description: 'ActionCable expects another origin (action_cable_allowed_origins set to a different host).',
    affects: ['websocket_cable', 'duo_chat'],
    why: 'Every Origin the probe can send is refused with HTTP 404 "Page not found" and no upgrade; Duo Chat\'s answers travel the same WebSocket.',
    conditions: { cable: 'bad_origin' },
  },
  {
    name: 'chat_stream_buffered',
    description: 'A proxy in front of /-/cable completes the WebSocket upgrade and relays the first exchange, then holds every frame from the first chat message on, until the connection closes.',
    affects: ['duo_chat'],
    why: 'The handshake, the welcome and the confirmation pass, so websocket_cable passes; the chat question is accepted, but neither its echo, nor the answer, nor ActionCable\'s 3-second pings reach the client: Duo Chat "does not answer" in the browser and the IDE.',
    conditions: { cableStream: 'buffered' },
  },
  {
    name: 'chat_no_seat',
    description: 'The Duo user may not use Duo Chat (no seat that includes Chat, and no Duo Core).',
    affects: ['duo_chat'],
    why: 'aiAction answers errors ["AI features are not enabled or resource is not permitted to be sent."] with no requestId, and nothing is streamed (ee/app/services/llm/base_service.rb, chat_service.rb). The cable and Code Suggestions are not concerned.',
    conditions: { duoUserChatAccess: false },
  },
  {
    name: 'http2_downgraded',
    description: 'The TLS front of the instance offers only http/1.1 in ALPN.',
    affects: ['instance_http2'],
    why: 'ALPN negotiates http/1.1, not h2. REST, GraphQL and the WebSocket still work over HTTP/1.1.',
    conditions: { instanceAlpn: 'http/1.1' },
  },
  {
    name: 'customers_portal_down',
    description: 'The customers portal resets every connection.',
    affects: ['customers_portal', 'health_check'],
    why: 'The exporter\'s connection is reset; GitLab\'s host_probe for the portal fails the same way (the GitLab server is on the same network in the simulator).',
    conditions: { customersPortalUp: false },
    affectedWhere: {
      health_check: { when: (v) => has(v, 'httpHostProbe'), why: "17.3-17.5's host_probe failures are not counted (it ignores the HTTP proxy); customers_portal catches it" },
    },
  },
  {
    name: 'cloud_connector_down',
    description: 'The Cloud Connector (cloud.gitlab.com, which also fronts the AI gateway) resets every connection.',
    affects: ['cloud_connector', 'health_check', 'code_suggestions'],
    why: 'The exporter\'s connection is reset; GitLab\'s host_probe and end_to_end_probe fail; Workhorse cannot reach the gateway at cloud.gitlab.com/ai, so completions answer 500.',
    conditions: { cloudConnectorUp: false },
  },
  {
    name: 'dws_no_h2',
    description: 'The Duo Workflow Service endpoint does not negotiate HTTP/2.',
    affects: ['duo_workflow_service', 'duo_workflow_tools', 'agent_platform_client', 'health_check'],
    why: 'ALPN gives http/1.1, so gRPC cannot run. Rails calls the same endpoint: list_tools and direct_access (GenerateToken) answer 400 with the gRPC error and duo_agent_platform_probe fails.',
    conditions: { dwsAlpn: 'http/1.1' },
    affectedWhere: {
      health_check: { when: (v) => has(v, 'agentPlatformProbe') && has(v, 'agentPlatformSetting'), why: 'duo_agent_platform_probe exists from 18.6 (simulated) and counts only where the Agent Platform is known to be in use (18.7+)' },
    },
  },
  {
    name: 'dws_token_rejected',
    description: "The Duo Workflow Service rejects the tokens it generated for GitLab (a self-hosted service with other keys, or a clock far off).",
    affects: ['agent_platform_client'],
    why: "direct_access still answers 201 (Rails' GenerateToken call works), but ListTools with the returned token answers UNAUTHENTICATED \"Forbidden by auth provider\" (authentication_interceptor.py). Rails' own ListTools call (list_tools) authenticates with the Cloud Connector token, not the minted one, so duo_workflow_tools and the health check pass: only an IDE, and agent_platform_client, see it.",
    conditions: { dwsRejectsGitlabTokens: true },
    affectedWhere: { agent_platform_client: { when: (v) => has(v, 'listTools'), why: 'direct_access is usable on self-managed from 18.4 (simulated); the probe is skipped before' } },
  },
  {
    name: 'ai_gateway_not_ready',
    description: 'The (self-hosted) AI gateway answers /monitoring/ready with 503 while /monitoring/healthz answers 200.',
    affects: [],
    why: 'Not a fault: /monitoring/ready calls the vendors\' models, so an air-gapped gateway answers 503 there while it serves its own models. The exporter probes /monitoring/healthz, as GitLab\'s troubleshooting does, and nothing fails.',
    conditions: { aiGatewayReady: false },
  },
  {
    name: 'ai_gateway_down',
    description: 'The self-hosted AI gateway resets every connection.',
    affects: ['ai_gateway'],
    why: 'The exporter\'s connection to /monitoring/healthz is reset. On the default (cloud) deployment GitLab does not use this gateway, so only the ai_gateway probe (optional there) fails; on self_hosted and hybrid deployments completions and GitLab\'s host_probe for the gateway fail too.',
    conditions: { aiGatewayUp: false },
  },
  {
    name: 'health_check_failing',
    description: 'Rails\' own outbound path to cloud.gitlab.com is broken (a proxy refuses it) while the exporter and Workhorse get through.',
    affects: ['health_check'],
    why: 'GitLab\'s host_probe for the Cloud Connector and its end_to_end_probe fail from the GitLab server; the exporter\'s own network probes and completions pass: the two vantage points disagree.',
    conditions: { railsReachesCloudConnector: false },
  },
] as const satisfies readonly ScenarioDefinition[];

export type ScenarioName = (typeof SCENARIO_TABLE)[number]['name'];

export interface Scenario extends ScenarioDefinition {
  readonly name: ScenarioName;
}

/** The table, typed for consumers (the `as const` literal types stay internal). */
export const SCENARIOS: readonly Scenario[] = SCENARIO_TABLE;

export const SCENARIO_NAMES: readonly ScenarioName[] = SCENARIOS.map((s) => s.name);

export function isScenarioName(name: string): name is ScenarioName {
  return (SCENARIO_NAMES as readonly string[]).includes(name);
}

export function scenarioDefinition(name: ScenarioName): Scenario {
  const found = SCENARIOS.find((s) => s.name === name);
  if (!found) throw new Error(`unknown scenario ${name}`);
  return found;
}

/** The scenario's conditions over `base` (release, deployment...) over HEALTHY. */
export function conditionsFor(name: ScenarioName, base: Partial<Conditions> = {}): Conditions {
  return { ...HEALTHY, ...base, ...scenarioDefinition(name).conditions };
}
