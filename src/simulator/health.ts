import { endToEndError, hostProbeError, railsDwsError } from './outcomes.js';
import type { SimContext } from './world.js';
import { currentLicense, isoTime, serviceTokenClaims, tokenValid } from './world.js';

/** One `CloudConnectorProbeResult` (facts §1). */
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

function hostOf(url: string): string {
  return new URL(url).hostname;
}

/**
 * `Query.cloudConnectorStatus` for the default probe set of GitLab 18.9 (registry.rb), in order.
 * The two host_probe results share a name and differ by message, as in GitLab.
 */
export function cloudConnectorStatus(ctx: SimContext, now: number) {
  const c = ctx.conditions();
  const { customersPortalUrl, cloudConnectorUrl, duoWorkflowService } = ctx.endpoints;
  const license = currentLicense(c, now);
  const claims = serviceTokenClaims(c, ctx.instanceId, now);
  const hostProbe = (url: string, target: 'customers_portal' | 'cloud_connector') => {
    const error = hostProbeError(c, target);
    const host = hostOf(url);
    return result('host_probe', error && `${host} connection failed: ${error}.\n\n${NETWORK_CTA}`, `${host} reachable.`);
  };
  const e2e = endToEndError(c, ctx.slowDelayMs);
  const dws = railsDwsError(c, duoWorkflowService);
  const probeResults: ProbeResult[] = [
    result(
      'license_probe',
      c.licenseType === 'online_cloud'
        ? undefined
        : 'Subscription for this instance cannot be synchronized. Contact GitLab customer support to upgrade your license.',
      'Subscription can be synchronized.',
      { instance_id: ctx.instanceId, gitlab_version: c.version, license: { plan: license.plan, type: license.type, expires_at: license.expiresAt, trial: false } },
    ),
    hostProbe(customersPortalUrl, 'customers_portal'),
    hostProbe(cloudConnectorUrl, 'cloud_connector'),
    result(
      'access_probe',
      c.accessAgeMs > STALE_PERIOD_MS ? `Subscription has not been synchronized recently. ${SYNC_CTA}` : undefined,
      'Subscription synchronized successfully.',
      { updated_at: isoTime(now - c.accessAgeMs), catalog: { backend_services: ['ai_gateway', 'duo_workflow_service'], add_ons: ['duo_enterprise'] } },
    ),
    result('token_probe', tokenValid(c) ? undefined : `Access credentials expired. ${SYNC_CTA}`, 'Access credentials are valid.', {
      decode: true,
      expired: !tokenValid(c),
      expires_at: isoTime(claims.exp * 1000),
      created_at: isoTime(claims.iat * 1000),
      token: claims,
    }),
    result(
      'end_to_end_probe',
      e2e && `Authentication with the AI gateway services failed: ${e2e}`,
      'Authentication with the AI gateway services succeeded.',
    ),
    result('duo_agent_platform_probe', dws, `GitLab Duo Workflow Service at ${duoWorkflowService} is operational.`),
  ];
  return {
    __typename: 'CloudConnectorStatus',
    success: probeResults.every((p) => p.success),
    probeResults,
  };
}
