import { endToEndError, hostProbeError, railsDwsError } from './outcomes.js';
import { has } from './release.js';
import type { Conditions } from './scenarios.js';
import type { SimContext } from './world.js';
import { currentLicense, isoTime, serviceTokenClaims, tokenValid } from './world.js';

/**
 * GitLab's own Duo health check, `Query.cloudConnectorStatus`, as each release answers it
 * (docs/gitlab-compatibility.md, "health_check"): which probe set runs, in which order, with
 * which messages. `errors` and `details` are always built; the GraphQL layer drops the fields a
 * release lacks, or refuses the document that asks for them.
 */
export interface ProbeResult {
  readonly __typename: 'CloudConnectorProbeResult';
  readonly name: string;
  readonly success: boolean;
  readonly message: string;
  readonly errors: readonly string[];
  readonly details: Record<string, unknown>;
}

const STALE_PERIOD_MS = 3 * 86_400_000; // CloudConnector::Access::STALE_PERIOD
const NETWORK_CTA = 'If you use firewalls or proxy servers, they must allow traffic to this host.';
const SYNC_CTA = 'Synchronize your subscription.';

function result(name: string, failure: string | undefined, success: string, details: Record<string, unknown> = {}): ProbeResult {
  return {
    __typename: 'CloudConnectorProbeResult',
    name,
    success: failure === undefined,
    message: failure ?? success,
    // ActiveModel full_messages: the failure text, or nothing.
    errors: failure === undefined ? [] : [failure],
    details,
  };
}

/** Which registry runs: status_service.rb / registry.rb of the release. */
type ProbeSet = 'default' | 'self_hosted' | 'hybrid';

export function probeSet(c: Conditions): ProbeSet {
  const gatewayUrlSet = c.deployment !== 'cloud';
  if (has(c.version, 'selfHostedByGatewayUrl')) {
    if (!gatewayUrlSet) return 'default';
    return c.deployment === 'hybrid' && has(c.version, 'hybridProbeSet') ? 'hybrid' : 'self_hosted';
  }
  // 17.5 to 17.9: an offline cloud licence alone selects the self-hosted set.
  if (has(c.version, 'selfHostedProbeSet') && c.licenseType === 'offline_cloud') return 'self_hosted';
  return 'default';
}

/**
 * host_probe: a raw TCPSocket up to 17.5, which fails where Rails may only go out through an
 * HTTP proxy; Gitlab::HTTP.head from 17.6, which takes the proxy and counts any answer.
 */
function hostProbe(c: Conditions, url: string, error: string | undefined): ProbeResult {
  const host = new URL(url).hostname;
  if (!has(c.version, 'httpHostProbe')) {
    if (c.railsProxy) return result('host_probe', `${host} could not be reached. ${NETWORK_CTA}`, '');
    return result('host_probe', error && `${host} connection failed: ${error}.`, `${host} reachable.`);
  }
  return result('host_probe', error && `${host} connection failed: ${error}.\n\n${NETWORK_CTA}`, `${host} reachable.`);
}

function endToEnd(c: Conditions, error: string | undefined): ProbeResult {
  if (!has(c.version, 'accessTokenSplit')) return result('end_to_end_probe', error && `Code completion test failed: ${error}`, 'Code completion test was successful');
  if (!has(c.version, 'endToEndWording2')) {
    return result('end_to_end_probe', error && `Authentication with GitLab Cloud services failed: ${error}`, 'Authentication with GitLab Cloud services succeeded.');
  }
  return result('end_to_end_probe', error && `Authentication with the AI gateway services failed: ${error}`, 'Authentication with the AI gateway services succeeded.');
}

function licenseProbe(c: Conditions, ctx: SimContext, now: number): ProbeResult {
  const license = currentLicense(c, now);
  return result(
    'license_probe',
    c.licenseType === 'online_cloud' ? undefined : 'Subscription for this instance cannot be synchronized. Contact GitLab customer support to upgrade your license.',
    'Subscription can be synchronized.',
    { instance_id: ctx.instanceId, gitlab_version: c.version, license: { plan: license.plan, type: license.type, expires_at: license.expiresAt, trial: false } },
  );
}

