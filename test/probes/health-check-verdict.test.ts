import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { parseConfigText } from '../../src/config/load.js';
// As src/main.ts does: the probe catalog registers the probes' names and schedules the config reads.
import '../../src/probes/index.js';
import type { Capabilities } from '../../src/gitlab/capabilities.js';
import { DEPLOYMENTS, resolveEnvironment, type Deployment, type InstanceEnvironment } from '../../src/gitlab/deployment.js';
import type { CloudConnectorProbeResult } from '../../src/gitlab/queries.js';
import type { ApplicationSettings } from '../../src/gitlab/rest.js';
import { parseVersion } from '../../src/gitlab/version.js';
import { verdictFor } from '../../src/probes/health-check-verdict.js';

/** verdictFor: which of GitLab's own health-check results count for this instance. */

const AGENT_PLATFORM_ON: ApplicationSettings = { duo_features_enabled: true, duo_agent_platform_enabled: true, instance_level_ai_beta_features_enabled: true };
const AGENT_PLATFORM_OFF: ApplicationSettings = { duo_features_enabled: true, duo_agent_platform_enabled: false };

// One instance per deployment profile, loaded once up front (the config loader is asynchronous).
const INSTANCES = new Map(
  await Promise.all(
    DEPLOYMENTS.map(async (deployment) => [deployment, (await parseConfigText(stringify({ instances: [{ name: 'test', url: 'https://gitlab.test', deployment }] }), 'test.yaml', { env: {} })).instances[0]!] as const),
  ),
);

/** The environment of an instance with `deployment` in its config on GitLab `version`. */
function env(version: string | undefined, deployment: Deployment = 'cloud', applicationSettings?: ApplicationSettings): InstanceEnvironment {
  const instance = INSTANCES.get(deployment)!;
  const caps: Capabilities | undefined =
    version === undefined
      ? undefined
      : {
          detectedAt: Date.now(),
          version: parseVersion(version),
          fields: undefined,
          settings: { licenseType: 'online_cloud', selfHostedAiGateway: undefined, selfHostedAgentPlatform: undefined, applicationSettings },
          problems: [],
        };
  return resolveEnvironment(instance, caps);
}

const failed = (name: string, message = 'failed', errors: string[] | null = null): CloudConnectorProbeResult => ({ name, success: false, message, errors });
const passed = (name: string): CloudConnectorProbeResult => ({ name, success: true, message: 'ok', errors: [] });

const HOST_PROBE = failed('host_probe', 'cloud.gitlab.com connection failed: Connection refused');
const END_TO_END_401 = failed('end_to_end_probe', 'Authentication with the AI gateway failed: returned code 401');

