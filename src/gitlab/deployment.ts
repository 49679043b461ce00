import type { InstanceConfig } from '../config/schema.js';
import { hasField, type Capabilities } from './capabilities.js';
import { atLeast, versionLabel, type GitLabVersion } from './version.js';

/** How GitLab Duo is served for an instance (config.md `deployment`). */
export const DEPLOYMENTS = ['cloud', 'self_hosted', 'hybrid'] as const;
export type Deployment = (typeof DEPLOYMENTS)[number];
export type DeploymentSetting = Deployment | 'auto';

/** Where the profile came from: the config, GitLab's answers, or a default for lack of either. */
export type DeploymentSource = 'config' | 'detected' | 'assumed';

/** The `capability` label's closed set (metrics.md `gitlab_duo_gitlab_capability`). */
export const CAPABILITY_NAMES = [
  'health_check',
  'health_check_details',
  'composite_identity_api',
  'duo_settings',
  'agent_platform',
  'self_hosted_ai_gateway',
] as const;
export type CapabilityName = (typeof CAPABILITY_NAMES)[number];

/** One instance as the probes and the plan see it: what GitLab offers and how Duo is deployed. */
export interface InstanceEnvironment {
  /** Undefined when nothing was detected (no URL or token, or GitLab did not answer). */
  readonly capabilities: Capabilities | undefined;
  readonly deployment: Deployment;
  readonly deploymentSource: DeploymentSource;
  /** One sentence: why this profile. */
  readonly deploymentWhy: string;
  /** Each capability: true/false as detected, undefined when unknown. */
  readonly flags: Readonly<Record<CapabilityName, boolean | undefined>>;
  /** Whether the Duo Agent Platform is in use here, and why (undefined: cannot tell). */
  readonly agentPlatform: { readonly inUse: boolean | undefined; readonly why: string };
}

const V = (major: number, minor: number): GitLabVersion => ({ major, minor, patch: 0, suffix: '' });

/**
 * Releases that introduced what the probes rely on (docs/gitlab-compatibility.md cites each).
 * Used only when introspection could not be read; a detected field always wins.
 */
export const RELEASES = {
  healthCheck: V(17, 3),
  /** list_tools and the Agent Platform on self-managed (an experiment behind flags until 18.7). */
  agentPlatform: V(18, 4),
  /** `duo_agent_platform_enabled`, the instance switch, and list_tools without flags. */
  agentPlatformSetting: V(18, 7),
  /** GA: no beta toggle needed any more. */
  agentPlatformGa: V(18, 8),
} as const;

/** The environment of an instance from its config and what was detected (undefined: nothing). */
export function resolveEnvironment(instance: InstanceConfig, capabilities: Capabilities | undefined): InstanceEnvironment {
  const flags = capabilityFlags(capabilities);
  const { deployment, source, why } = resolveDeployment(instance, capabilities, flags);
  const agentPlatform = agentPlatformUse(capabilities);
  return { capabilities, deployment, deploymentSource: source, deploymentWhy: why, flags: { ...flags, agent_platform: agentPlatform.inUse }, agentPlatform };
}

/** What each capability is, from introspection first and the version second. */
export function capabilityFlags(caps: Capabilities | undefined): Record<CapabilityName, boolean | undefined> {
  const version = caps?.version;
  const since = (release: GitLabVersion): boolean | undefined => (version ? atLeast(version, release) : undefined);
  const healthCheck = hasField(caps, 'Query', 'cloudConnectorStatus') ?? since(RELEASES.healthCheck);
  const details = healthCheck === false ? false : both(hasField(caps, 'CloudConnectorProbeResult', 'errors'), hasField(caps, 'CloudConnectorProbeResult', 'details'));
  const duoSettings = hasField(caps, 'Query', 'duoSettings');
  return {
    health_check: healthCheck,
    health_check_details: details,
    composite_identity_api: hasField(caps, 'UserCore', 'compositeIdentityEnforced'),
    duo_settings: duoSettings,
    agent_platform: undefined,
    self_hosted_ai_gateway: caps?.settings?.selfHostedAiGateway,
  };
}

function both(a: boolean | undefined, b: boolean | undefined): boolean | undefined {
  return a === undefined || b === undefined ? undefined : a && b;
}

