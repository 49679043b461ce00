import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { parseConfigText } from '../../src/config/load.js';
// As src/main.ts does: the probe catalog registers the probes' names and schedules the config reads.
import '../../src/probes/index.js';
import type { InstanceConfig } from '../../src/config/schema.js';
import type { Capabilities, DeploymentSettings } from '../../src/gitlab/capabilities.js';
import { CAPABILITY_NAMES, capabilityFlags, resolveEnvironment, type Deployment } from '../../src/gitlab/deployment.js';
import type { ApplicationSettings } from '../../src/gitlab/rest.js';
import { parseVersion } from '../../src/gitlab/version.js';

/** resolveEnvironment / capabilityFlags: the deployment profile and what this GitLab offers. */

const AI_GATEWAY = { endpoints: { ai_gateway: 'https://aigw.internal:5052' } };

// The instances the tests resolve, loaded once up front (the config loader is asynchronous).
const EXTRAS: Array<Record<string, unknown>> = [{}, AI_GATEWAY, ...(['cloud', 'self_hosted', 'hybrid'] as const).map((deployment) => ({ deployment, ...AI_GATEWAY }))];
const INSTANCES = new Map(
  await Promise.all(
    EXTRAS.map(async (extra) => [JSON.stringify(extra), (await parseConfigText(stringify({ instances: [{ name: 'test', url: 'https://gitlab.test', ...extra }] }), 'test.yaml', { env: {} })).instances[0]!] as const),
  ),
);

function instance(extra: Record<string, unknown> = {}): InstanceConfig {
  const loaded = INSTANCES.get(JSON.stringify(extra));
  if (!loaded) throw new Error(`no instance loaded for ${JSON.stringify(extra)}: add it to EXTRAS`);
  return loaded;
}

interface CapsSpec {
  readonly version?: string;
  /** Type → fields; undefined: introspection was not read. */
  readonly fields?: Record<string, string[]>;
  /** Undefined: no admin token. */
  readonly settings?: Partial<DeploymentSettings>;
}

function caps(spec: CapsSpec): Capabilities {
  return {
    detectedAt: Date.now(),
    version: spec.version === undefined ? undefined : parseVersion(spec.version),
    fields: spec.fields === undefined ? undefined : new Map(Object.entries(spec.fields).map(([type, names]) => [type, new Set(names)])),
    settings:
      spec.settings === undefined
        ? undefined
        : { licenseType: undefined, selfHostedAiGateway: undefined, selfHostedAgentPlatform: undefined, applicationSettings: undefined, ...spec.settings },
    problems: [],
  };
}

/** What GitLab says through duoSettings.aiGatewayUrl and currentLicense.type. */
const gitlabSays = (selfHostedAiGateway: boolean | undefined, licenseType: string | null | undefined, version = '18.8.0') => caps({ version, settings: { selfHostedAiGateway, licenseType } });

