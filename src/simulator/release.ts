/**
 * What a simulated GitLab release has, each switch from GitLab's own source. The citations (file,
 * commit, merge request) are in docs/gitlab-compatibility.md under the same names; where the
 * source does not date a change, the release chosen here is said to be a choice there, and the
 * exporter is tested on both sides of it.
 */

type Release = readonly [major: number, minor: number];

/** The release that introduced each behaviour the simulator models. */
export const INTRODUCED = {
  /** `Query.cloudConnectorStatus` (!159579), flag default-on (!161997). */
  healthCheck: [17, 3],
  /** Admins only (!162422); in 17.3 any signed-in user got results. */
  healthCheckAdminOnly: [17, 4],
  /** `access_probe` split into access + token (!164728). */
  accessTokenSplit: [17, 4],
  /** `CloudConnectorProbeResult.errors` and `.details`, with the report download (!165032). Inferred. */
  probeResultDetails: [17, 5],
  /** The self-hosted probe set, chosen by an offline cloud licence (!167016). */
  selfHostedProbeSet: [17, 5],
  /** host_probe via Gitlab::HTTP (honours the proxy) instead of a raw TCPSocket (!170951). */
  httpHostProbe: [17, 6],
  /** The self-hosted set chosen by an AI gateway URL instead of the licence (!183692). */
  selfHostedByGatewayUrl: [17, 10],
  /** end_to_end_probe's "Authentication with the AI gateway services" wording. Unsettled: 18.0 chosen. */
  endToEndWording2: [18, 0],
  /** `duo_agent_platform_probe` in the default set. Unsettled between 18.3 and 18.9: 18.6 chosen. */
  agentPlatformProbe: [18, 6],
  /** Hybrid (vendored features) runs default + self-hosted probes; flag on by default in 18.7, GA 18.9. */
  hybridProbeSet: [18, 7],
  /** `duo_availability` on REST settings. Unsettled (probably 17.4 with the radio-button UI). */
  duoAvailabilitySetting: [17, 4],
  /** GraphQL `Query.duoSettings` with `aiGatewayUrl` ("Introduced in GitLab 17.9"). */
  duoSettings: [17, 9],
  /** `DuoSettings.duoAgentPlatformServiceUrl`. */
  duoSettingsAgentPlatformUrl: [18, 4],
  /** Composite-identity onboarding for the Agent Platform (flag default on, 18.3). */
  compositeIdentityOnboarding: [18, 3],
  /** The onboarding's service account is `duo-developer` (before: a generated `service_account_…`). */
  duoDeveloperUsername: [18, 5],
  /** GraphQL `UserCore.compositeIdentityEnforced` (!217329). */
  compositeIdentityField: [18, 8],
  /** `GET /api/v4/ai/duo_workflows/list_tools`. Unsettled 18.4 or 18.5: 18.4 chosen. */
  listTools: [18, 4],
  /** `duo_remote_flows_enabled` and application setting `duo_workflow_oauth_application_id` on REST (about 18.4). */
  remoteFlowsSetting: [18, 4],
  /** `duo_agent_platform_enabled` and `duo_foundational_flows_enabled` (!215646); list_tools no longer behind flags. */
  agentPlatformSetting: [18, 7],
  /** The Agent Platform GA on self-managed: no beta toggle needed. */
  agentPlatformGa: [18, 8],
  /** Duo Chat's `/help` answers a fixed text without a model call (!167876). */
  chatHelp: [17, 5],
  /** Chat threads: `threadId` on aiAction and AiMessage (!177053). */
  chatThreads: [17, 9],
} as const satisfies Record<string, Release>;

export type Feature = keyof typeof INTRODUCED;

/** major.minor of a version string such as "17.5.2-ee"; [0, 0] for anything else. */
export function releaseOf(version: string): Release {
  const match = /^(\d+)\.(\d+)/.exec(version);
  return match ? [Number(match[1]), Number(match[2])] : [0, 0];
}

/** Whether `version` (e.g. "17.5.2-ee") has `feature`. */
export function has(version: string, feature: Feature): boolean {
  const [major, minor] = releaseOf(version);
  const [fMajor, fMinor] = INTRODUCED[feature];
  return major > fMajor || (major === fMajor && minor >= fMinor);
}