function resolveDeployment(
  instance: InstanceConfig,
  caps: Capabilities | undefined,
  flags: Record<CapabilityName, boolean | undefined>,
): { deployment: Deployment; source: DeploymentSource; why: string } {
  if (instance.deployment !== 'auto') return { deployment: instance.deployment, source: 'config', why: `deployment: ${instance.deployment} in the config` };
  // GitLab's own answer wins: it picks its self-hosted health checks by this very setting.
  if (flags.self_hosted_ai_gateway === false) {
    const note = instance.endpoints.ai_gateway ? ' (endpoints.ai_gateway is set, but GitLab does not send Duo there)' : '';
    return { deployment: 'cloud', source: 'detected', why: `GitLab has no self-hosted AI gateway URL: Duo is served from cloud.gitlab.com${note}` };
  }
  if (flags.self_hosted_ai_gateway === undefined && instance.endpoints.ai_gateway === undefined) {
    return { deployment: 'cloud', source: 'assumed', why: 'no self-hosted AI gateway is configured here and GitLab could not be asked: assuming the GitLab-hosted (cloud) setup' };
  }
  const where = flags.self_hosted_ai_gateway === true ? 'GitLab has a self-hosted AI gateway URL' : 'endpoints.ai_gateway is set (this GitLab does not say whether it uses one)';
  const license = caps?.settings?.licenseType;
  // Without GitLab's own word on the gateway, the profile rests on the config: an assumption.
  const source: DeploymentSource = flags.self_hosted_ai_gateway === true ? 'detected' : 'assumed';
  if (license === 'online_cloud') {
    return { deployment: 'hybrid', source, why: `${where} and the licence is online cloud: self-hosted models beside GitLab-hosted features` };
  }
  if (license === undefined) return { deployment: 'hybrid', source: 'assumed', why: `${where}; the licence type is unknown, so the cloud connection is still checked (hybrid)` };
  const kind = license === null ? 'missing' : ['offline_cloud', 'legacy_license'].includes(license) ? license : 'of another type';
  return { deployment: 'self_hosted', source, why: `${where} and the licence is ${kind}, not online cloud: Duo Self-Hosted, no cloud connection needed` };
}

/**
 * Whether the Duo Agent Platform is in use (docs/gitlab-compatibility.md, "Agent Platform"):
 * absent before 18.4; 18.4-18.6 gate it behind feature flags no API shows, so it is unknown
 * there; from 18.7 the instance switch `duo_agent_platform_enabled` says, with Duo on, and up to
 * 18.7 the beta toggle on too. Unknown makes its probes optional: reported, never paging.
 */
function agentPlatformUse(caps: Capabilities | undefined): { inUse: boolean | undefined; why: string } {
  const version = caps?.version;
  if (!version) return { inUse: undefined, why: 'GitLab could not be asked' };
  const shown = versionLabel(version);
  if (!atLeast(version, RELEASES.agentPlatform)) return { inUse: false, why: `GitLab ${shown} has no Duo Agent Platform for self-managed instances (it came in 18.4)` };
  if (!atLeast(version, RELEASES.agentPlatformSetting)) {
    return { inUse: undefined, why: `GitLab ${shown} gates the Agent Platform behind feature flags that no API shows` };
  }
  const s = caps.settings?.applicationSettings;
  if (s?.duo_agent_platform_enabled === undefined) return { inUse: undefined, why: 'GitLab does not say whether the Agent Platform is on (needs the admin token)' };
  if (!s.duo_agent_platform_enabled) return { inUse: false, why: 'the Agent Platform is turned off (duo_agent_platform_enabled: false)' };
  if (s.duo_features_enabled === false) return { inUse: false, why: 'GitLab Duo is turned off for the instance (duo_features_enabled: false)' };
  if (!atLeast(version, RELEASES.agentPlatformGa) && s.instance_level_ai_beta_features_enabled === false) {
    return { inUse: false, why: `GitLab ${shown} needs the beta and experiment features toggle for the Agent Platform, and it is off` };
  }
  return { inUse: true, why: 'the Agent Platform is turned on (duo_agent_platform_enabled: true)' };
}
