/**
 * THE causal graph of probe failures: which probe's failure (with which reason, or which fact it
 * read) explains which other probes' failures. One table, read by the readiness report (root
 * causes, grouping, the fix to show: root-causes.ts) and checked against Alertmanager's inhibit
 * rules (test/assets/inhibit-graph.test.ts), so the report and the pages cannot disagree.
 *
 * An edge applies only when its cause really fails upstream of the effect: the cause's probe fails
 * (with one of `cause.reasons`, having exported `cause.facts`), the effect's probe of the SAME
 * instance fails with one of the effect's reasons (the very same one where `sameReason`), and, for
 * health_check, every GitLab check that failed and counts is one the cause breaks (`checks`).
 * Rows are in priority order: a failure several rows could explain is put on the first one's
 * cause. The report then follows the chain to the root (a failure nothing explains).
 *
 * Considered and left out, with the reason:
 * - composite_identity → duo_workflow_tools: list_tools has no composite-identity check (18.7+:
 *   "no flag, licence or composite-identity check", docs/gitlab-compatibility.md, duo_workflow_tools).
 * - version → anything: on an old release the exporter skips the probes whose API is missing
 *   instead of failing them (scenario version_too_old).
 * - instance_http2 downgraded (http2_not_negotiated) → anything: nothing in GitLab fails over
 *   HTTP/1.1 on that hop (docs/gitlab-compatibility.md, instance_http2).
 * - customers_portal ↔ cloud_connector, Silent Mode → duo_workflow_tools: different hosts, and
 *   Silent Mode blocks Gitlab::HTTP, not Rails' gRPC (it reaches list_tools only once the Cloud
 *   Connector token expires, which the token_expired row explains).
 */
import { FAILURE_REASONS, type FailureReason } from '../core/errors.js';
import type { Deployment } from '../gitlab/deployment.js';
import type { FactName } from '../core/facts.js';
import { findProbe } from '../probes/index.js';

/** Failures of the connection itself: the request never reached anything that could answer. */
export const CONNECTION_REASONS: readonly FailureReason[] = ['dns', 'connect', 'tls', 'proxy', 'timeout'];

/** GitLab's own health-check results (health_check's `check` label) the graph speaks of. */
export const GITLAB_CHECKS = ['license_probe', 'host_probe', 'access_probe', 'token_probe', 'end_to_end_probe', 'duo_agent_platform_probe'] as const;
export type GitLabCheck = (typeof GITLAB_CHECKS)[number];

/** Every GitLab check but host_probe: what a subscription that does not work breaks. */
const SUBSCRIPTION_CHECKS: readonly GitLabCheck[] = ['license_probe', 'access_probe', 'token_probe', 'end_to_end_probe', 'duo_agent_platform_probe'];

/** A fact the probe's last run exported: a sample of the family whose labels match. */
export interface FactCondition {
  readonly name: FactName;
  /** Label values the sample must carry; a list means any of them. */
  readonly labels?: Readonly<Record<string, string | readonly string[]>>;
  /** The sample's value, or one of these values. */
  readonly value?: number | readonly number[];
  /** The sample is a Unix time at least this many seconds before the report (0: in the past). */
  readonly olderThanSeconds?: number;
}

/** A failing probe, as a cause or an effect. */
export interface FailureMatch {
  readonly probe: string;
  /** The failure reasons that match; any reason when absent. */
  readonly reasons?: readonly FailureReason[];
  /** Facts the failing run must have exported, all of them. */
  readonly facts?: readonly FactCondition[];
}

export interface Effect extends FailureMatch {
  /** Only when the effect failed with the very reason the cause failed with. */
  readonly sameReason?: boolean;
  /** health_check only: every counted GitLab check that failed is one of these. */
  readonly checks?: readonly GitLabCheck[];
}

/**
 * What Alertmanager does when this cause is named by an alert of its own: `cause only` mutes the
 * effects' probe-failure alerts (one problem, one page); `both` lets both page, for the reason
 * given (two vantage points: either may fail alone, so neither proves the other).
 */
