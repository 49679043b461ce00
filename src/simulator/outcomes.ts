/**
 * What each outbound call made by the simulated GitLab meets under the current conditions. One
 * place decides, so the REST endpoints and GitLab's own health check cannot disagree.
 * Error texts imitate what Ruby, Workhorse or the AI gateway print; where the real text is not
 * confirmed in the facts file the comment says so.
 */
import type { Conditions } from './scenarios.js';
import type { SimUser } from './world.js';
import { duoEnabled, tokenValid } from './world.js';

/** GitLab's end_to_end_probe read timeout (facts §1). */
export const END_TO_END_TIMEOUT_MS = 3000;

const MONOLITH = { 'x-gitlab-error-origin': 'monolith' } as const;

export type CompletionOutcome =
  | { readonly kind: 'ok'; readonly delayMs: number }
  | { readonly kind: 'error'; readonly status: number; readonly body: unknown; readonly headers: Record<string, string> };

function error(status: number, body: unknown, headers: Record<string, string> = {}): CompletionOutcome {
  return { kind: 'error', status, body, headers };
}

/** `POST /api/v4/code_suggestions/completions` for an authenticated user (facts §3). */
export function completionOutcome(c: Conditions, user: SimUser, slowDelayMs: number): CompletionOutcome {
  const isDuoUser = user.kind === 'duo_user';
  // Monolith checks first: permission, rate limit, default namespace.
  if (!duoEnabled(c) || (isDuoUser && !c.duoUserSeat)) return error(401, { message: '401 Unauthorized' }, MONOLITH);
  if (isDuoUser && c.duoUserRateLimited) {
    return error(
      429,
      { message: 'This endpoint has been requested too many times. Try again later.' },
      { ...MONOLITH, 'retry-after': '60' },
    );
  }
  if (isDuoUser && !c.duoUserDefaultGroup) {
    return error(
      422,
      { error: 'missing_default_duo_group', message: 'No default GitLab Duo namespace is set. Set one in your preferences.' },
      MONOLITH,
    );
  }
  // Then Workhorse proxies to the AI gateway: GitLab's at cloud.gitlab.com/ai, or the instance's
  // own for self-hosted and hybrid setups (code completions on self-hosted models here). Silent
  // Mode blocks outbound POST; the status the client then sees is not confirmed, 500 is what an
  // upstream failure gives.
  if (c.silentMode || !gatewayReachable(c) || !c.workhorseReachesAiGateway) return error(500, 'Internal Server Error\n');
  // An expired Cloud Connector token: GitLab's gateway refuses it (no monolith header). A
  // self-hosted gateway with custom models does not ask for one.
  if (c.deployment === 'cloud' && !tokenValid(c)) return error(401, { error: 'Forbidden by auth provider' });
  return { kind: 'ok', delayMs: c.aiGatewaySlow ? slowDelayMs : 0 };
}

/** The error GitLab's end_to_end_probe reports, or undefined when its test completion works. */
export function endToEndError(c: Conditions, slowDelayMs: number): string | undefined {
  if (c.silentMode) return 'only get, head, options, and trace methods are allowed in silent mode';
  if (!gatewayReachable(c)) return 'Connection reset by peer';
  if (!c.railsReachesCloudConnector) return RAILS_PROXY_REFUSAL;
  // Unconfirmed text: with Duo never_on no user may use Code Suggestions; the gateway refuses.
  if (!duoEnabled(c)) return 'AI Gateway returned code 403: {"detail":"Unauthorized to access code suggestions"}';
  if (!tokenValid(c)) return 'AI Gateway returned code 401: {"error":"Forbidden by auth provider"}';
  if (c.aiGatewaySlow && slowDelayMs >= END_TO_END_TIMEOUT_MS) return 'Net::ReadTimeout with #<TCPSocket:(closed)>';
  return undefined;
}

/** Whether the AI gateway that serves code completions here answers. */
export function gatewayReachable(c: Conditions): boolean {
  return c.deployment === 'cloud' ? c.cloudConnectorUp : c.aiGatewayUp;
}

/** What Net::HTTP raises when a proxy refuses CONNECT. */
const RAILS_PROXY_REFUSAL = '403 "Forbidden"';

/** Error of GitLab's host_probe (Gitlab::HTTP.head) for each host, or undefined when reachable. */
export function hostProbeError(c: Conditions, target: 'customers_portal' | 'cloud_connector'): string | undefined {
  if (target === 'customers_portal') return c.customersPortalUp ? undefined : 'Connection reset by peer';
  if (!c.cloudConnectorUp) return 'Connection reset by peer';
  return c.railsReachesCloudConnector ? undefined : RAILS_PROXY_REFUSAL;
}

/**
 * Error of Rails' gRPC `ListTools` call to the Duo Workflow Service (list_tools endpoint and
 * duo_agent_platform_probe), as Ruby gRPC formats it ("<code>:<details>"), or undefined.
 */
export function railsDwsError(c: Conditions, dwsHostPort: string): string | undefined {
  if (c.dwsAlpn !== 'h2') {
    const port = dwsHostPort.slice(dwsHostPort.lastIndexOf(':') + 1);
    // gRPC C-core's message when the peer did not select h2.
    return `14:failed to connect to all addresses; last error: UNAVAILABLE: ipv4:127.0.0.1:${port}: Cannot check peer: missing selected ALPN property.`;
  }
  if (!tokenValid(c)) return '16:Forbidden by auth provider.';
  return undefined;
}