describe('verdictFor', () => {
  describe('host_probe (17.3-17.5 ignored the HTTP proxy)', () => {
    it.each(['17.3.0', '17.4.2-ee', '17.5.9'])('failing on %s → not counted, with the reason', (version) => {
      const verdict = verdictFor(HOST_PROBE, env(version));
      expect(verdict).toEqual({ counted: false, why: expect.stringMatching(/^GitLab 17\.3-17\.5's host_probe opens a plain TCP connection and ignores the HTTP proxy \(fixed in 17\.6\)/) });
    });

    it.each(['17.6.0', '17.10.1', '18.8.0'])('failing on %s → counted', (version) => {
      expect(verdictFor(HOST_PROBE, env(version))).toEqual({ counted: true });
    });

    it('failing on an unknown version → counted (no excuse without evidence)', () => {
      expect(verdictFor(HOST_PROBE, env(undefined))).toEqual({ counted: true });
    });

    it('only host_probe is excused on 17.5', () => {
      expect(verdictFor(failed('license_probe', 'no online cloud licence'), env('17.5.0'))).toEqual({ counted: true });
      expect(verdictFor(failed('access_probe', 'no access data'), env('17.4.0'))).toEqual({ counted: true });
    });
  });

  describe('Agent Platform checks', () => {
    it.each(['duo_agent_platform_probe', 'allow_flow_execution_probe', 'allow_foundational_flows_probe', 'compatible_runner_probe'])(
      '%s failing where the platform is not in use → not counted',
      (name) => {
        const verdict = verdictFor(failed(name), env('18.8.0', 'cloud', AGENT_PLATFORM_OFF));
        expect(verdict).toEqual({ counted: false, why: expect.stringMatching(/^it tests the Duo Agent Platform, which is not in use here \(the Agent Platform is turned off/) });
      },
    );

    it('failing where use is unknown (18.5, feature flags) → not counted, saying it is unknown', () => {
      const verdict = verdictFor(failed('duo_agent_platform_probe'), env('18.5.0', 'cloud', AGENT_PLATFORM_ON));
      expect(verdict).toEqual({ counted: false, why: expect.stringMatching(/^it tests the Duo Agent Platform, and whether it is in use here is unknown/) });
    });

    it('failing before 18.4 (no platform) → not counted', () => {
      expect(verdictFor(failed('duo_agent_platform_probe'), env('18.2.0')).counted).toBe(false);
    });

    it('failing where the platform is in use → counted', () => {
      const e = env('18.8.0', 'cloud', AGENT_PLATFORM_ON);
      expect(e.agentPlatform.inUse).toBe(true);
      expect(verdictFor(failed('duo_agent_platform_probe'), e)).toEqual({ counted: true });
      expect(verdictFor(failed('compatible_runner_probe'), e)).toEqual({ counted: true });
    });
  });

  describe('end_to_end_probe answering 401 (issue 517097)', () => {
    it.each<[Deployment, string]>([
      ['self_hosted', '17.5.0'],
      ['self_hosted', '17.9.3-ee'],
      ['hybrid', '17.6.0'],
      ['hybrid', '17.9.0'],
    ])('%s on %s → not counted', (deployment, version) => {
      const verdict = verdictFor(END_TO_END_401, env(version, deployment));
      expect(verdict).toEqual({ counted: false, why: expect.stringMatching(/401 from the AI gateway.*before 17\.10.*issue 517097/) });
    });

    it('the 401 may come in errors rather than the message', () => {
      const result = failed('end_to_end_probe', 'end-to-end check failed', ['AI gateway returned code 401 (Unauthorized)']);
      expect(verdictFor(result, env('17.8.0', 'self_hosted')).counted).toBe(false);
    });

    it.each<[Deployment, string]>([
      ['cloud', '17.8.0'],
      ['self_hosted', '17.10.0'],
      ['hybrid', '18.2.1'],
    ])('%s on %s → counted', (deployment, version) => {
      expect(verdictFor(END_TO_END_401, env(version, deployment))).toEqual({ counted: true });
    });

    it('self_hosted on an unknown version → counted', () => {
      expect(verdictFor(END_TO_END_401, env(undefined, 'self_hosted'))).toEqual({ counted: true });
    });

    it.each([
      ['another status', 'returned code 500'],
      ['401 only as part of a longer number', 'returned code 4010'],
      ['no code at all', 'the AI gateway did not answer'],
    ])('a failure that is not a 401 (%s) → counted, even self-hosted before 17.10', (_name, message) => {
      expect(verdictFor(failed('end_to_end_probe', message), env('17.8.0', 'self_hosted'))).toEqual({ counted: true });
    });

    it('another check answering 401 is not excused', () => {
      expect(verdictFor(failed('code_suggestions_license_probe', 'returned code 401'), env('17.8.0', 'self_hosted'))).toEqual({ counted: true });
    });
  });

  describe('passing results', () => {
    it.each([
      ['host_probe on 17.4', passed('host_probe'), env('17.4.0')],
      ['an Agent Platform check where it is not in use', passed('duo_agent_platform_probe'), env('18.8.0', 'cloud', AGENT_PLATFORM_OFF)],
      ['end_to_end_probe self-hosted on 17.8', { ...passed('end_to_end_probe'), message: 'returned code 401 earlier, now fine' }, env('17.8.0', 'self_hosted')],
      ['an unknown check, nothing detected', passed('something_new_probe'), env(undefined)],
    ])('%s → counted', (_name, result, e) => {
      expect(verdictFor(result, e)).toEqual({ counted: true });
    });
  });

  it('a result whose success is null is judged as a failure', () => {
    expect(verdictFor({ ...HOST_PROBE, success: null }, env('17.4.0')).counted).toBe(false);
    expect(verdictFor({ ...HOST_PROBE, success: null }, env('17.6.0')).counted).toBe(true);
  });

  it('a result without a name counts', () => {
    expect(verdictFor({ name: null, success: false, message: null }, env('17.4.0', 'self_hosted', AGENT_PLATFORM_OFF))).toEqual({ counted: true });
  });
});