export type Paging = 'cause only' | { readonly both: string };

export interface CausalEdge {
  /** A stable name, e.g. `silent_mode`. */
  readonly id: string;
  /** The root cause in a few words, as the report says it: `Silent Mode is on`. */
  readonly summary: string;
  readonly cause: FailureMatch;
  readonly effects: readonly Effect[];
  /** Only on these deployment profiles (every profile when absent). */
  readonly deployments?: readonly Deployment[];
  readonly paging: Paging;
  /** Why the cause breaks the effects: the GitLab code path or the probe's behaviour. */
  readonly why: string;
  /**
   * What to do, where it says more than the root probe's own advice for its reason, and the alert
   * that pages for this cause (its runbook section has the detail).
   */
  readonly fix?: { readonly advice: string; readonly alert?: string };
}

// Three lists in order by hand: the order names the root among probes failing alike, which no declaration says; test/report/causes.test.ts and probe-lists.test.ts hold their members to the declarations.
/** Probes that talk to the instance's external URL, the most basic request first. */
const INSTANCE_PROBES = ['websocket_cable', 'version', 'exporter_tokens', 'instance_settings', 'license', 'health_check', 'composite_identity', 'code_suggestions', 'duo_workflow_tools', 'agent_platform_client', 'duo_chat'] as const;

/** Probes that use the admin token (version only when one is configured, which it prefers). */
const ADMIN_TOKEN_PROBES = ['instance_settings', 'license', 'health_check', 'composite_identity', 'version'] as const;

/** Probes that use the Duo user's token; websocket_cable's `auth` means exactly "token refused". */
const DUO_TOKEN_PROBES = ['websocket_cable', 'duo_workflow_tools', 'code_suggestions', 'duo_chat'] as const;

/**
 * Probes that share one path and one reason: a failure of an earlier one explains the same failure
 * of every later one (so the first failing probe of the list is the root). Expands to one edge per
 * probe but the last; the order keeps the graph acyclic.
 */
function sharedPath(id: string, summary: string, probes: readonly string[], reasons: readonly FailureReason[], why: string): CausalEdge[] {
  return probes.slice(0, -1).map((probe, i) => ({
    id: `${id}/${probe}`,
    summary,
    cause: { probe, reasons },
    effects: probes.slice(i + 1).map((effect) => ({ probe: effect, reasons, sameReason: true })),
    paging: 'cause only',
    why,
  }));
}

const UNREACHABLE = "GitLab's external URL cannot be reached from the exporter";