describe('resolveEnvironment: the deployment profile', () => {
  it.each<Deployment>(['cloud', 'self_hosted', 'hybrid'])('deployment: %s in the config wins over whatever GitLab says', (deployment) => {
    for (const detected of [gitlabSays(true, 'offline_cloud'), gitlabSays(true, 'online_cloud'), gitlabSays(false, 'online_cloud'), undefined]) {
      const env = resolveEnvironment(instance({ deployment, ...AI_GATEWAY }), detected);
      expect(env).toMatchObject({ deployment, deploymentSource: 'config', deploymentWhy: `deployment: ${deployment} in the config` });
    }
  });

  it('auto: an AI gateway URL in GitLab and an online cloud licence → hybrid (detected)', () => {
    const env = resolveEnvironment(instance(), gitlabSays(true, 'online_cloud'));
    expect(env).toMatchObject({ deployment: 'hybrid', deploymentSource: 'detected' });
    expect(env.deploymentWhy).toMatch(/^GitLab has a self-hosted AI gateway URL and the licence is online cloud/);
  });

  it.each<[string, string | null, RegExp]>([
    ['offline_cloud', 'offline_cloud', /the licence is offline_cloud, not online cloud/],
    ['legacy_license', 'legacy_license', /the licence is legacy_license, not online cloud/],
    ['no licence', null, /the licence is missing/],
    ['a type GitLab may add later', 'future_kind', /the licence is of another type/],
  ])('auto: an AI gateway URL in GitLab and %s → self_hosted (detected)', (_name, licenseType, why) => {
    const env = resolveEnvironment(instance(), gitlabSays(true, licenseType));
    expect(env).toMatchObject({ deployment: 'self_hosted', deploymentSource: 'detected' });
    expect(env.deploymentWhy).toMatch(/^GitLab has a self-hosted AI gateway URL/);
    expect(env.deploymentWhy).toMatch(why);
  });

  it('auto: an AI gateway URL in GitLab, licence unknown → hybrid (assumed), the cloud still checked', () => {
    const env = resolveEnvironment(instance(), gitlabSays(true, undefined));
    expect(env).toMatchObject({ deployment: 'hybrid', deploymentSource: 'assumed' });
    expect(env.deploymentWhy).toMatch(/licence type is unknown/);
  });

  it('auto: GitLab has no AI gateway URL → cloud (detected), even with endpoints.ai_gateway set', () => {
    const env = resolveEnvironment(instance(AI_GATEWAY), gitlabSays(false, 'offline_cloud'));
    expect(env).toMatchObject({ deployment: 'cloud', deploymentSource: 'detected' });
    expect(env.deploymentWhy).toMatch(/^GitLab has no self-hosted AI gateway URL: Duo is served from cloud\.gitlab\.com/);
    expect(env.deploymentWhy).toContain('endpoints.ai_gateway is set, but GitLab does not send Duo there');
  });

  it('auto: GitLab has no AI gateway URL and none is configured → cloud (detected), no note about the endpoint', () => {
    const env = resolveEnvironment(instance(), gitlabSays(false, 'online_cloud'));
    expect(env).toMatchObject({ deployment: 'cloud', deploymentSource: 'detected' });
    expect(env.deploymentWhy).not.toContain('endpoints.ai_gateway');
  });

  it.each<[string, Capabilities | undefined]>([
    ['nothing detected', undefined],
    ['no admin token (no settings)', caps({ version: '18.8.0', fields: { Query: ['user'] } })],
    ['a GitLab without duoSettings', gitlabSays(undefined, 'online_cloud')],
  ])('auto: %s and no endpoints.ai_gateway → cloud (assumed)', (_name, detected) => {
    const env = resolveEnvironment(instance(), detected);
    expect(env).toMatchObject({ deployment: 'cloud', deploymentSource: 'assumed' });
    expect(env.deploymentWhy).toMatch(/assuming the GitLab-hosted \(cloud\) setup/);
  });

  it('auto: nothing detected but endpoints.ai_gateway set → hybrid (assumed)', () => {
    const env = resolveEnvironment(instance(AI_GATEWAY), undefined);
    expect(env).toMatchObject({ deployment: 'hybrid', deploymentSource: 'assumed' });
    expect(env.deploymentWhy).toMatch(/^endpoints\.ai_gateway is set \(this GitLab does not say whether it uses one\)/);
  });

  it('auto: GitLab cannot say about the gateway, endpoints.ai_gateway set, offline licence → self_hosted (assumed: the gateway is only in the config)', () => {
    const env = resolveEnvironment(instance(AI_GATEWAY), gitlabSays(undefined, 'offline_cloud'));
    expect(env).toMatchObject({ deployment: 'self_hosted', deploymentSource: 'assumed' });
    expect(env.deploymentWhy).toMatch(/^endpoints\.ai_gateway is set/);
  });

  it('keeps the capabilities it was given', () => {
    const detected = gitlabSays(true, 'online_cloud');
    expect(resolveEnvironment(instance(), detected).capabilities).toBe(detected);
    expect(resolveEnvironment(instance(), undefined).capabilities).toBeUndefined();
  });
});

describe('resolveEnvironment: is the Duo Agent Platform in use', () => {
  const ON: ApplicationSettings = { duo_features_enabled: true, duo_agent_platform_enabled: true, instance_level_ai_beta_features_enabled: true };
  const at = (version: string, applicationSettings: ApplicationSettings | undefined) =>
    resolveEnvironment(instance(), caps({ version, settings: { licenseType: 'online_cloud', selfHostedAiGateway: false, applicationSettings } }));

  it.each(['17.11.0', '18.0.0', '18.3.9-ee'])('%s (before 18.4): not in use, whatever the settings say', (version) => {
    const env = at(version, ON);
    expect(env.agentPlatform.inUse).toBe(false);
    expect(env.agentPlatform.why).toMatch(/has no Duo Agent Platform for self-managed instances \(it came in 18\.4\)/);
    expect(env.flags.agent_platform).toBe(false);
  });

  it.each(['18.4.0', '18.5.3-ee', '18.6.9'])('%s (18.4-18.6): unknown, feature flags no API shows', (version) => {
    for (const settings of [ON, { ...ON, duo_agent_platform_enabled: false }, undefined]) {
      const env = at(version, settings);
      expect(env.agentPlatform.inUse).toBeUndefined();
      expect(env.agentPlatform.why).toMatch(/feature flags that no API shows/);
      expect(env.flags.agent_platform).toBeUndefined();
    }
  });

  it.each(['18.7.0', '18.8.0', '19.0.0-pre'])('%s: in use when the instance switch is on', (version) => {
    const env = at(version, ON);
    expect(env.agentPlatform).toEqual({ inUse: true, why: 'the Agent Platform is turned on (duo_agent_platform_enabled: true)' });
    expect(env.flags.agent_platform).toBe(true);
  });

  it.each<[string, ApplicationSettings, RegExp]>([
    ['duo_agent_platform_enabled false', { ...ON, duo_agent_platform_enabled: false }, /turned off \(duo_agent_platform_enabled: false\)/],
    ['duo_features_enabled false', { ...ON, duo_features_enabled: false }, /GitLab Duo is turned off for the instance/],
  ])('18.7+: %s → not in use', (_name, settings, why) => {
    for (const version of ['18.7.0', '18.9.0']) {
      const env = at(version, settings);
      expect(env.agentPlatform.inUse).toBe(false);
      expect(env.agentPlatform.why).toMatch(why);
    }
  });

  it('18.7: the beta toggle off → not in use (needed before GA in 18.8)', () => {
    const env = at('18.7.2', { ...ON, instance_level_ai_beta_features_enabled: false });
    expect(env.agentPlatform.inUse).toBe(false);
    expect(env.agentPlatform.why).toMatch(/needs the beta and experiment features toggle/);
  });

  it('18.8+: the beta toggle no longer matters', () => {
    expect(at('18.8.0', { ...ON, instance_level_ai_beta_features_enabled: false }).agentPlatform.inUse).toBe(true);
  });

  it('18.7: the beta toggle not exposed does not count as off', () => {
    expect(at('18.7.0', { duo_features_enabled: true, duo_agent_platform_enabled: true }).agentPlatform.inUse).toBe(true);
  });

  it.each<[string, ApplicationSettings | undefined]>([
    ['no admin token (no application settings)', undefined],
    ['the switch not in the settings', { duo_features_enabled: true }],
  ])('18.7+: %s → unknown', (_name, settings) => {
    const env = at('18.8.0', settings);
    expect(env.agentPlatform.inUse).toBeUndefined();
    expect(env.agentPlatform.why).toMatch(/does not say whether the Agent Platform is on/);
  });

  it('no version (nothing detected) → unknown: GitLab could not be asked', () => {
    expect(resolveEnvironment(instance(), undefined).agentPlatform).toEqual({ inUse: undefined, why: 'GitLab could not be asked' });
    expect(resolveEnvironment(instance(), caps({ fields: { Query: ['user'] } })).agentPlatform.inUse).toBeUndefined();
  });
});