function accessAndToken(c: Conditions, ctx: SimContext, now: number): ProbeResult[] {
  const claims = serviceTokenClaims(c, ctx.instanceId, now);
  const stale = c.accessAgeMs > STALE_PERIOD_MS;
  if (!has(c.version, 'accessTokenSplit')) {
    // 17.3's single access_probe checked the access data and the token together.
    const failure = stale ? `Access data is missing or stale. ${SYNC_CTA}` : tokenValid(c) ? undefined : `Access token is missing or expired. ${SYNC_CTA}`;
    return [result('access_probe', failure, 'Access data and token are present.')];
  }
  return [
    result('access_probe', stale ? `Subscription has not been synchronized recently. ${SYNC_CTA}` : undefined, 'Subscription synchronized successfully.', {
      updated_at: isoTime(now - c.accessAgeMs),
      catalog: { backend_services: ['ai_gateway', 'duo_workflow_service'], add_ons: ['duo_enterprise'] },
    }),
    result('token_probe', tokenValid(c) ? undefined : `Access credentials expired. ${SYNC_CTA}`, 'Access credentials are valid.', {
      decode: true,
      expired: !tokenValid(c),
      expires_at: isoTime(claims.exp * 1000),
      created_at: isoTime(claims.iat * 1000),
      token: claims,
    }),
  ];
}

/**
 * duo_agent_platform_probe: a gRPC ListTools to the Duo Workflow Service with a Cloud Connector
 * token for the Agent Platform. It runs whether or not the platform is turned on (registry.rb
 * has no such condition); where the platform is off the token does not cover it and it fails.
 */
function agentPlatformProbe(c: Conditions, dws: string): ProbeResult {
  const error = railsDwsError(c, dws) ?? (c.agentPlatform ? undefined : '7:Permission denied for unit primitive duo_agent_platform.');
  const failure = error && `GitLab Duo Workflow Service at ${dws} is not operational.`;
  return { ...result('duo_agent_platform_probe', failure, `GitLab Duo Workflow Service at ${dws} is operational.`), errors: error ? [error] : [] };
}

/** The self-hosted set: ai_gateway_url_presence_probe, host_probe (the gateway), code_suggestions_license_probe. */
function selfHostedProbes(c: Conditions, ctx: SimContext): ProbeResult[] {
  const gateway = ctx.endpoints.aiGatewayUrl;
  return [
    result('ai_gateway_url_presence_probe', undefined, `Self-hosted AI gateway URL is set to ${gateway}.`),
    hostProbe(c, gateway, undefined),
    result('code_suggestions_license_probe', undefined, 'License includes access to Code Suggestions.'),
  ];
}

function defaultProbes(c: Conditions, ctx: SimContext, now: number, withEndToEnd: boolean): ProbeResult[] {
  const { customersPortalUrl, cloudConnectorUrl, duoWorkflowService } = ctx.endpoints;
  const probes = [
    licenseProbe(c, ctx, now),
    hostProbe(c, customersPortalUrl, hostProbeError(c, 'customers_portal')),
    hostProbe(c, cloudConnectorUrl, hostProbeError(c, 'cloud_connector')),
    ...accessAndToken(c, ctx, now),
  ];
  if (withEndToEnd) probes.push(endToEnd(c, endToEndError(c, ctx.slowDelayMs)));
  if (has(c.version, 'agentPlatformProbe')) probes.push(agentPlatformProbe(c, duoWorkflowService));
  return probes;
}

/** `Query.cloudConnectorStatus` for the release and deployment of the conditions. */
export function cloudConnectorStatus(ctx: SimContext, now: number) {
  const c = ctx.conditions();
  const set = probeSet(c);
  const probeResults =
    set === 'self_hosted'
      ? selfHostedProbes(c, ctx)
      : set === 'hybrid'
        ? // Hybrid: code completions are self-hosted here, so GitLab leaves out end_to_end_probe.
          [...defaultProbes(c, ctx, now, false), ...selfHostedProbes(c, ctx)]
        : defaultProbes(c, ctx, now, true);
  return {
    __typename: 'CloudConnectorStatus',
    success: probeResults.every((p) => p.success),
    probeResults,
  };
}