export const CAUSAL_GRAPH: readonly CausalEdge[] = [
  {
    // instance_http2 asks nothing of GitLab but a TLS connection and any HTTP answer (any status
    // passes): failing for anything but the downgrade, the URL cannot be reached at all, and every
    // probe of the same URL, resolve pins, CA and proxy fails the same way (GitLabDuoInstanceUnreachable).
    id: 'instance_unreachable',
    summary: UNREACHABLE,
    cause: { probe: 'instance_http2', reasons: FAILURE_REASONS.filter((r) => r !== 'http2_not_negotiated') },
    effects: INSTANCE_PROBES.map((probe) => ({ probe, reasons: CONNECTION_REASONS, sameReason: true })),
    paging: 'cause only',
    why: 'every instance probe connects to the same external URL with the same resolve pins, CA and proxy settings',
  },
  // Where instance_http2 is off or passes: the first instance probe that fails to connect.
  ...sharedPath('instance_path', UNREACHABLE, INSTANCE_PROBES, CONNECTION_REASONS, 'every instance probe connects to the same external URL with the same resolve pins, CA and proxy settings'),
  {
    // GitLab's API answers JSON, and /api/v4/metadata (/api/v4/version before 15.2) exists in every
    // release and authenticates first: both answering 404, a redirect, or a 2xx page instead of JSON
    // mean no GitLab API at the configured URL (a wrong path or relative URL root, http:// where
    // GitLab redirects to https://; gitlab/api-presence.ts, docs/gitlab-compatibility.md). Every
    // other probe of that URL then fails on the 404, the redirect or the page, not on what it
    // checks: the licence query's 404 is no licence problem. (A 200 whose version does not parse is
    // unexpected_response too; with the other probes failing alike, that URL does not lead to a
    // GitLab API that works either.) The version probe's alert is a warning, so it mutes nothing.
    id: 'no_gitlab_api',
    summary: "the instance URL does not lead to GitLab's API: check the URL",
    cause: { probe: 'version', reasons: ['http_status', 'unexpected_response'], facts: [{ name: 'gitlab_duo_http_status_code', value: [200, 301, 302, 303, 307, 308, 404] }] },
    effects: INSTANCE_PROBES.filter((probe) => probe !== 'version').map((probe) => ({ probe, reasons: ['http_status', 'unexpected_response', 'websocket_upgrade'] })),
    paging: { both: 'the version probe\u2019s alert is a warning and mutes nothing: a wrong URL pages through the failures it causes' },
    why: 'every instance probe builds its request on the same URL, so a URL that does not lead to GitLab fails them all on the answer, not on what they check',
    fix: { advice: 'Set the instance\u2019s url to GitLab\u2019s external URL, the one users open GitLab at (external_url in gitlab.rb): https://, no page or /api/v4 path, and a relative URL root (https://host/gitlab) only where GitLab is served under one. The version probe\u2019s message says what answered instead.' },
  },
  // A token without a scope its probes need: GitLab answers them 403 (insufficient_scope, or for
  // admin_mode the bare 403 of an admin endpoint, lib/api/api_guard.rb:93-97), and exporter_tokens
  // names the scope (scopes_ok 0 for that token). Its alert is a warning: the 403s page. The Duo
  // user's probes here are those that declare a scope of its token, as exporter_tokens judges it.
  tokenScopeEdge('admin', 'the admin token lacks a scope the probes need', ADMIN_TOKEN_PROBES),
  tokenScopeEdge('duo_user', "the Duo user's token lacks a scope the probes need", INSTANCE_PROBES.filter((p) => findProbe(p)?.scopes?.some((need) => need.token === 'duo_user'))),
  ...sharedPath('cable', 'the ActionCable WebSocket /-/cable cannot be opened', ['websocket_cable', 'duo_chat'], FAILURE_REASONS, 'duo_chat opens the same /-/cable, with the same headers and token, before it asks anything: whatever stops websocket_cable stops it the same way (scenarios cable_upgrade_stripped, cable_bad_origin; Alertmanager rule 6c)'),
  // One admin token for every admin probe: refused (auth) or not allowed (forbidden: not an
  // administrator, or Admin Mode on and no admin_mode scope, lib/api/api_guard.rb:93-97), it is
  // refused to all of them.
  ...sharedPath('admin_token', 'the admin token is refused or not allowed', ADMIN_TOKEN_PROBES, ['auth', 'forbidden'], 'every admin probe sends the same admin token to the same GitLab'),
  // The Duo user's token: a 401 on /-/cable (disconnect unauthorized), on list_tools and on the
  // completions is the same unknown, expired or revoked token.
  ...sharedPath('duo_token', "the Duo user's token is refused", DUO_TOKEN_PROBES, ['auth'], "every Duo user probe sends the same Duo user's token to the same GitLab"),
  {
    // Silent Mode lets Gitlab::HTTP send GET, HEAD, OPTIONS and TRACE only (gitlab-http
    // http_v2/client.rb:21,130-135): the completion (scenario silent_mode_on: 500), GitLab's
    // end_to_end_probe ("only get, head, options, and trace methods are allowed in silent mode"),
    // and the POSTs of the token sync and the seat-link sync, so the token, the access catalog and
    // the licence's lastSync go stale.
    id: 'silent_mode',
    summary: 'Silent Mode is on',
    cause: { probe: 'instance_settings', reasons: ['requirement_not_met'], facts: [{ name: 'gitlab_duo_silent_mode_enabled', value: 1 }] },
    effects: [
      { probe: 'code_suggestions', reasons: ['http_status'] },
      { probe: 'health_check', reasons: ['requirement_not_met'], checks: ['end_to_end_probe', 'access_probe', 'token_probe'] },
      { probe: 'license', reasons: ['requirement_not_met'], facts: [{ name: 'gitlab_duo_license_last_sync_timestamp_seconds', olderThanSeconds: 72 * 3600 }] },
    ],
    paging: 'cause only',
    why: 'Silent Mode blocks every outbound POST of Rails: completions, the token sync and the seat-link sync',
    fix: { advice: 'Turn Silent Mode off (Admin > Settings > General > Silent Mode): it blocks GitLab\u2019s outbound POST requests, so completions and the subscription sync fail.', alert: 'GitLabDuoSilentModeEnabled' },
  },
  {
    // Duo off and locked (duo_features_enabled false, never_on): the monolith answers the
    // completion 401 (scenario duo_never_on) and GitLab's end_to_end_probe is refused.
    id: 'duo_off',
    summary: 'GitLab Duo is turned off and locked for the instance',
    cause: {
      probe: 'instance_settings',
      reasons: ['requirement_not_met'],
      facts: [
        { name: 'gitlab_duo_features_enabled', value: 0 },
        { name: 'gitlab_duo_availability', labels: { availability: 'never_on' }, value: 1 },
      ],
    },
    effects: [
      { probe: 'code_suggestions', reasons: ['auth', 'forbidden'] },
      { probe: 'health_check', reasons: ['requirement_not_met'], checks: ['end_to_end_probe'] },
    ],
    paging: 'cause only',
    why: 'with Duo off and locked no user may use Code Suggestions, the exporter\u2019s Duo user and GitLab\u2019s own test completion included',
    fix: { advice: 'Turn GitLab Duo on for the instance (Admin > GitLab Duo > Change configuration, availability default_on), or at least unlock it for groups and projects.', alert: 'GitLabDuoFeaturesDisabled' },
  },
  {
    // GitLab's license_probe passes online_cloud_license? only (probes/license_probe.rb:31); the
    // seat-link and token syncs refuse other licences, so the token and catalog go stale and the AI
    // gateway and the Duo Workflow Service refuse the instance (completions 401, list_tools 400).
    id: 'licence_not_online_cloud',
    summary: 'the licence is not an online cloud licence',
    cause: { probe: 'license', reasons: ['requirement_not_met'], facts: [{ name: 'gitlab_duo_license_info', labels: { type: ['offline_cloud', 'legacy_license', 'none'] }, value: 1 }] },
    effects: subscriptionEffects(),
    paging: 'cause only',
    why: 'GitLab Duo is entitled by an online cloud licence; GitLab\u2019s license_probe and every later check fail without one',
    fix: { advice: 'Activate the subscription with an activation code (an online cloud licence) in Admin > Subscription: a licence key or file, or an offline cloud licence, does not entitle GitLab Duo (Duo Self-Hosted excepted).', alert: 'GitLabDuoLicenseNotOnlineCloud' },
  },
  {
    // GitLab stops trusting a subscription whose last sync is older than 72 h: the access
    // catalog is stale (access_probe), then the token expires (scenario sync_stale).
    id: 'licence_sync_stale',
    summary: 'the subscription has not synchronised for more than 72 h',
    cause: { probe: 'license', reasons: ['requirement_not_met'], facts: [{ name: 'gitlab_duo_license_last_sync_timestamp_seconds', olderThanSeconds: 72 * 3600 }] },
    effects: subscriptionEffects(),
    paging: 'cause only',
    why: 'the access catalog and the Cloud Connector token come with the sync; older than 72 h they are stale',
    fix: { advice: 'Let Sidekiq reach customers.gitlab.com:443 (through the proxy GitLab uses), then synchronise the subscription in Admin > Subscription.', alert: 'GitLabDuoLicenseSyncStale' },
  },
  {
    // Anything else the license probe refuses (an expired licence, a sync threshold set lower).
    id: 'licence',
    summary: 'the licence does not entitle GitLab Duo',
    cause: { probe: 'license', reasons: ['requirement_not_met'] },
    effects: subscriptionEffects(),
    paging: 'cause only',
    why: 'an expired or unsynchronised licence fails GitLab\u2019s own checks and the requests that need the subscription',
  },
  {
    // The Cloud Connector token (health_check's token_probe, expires_at) expired: the AI gateway
    // answers the completion 401 and the Duo Workflow Service refuses list_tools with gRPC 16,
    // which Rails answers 400 (scenario token_expired).
    id: 'token_expired',
    summary: 'the Cloud Connector access token has expired',
    cause: { probe: 'health_check', reasons: ['requirement_not_met'], facts: [{ name: 'gitlab_duo_access_token_expiry_timestamp_seconds', olderThanSeconds: 0 }] },
    effects: [
      { probe: 'code_suggestions', reasons: ['auth'] },
      { probe: 'duo_workflow_tools', reasons: ['grpc'] },
      { probe: 'agent_platform_client', reasons: ['http_status'] },
    ],
    paging: 'cause only',
    why: 'the AI gateway and the Duo Workflow Service accept requests only with a valid Cloud Connector token',
    fix: { advice: 'Synchronise the subscription in Admin > Subscription (it renews the Cloud Connector token), and let Sidekiq reach customers.gitlab.com:443 so that the hourly renewal works again.', alert: 'GitLabDuoAccessTokenExpired' },
  },
  {
    // Activation and the daily seat-link sync go to customers.gitlab.com; GitLab's host_probe
    // tests it too (scenario customers_portal_down), and the token sync goes there.
    id: 'customers_portal',
    summary: 'customers.gitlab.com cannot be reached',
    cause: { probe: 'customers_portal' },
    effects: [
      { probe: 'health_check', reasons: ['requirement_not_met'], checks: ['host_probe', 'access_probe', 'token_probe'] },
      { probe: 'license', reasons: ['requirement_not_met'], facts: [{ name: 'gitlab_duo_license_last_sync_timestamp_seconds', olderThanSeconds: 72 * 3600 }] },
    ],
    paging: { both: 'two vantage points: the exporter\u2019s host and the GitLab server may not share a path out' },
    why: 'the subscription sync and GitLab\u2019s host_probe use the same host',
  },
  {
    // The AI gateway is behind cloud.gitlab.com: Workhorse cannot reach it (completions 500) and
    // GitLab's host_probe and end_to_end_probe fail (docs/probes.md, cloud_connector; scenario
    // cloud_connector_down).
    id: 'cloud_connector',
    summary: 'cloud.gitlab.com cannot be reached',
    cause: { probe: 'cloud_connector' },
    effects: [
      { probe: 'code_suggestions', reasons: ['http_status', 'timeout'] },
      { probe: 'health_check', reasons: ['requirement_not_met'], checks: ['host_probe', 'end_to_end_probe'] },
    ],
    deployments: ['cloud', 'hybrid'],
    paging: { both: 'two vantage points: the exporter\u2019s host and the GitLab nodes may not share a path out' },
    why: 'every Duo request goes to the AI gateway at cloud.gitlab.com/ai',
  },
  {
    // Rails calls it over gRPC (list_tools, direct_access: 400 with the gRPC error; duo_agent_platform_probe; scenario dws_no_h2), agent_platform_client from here.
    id: 'duo_workflow_service',
    summary: 'the Duo Workflow Service cannot be reached over HTTP/2 gRPC',
    cause: { probe: 'duo_workflow_service' },
    effects: [
      { probe: 'duo_workflow_tools', reasons: ['grpc', 'timeout'] },
      { probe: 'agent_platform_client', reasons: ['http_status', 'grpc', 'http2_not_negotiated', ...CONNECTION_REASONS] },
      { probe: 'health_check', reasons: ['requirement_not_met'], checks: ['duo_agent_platform_probe'] },
    ],
    paging: { both: 'two vantage points: the exporter\u2019s host and the GitLab nodes may not share a path out' },
    why: 'list_tools and GitLab\u2019s duo_agent_platform_probe are gRPC calls from Rails to the same service',
  },
  {
    // Duo Self-Hosted and hybrid: Workhorse sends completions to the instance's own AI gateway,
    // and GitLab's self-hosted checks include a host_probe for it. On `cloud` GitLab does not use it.
    id: 'ai_gateway',
    summary: 'the self-hosted AI gateway does not answer',
    cause: { probe: 'ai_gateway' },
    effects: [
      { probe: 'code_suggestions', reasons: ['http_status', 'timeout'] },
      { probe: 'health_check', reasons: ['requirement_not_met'], checks: ['host_probe', 'end_to_end_probe'] },
    ],
    deployments: ['self_hosted', 'hybrid'],
    paging: { both: 'two vantage points: the exporter\u2019s host and the GitLab nodes may not share a path to the gateway' },
    why: 'completions go through Workhorse to the self-hosted AI gateway',
  },
  {
    // Rails has the proxy, Workhorse does not (gitlab-org/gitlab#422001): completions, which
    // Workhorse proxies, fail with 500 or time out while GitLab's health check passes.
    id: 'proxy_env',
    summary: 'Rails and Workhorse use different proxy settings',
    cause: { probe: 'proxy_env', reasons: ['requirement_not_met'] },
    effects: [{ probe: 'code_suggestions', reasons: ['http_status', 'timeout'] }],
    paging: { both: 'the exporter reads the env folders of its own node only; completions may be served by other nodes' },
    why: 'Workhorse proxies the completions to the AI gateway with its own proxy settings',
  },
  {
    // A slow AI gateway: the exporter's completion times out and so does GitLab's end_to_end_probe
    // (a real completion with a 3 s read timeout; scenario code_suggestions_slow).
    id: 'completion_timeout',
    summary: 'completions time out: the AI gateway or the model is slow',
    cause: { probe: 'code_suggestions', reasons: ['timeout'] },
    effects: [{ probe: 'health_check', reasons: ['requirement_not_met'], checks: ['end_to_end_probe'] }],
    paging: 'cause only',
    why: 'GitLab\u2019s end_to_end_probe is one completion through the same AI gateway, with a 3 s timeout',
    fix: { advice: 'The AI gateway or the model answers too slowly: check GitLab\u2019s AI gateway status (status.gitlab.com) or your own gateway and model server; raise code_suggestions\u2019 timeout only if completions are merely slow.' },
  },
];