describe('capabilityFlags', () => {
  const ALL_FIELDS = {
    Query: ['cloudConnectorStatus', 'duoSettings', 'currentLicense'],
    CloudConnectorProbeResult: ['name', 'success', 'message', 'errors', 'details'],
    UserCore: ['id', 'state', 'compositeIdentityEnforced'],
    DuoSettings: ['aiGatewayUrl'],
  };

  it('nothing detected: every capability unknown', () => {
    const flags = capabilityFlags(undefined);
    expect(Object.keys(flags).sort()).toEqual([...CAPABILITY_NAMES].sort());
    expect(Object.values(flags).every((v) => v === undefined)).toBe(true);
  });

  it('introspection decides where it was read', () => {
    const flags = capabilityFlags(caps({ version: '18.8.0', fields: ALL_FIELDS, settings: { selfHostedAiGateway: true } }));
    expect(flags).toEqual({
      health_check: true,
      health_check_details: true,
      composite_identity_api: true,
      duo_settings: true,
      agent_platform: undefined,
      self_hosted_ai_gateway: true,
    });
  });

  it('a field introspection did not find is false, even on a release that should have it', () => {
    const flags = capabilityFlags(
      caps({ version: '18.8.0', fields: { Query: ['currentLicense'], CloudConnectorProbeResult: [], UserCore: ['id', 'state'], DuoSettings: [] }, settings: { selfHostedAiGateway: false } }),
    );
    expect(flags).toMatchObject({ health_check: false, health_check_details: false, composite_identity_api: false, duo_settings: false, self_hosted_ai_gateway: false });
  });

  it('health check details need both errors and details', () => {
    const only = (fields: string[]) => capabilityFlags(caps({ version: '17.4.0', fields: { ...ALL_FIELDS, CloudConnectorProbeResult: ['name', 'success', 'message', ...fields] } }));
    expect(only(['errors']).health_check_details).toBe(false);
    expect(only(['details']).health_check_details).toBe(false);
    expect(only(['errors', 'details']).health_check_details).toBe(true);
  });

  it.each<[string, boolean, boolean | undefined]>([
    ['17.2.9', false, false],
    ['17.3.0', true, undefined],
    ['18.8.0', true, undefined],
  ])('without introspection, %s: health_check %s (from the release), details %s', (version, healthCheck, details) => {
    const flags = capabilityFlags(caps({ version }));
    expect(flags.health_check).toBe(healthCheck);
    expect(flags.health_check_details).toBe(details);
    expect(flags.composite_identity_api).toBeUndefined();
    expect(flags.duo_settings).toBeUndefined();
    expect(flags.self_hosted_ai_gateway).toBeUndefined();
  });

  it('resolveEnvironment adds agent_platform to the flags', () => {
    const detected = caps({ version: '18.8.0', fields: ALL_FIELDS, settings: { applicationSettings: { duo_features_enabled: true, duo_agent_platform_enabled: true } } });
    const env = resolveEnvironment(instance(), detected);
    expect(env.flags).toEqual({ ...capabilityFlags(detected), agent_platform: true });
  });
});
