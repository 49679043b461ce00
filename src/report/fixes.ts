/**
 * Fix advice: one or two sentences per probe and failure reason, condensed from docs/runbook.md
 * (which has the commands and the detail). Looked up most specific first: probe + reason (the
 * probe's own `advice`, in its file), then its token + reason, then the probe's kind of path +
 * reason, then the probe's general advice, then the reason's.
 */
import type { FailureReason } from '../core/errors.js';
import type { TokenKind } from '../core/run.js';
import { findProbe } from '../probes/index.js';
import { websocketCable } from '../probes/websocket-cable.js';

type Advice = Partial<Record<FailureReason | 'default', string>>;

/** Outbound HTTPS from this host to a GitLab (or AI gateway) endpoint. */
const OUTBOUND: Advice = {
  dns: 'Make the host resolvable from the exporter\u2019s host, or set the proxy GitLab uses (HTTPS_PROXY or the config\u2019s proxy block) so that the proxy resolves it.',
  connect:
    'Allow outbound TCP 443 to this host from the exporter\u2019s host and every GitLab Rails, Sidekiq and Workhorse node (Cloudflare\u2019s ranges for customers.gitlab.com and cloud.gitlab.com), or send it through the proxy GitLab uses.',
  timeout:
    'Packets are probably dropped: open outbound TCP 443 to this host or set the proxy GitLab uses. If the run stopped in first_byte, the proxy or the upstream is slow.',
  tls: 'If a proxy inspects TLS, add its CA to the exporter\u2019s tls.ca_file and to GitLab\u2019s trusted certificates, or exempt this host from inspection.',
  proxy: 'Let the proxy allow CONNECT to this host on port 443, and check the proxy address and credentials the exporter uses.',
};

/** Requests to the instance's own external URL (HTTPS, WebSocket, REST and GraphQL). */
const INBOUND: Advice = {
  dns: 'Make the instance\u2019s host name resolve from the exporter\u2019s host, or pin it with the config\u2019s resolve: block.',
  connect:
    'Fix the path from the exporter\u2019s host to the load balancer or NGINX in front of GitLab; the external URL usually must not go through the outbound proxy (add it to NO_PROXY).',
  timeout:
    'Check the path from the exporter\u2019s host to the instance (firewall, load balancer, NO_PROXY) and whether GitLab itself is overloaded; raise the probe\u2019s timeout if GitLab is merely slow.',
  tls: 'Renew the instance\u2019s certificate, or trust its private CA with the exporter\u2019s tls.ca_file.',
  proxy: 'The request to your own instance went through the outbound proxy, which refused it: add the GitLab host to NO_PROXY.',
  http_status: 'Something in front of GitLab, or GitLab itself, answered with an error status; the message names it, and GitLab\u2019s production log has the detail.',
};

const TOKEN_FIXES: Readonly<Record<TokenKind, Advice>> = {
  admin: {
    auth: 'Create a new personal access token of an administrator with the read_api and admin_mode scopes, and update admin_token.',
    forbidden: 'The admin token must belong to an administrator and, with Admin Mode on, carry the admin_mode scope.',
  },
  duo_user: {
    auth: 'Create a new token with the ai_features and read_api scopes for the exporter\u2019s Duo user, and update duo_user_token.',
    forbidden: 'Assign a GitLab Duo seat to the exporter\u2019s Duo user, and check that GitLab Duo is on for it and its token has ai_features.',
    rate_limited: 'GitLab allows 60 completions per minute per user: give the exporter a dedicated Duo user, or run the probe less often.',
  },
  agent_platform: {
    auth: 'Create a new personal access token with the api scope for a user who may use the Duo Agent Platform, and update agent_platform_token.',
    forbidden: 'direct_access needs the api scope (ai_features and read_api are not enough): give agent_platform_token a token with api.',
    rate_limited: 'direct_access allows 50 calls per minute per user, shared with the IDEs of the same user: give the exporter its own user.',
  },
};

/** Reasons where the network path matters more than the probe's general advice. */
const PATH_REASONS = new Set<FailureReason>(['dns', 'connect', 'timeout', 'tls', 'proxy', 'http_status']);

/** Used when nothing more specific is known. */
const BY_REASON: Readonly<Record<FailureReason, string>> = {
  dns: OUTBOUND.dns!,
  connect: 'Open the network path (firewall, proxy) from the exporter\u2019s host to the target.',
  timeout: 'Find the phase where the time went (the phases above): the firewall, the proxy or the server; raise the probe\u2019s timeout only if the path is merely slow.',
  tls: 'Renew or trust the certificate (tls.ca_file), or exempt the host from TLS inspection.',
  proxy: OUTBOUND.proxy!,
  http_status: 'The message names the status and who answered; fix that component.',
  http2_not_negotiated: 'Enable HTTP/2 on every TLS hop, or exempt the host from TLS inspection.',
  grpc: 'Let HTTP/2 pass through unchanged: tunnel it through the proxy with CONNECT, no TLS interception.',
  websocket_upgrade: websocketCable.advice.websocket_upgrade!,
  websocket_protocol: websocketCable.advice.websocket_protocol!,
  auth: 'Replace the token the probe uses with a new one that has the right scopes.',
  forbidden: 'Give the token\u2019s user the rights the probe needs (administrator, GitLab Duo seat).',
  rate_limited: 'Run the probe less often, or give the exporter its own user; the probe honours Retry-After.',
  unexpected_response:
    'Something answered with content the probe does not expect (a login or proxy error page, an older GitLab): the message says what came back.',
  requirement_not_met: 'Change the setting the message names.',
  internal: 'Please report it with the exporter\u2019s debug log (--log.level=debug).',
};

export function fixFor(probe: string, reason: FailureReason | undefined, token?: TokenKind): string {
  const definition = findProbe(probe);
  const own = definition?.advice;
  // Outbound probes go from this host to a host outside; every other kind (the node's own files
  // included) gets the advice for the instance's URL.
  const path = definition?.group === 'network' ? OUTBOUND : INBOUND;
  if (reason === undefined) return own?.default ?? 'See the probe\u2019s documentation.';
  return (
    own?.[reason] ??
    (token ? TOKEN_FIXES[token][reason] : undefined) ??
    (PATH_REASONS.has(reason) ? path[reason] : undefined) ??
    own?.default ??
    BY_REASON[reason]
  );
}