/**
 * exporter_tokens found `token` without a scope: the 403s of the probes sending it are that. No
 * `fix`: exporter_tokens' own (and GitLabDuoExporterTokenScopeMissing's runbook) says it.
 */
function tokenScopeEdge(token: string, summary: string, probes: readonly string[]): CausalEdge {
  const cause = { probe: 'exporter_tokens', reasons: ['requirement_not_met' as const], facts: [{ name: 'gitlab_duo_token_scopes_ok' as const, labels: { token }, value: 0 }] };
  const paging = { both: 'GitLabDuoExporterTokenScopeMissing is a warning and mutes nothing: the failing probes page' };
  const why = 'GitLab refuses every request of a token that lacks the scope the endpoint accepts';
  return { id: `${token}_token_scope`, summary, cause, effects: probes.map((probe) => ({ probe, reasons: ['forbidden'] })), paging, why };
}

/** What a subscription that does not work breaks: GitLab's checks, completions, the Duo Workflow Service. */
function subscriptionEffects(): Effect[] {
  return [
    { probe: 'health_check', reasons: ['requirement_not_met'], checks: SUBSCRIPTION_CHECKS },
    { probe: 'code_suggestions', reasons: ['auth', 'forbidden'] },
    { probe: 'duo_workflow_tools', reasons: ['grpc'] },
    { probe: 'agent_platform_client', reasons: ['http_status'] },
  ];
}
