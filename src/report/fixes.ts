/**
 * Fix advice: one or two sentences per probe and failure reason, condensed from docs/runbook.md
 * (which has the commands and the detail). Looked up most specific first: probe + reason, then the
 * probe's kind of path + reason, then the probe's general advice, then the reason's.
 */
import type { FailureReason } from '../errors.js';
import type { TokenKind } from '../probes/types.js';

type Advice = Partial<Record<FailureReason | 'default', string>>;

const OUTBOUND_PROBES = new Set(['customers_portal', 'cloud_connector', 'duo_workflow_service', 'ai_gateway']);

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

// Completions go through Workhorse, not Rails: the classic failure is a proxy set for Rails only.
const WORKHORSE =
  'Give Workhorse the same proxy as Rails (gitlab_workhorse[\'env\']) and open outbound 443 to cloud.gitlab.com from every node; a 500 means Workhorse cannot reach the AI gateway.';

const PROBES: Readonly<Record<string, Advice>> = {
  customers_portal: {
    default: 'Open outbound HTTPS to customers.gitlab.com:443 from every GitLab node and this host, directly or through the proxy GitLab uses: activation and the daily subscription sync need it.',
  },
  cloud_connector: {
    default: 'Open outbound HTTPS to cloud.gitlab.com:443 from every GitLab node and this host, directly or through the proxy GitLab uses: Code Suggestions, Chat and the token sync need it.',
  },
  duo_workflow_service: {
    default: 'Allow HTTP/2 (ALPN h2) to duo-workflow-svc.runway.gitlab.net:443, through the proxy with CONNECT; it is not behind Cloudflare, so Cloudflare\u2019s ranges do not cover it.',
    http2_not_negotiated: 'A TLS-inspecting proxy or device answers with HTTP/1.1 only: exempt duo-workflow-svc.runway.gitlab.net from inspection so that HTTP/2 passes through.',
    grpc: 'HTTP/2 does not pass through intact: the proxy must tunnel (CONNECT) to duo-workflow-svc.runway.gitlab.net:443 without terminating TLS.',
  },
  ai_gateway: {
    default: 'Check the AI gateway: /monitoring/ready answers 503 when its models or Cloud Connector keys are unusable; its logs say which.',
  },
  instance_http2: {
    default: 'Fix the path from the exporter to the instance\u2019s external URL (load balancer, NGINX, certificate).',
    http2_not_negotiated:
      'Enable HTTP/2 on every TLS hop in front of GitLab (load balancer, external NGINX, Apache mod_http2) and keep nginx[\'http2_enabled\'] on in gitlab.rb.',
  },
  websocket_cable: {
    default: 'Every proxy in front of GitLab must pass the WebSocket upgrade on /-/cable and keep the Host header.',
    websocket_upgrade:
      'Every proxy in front of GitLab must pass Connection: upgrade and Upgrade: websocket on /-/cable and keep the Host header; a 404 means the Origin is refused (list extra host names in action_cable_allowed_origins).',
    websocket_protocol: 'Make sure /-/cable reaches GitLab Workhorse and not another service, and that nothing rewrites WebSocket frames.',
    auth: 'Action Cable refused the Duo user\u2019s token: create a new token for the exporter\u2019s Duo user and update duo_user_token.',
  },
  duo_chat: {
    default: 'Ask Duo Chat /help in the web UI as the Duo user: the message names the step that failed (subscription, question, stream, answer).',
    websocket_protocol:
      'The answer does not stream back over /-/cable: every proxy in front of GitLab must relay WebSocket frames as they come (no response buffering or inspection of upgraded connections) and keep idle WebSockets open longer than an answer takes (nginx proxy_read_timeout, Apache Timeout / ProxyTimeout of 60 s or more).',
    forbidden: 'GitLab refused the question: give the Duo user a seat that includes Duo Chat (or Duo Core), and a token with ai_features (or api) and read_api.',
    rate_limited: 'The Duo user spent its ai_action budget (160 per 8 hours by default): lengthen the duo_chat interval, use a dedicated probe user, or raise ai_action_api_rate_limit.',
    timeout: 'The question was echoed but not answered: check that Sidekiq runs and processes the llm queue (Llm::CompletionWorker) and is not far behind.',
    unexpected_response: 'Duo Chat answered with an error: the message quotes it; check the Sidekiq and llm logs for that request id.',
    auth: 'GitLab refused the Duo user\u2019s token on /-/cable or on the subscription: create a new token for the exporter\u2019s Duo user and update duo_user_token.',
  },
  license: {
    default: 'Activate the subscription with an activation code (online cloud licence), let Sidekiq reach customers.gitlab.com for the daily sync, then synchronise it in Admin > Subscription.',
  },
  health_check: {
    default: 'One of GitLab\u2019s own checks fails (the message names it): fix it as its runbook section says, then run the health check again in Admin > GitLab Duo.',
    timeout: 'GitLab\u2019s health check makes several slow calls from the server: give the health_check probe a timeout of at least 20 s.',
    unexpected_response: 'The health check API (cloudConnectorStatus) needs GitLab 17.3 or later: upgrade GitLab or disable this probe.',
  },
  code_suggestions: {
    default: WORKHORSE,
    http_status: WORKHORSE,
    timeout: WORKHORSE,
    requirement_not_met: 'Set a default GitLab Duo group in the Duo user\u2019s preferences (Code Suggestions needs one when the user has seats in several groups).',
    unexpected_response: 'The model answered with no text: check the AI gateway and model (for Duo Self-Hosted, the model server\u2019s logs).',
  },
  duo_workflow_tools: {
    default:
      'Let the GitLab nodes reach duo-workflow-svc.runway.gitlab.net:443 over HTTP/2; Ruby gRPC only reads the lower-case grpc_proxy, https_proxy and no_proxy variables.',
    requirement_not_met: 'This GitLab has no list_tools endpoint or the Agent Platform is not available to the user: upgrade GitLab, turn on composite identity, or disable this probe.',
  },
  agent_platform_client: {
    default:
      'Let this host reach the Duo Workflow Service URL GitLab returns (duo-workflow-svc.runway.gitlab.net:443 or your own) over HTTP/2, through the proxy with CONNECT, as IDEs must.',
    http_status:
      'GitLab could not get a token from the Duo Workflow Service (its 400 names the gRPC code): 14 means the GitLab nodes cannot reach it (outbound gRPC, proxy env), 16 or 7 that it refuses the instance\u2019s Cloud Connector token (synchronise the subscription).',
    grpc: 'The Duo Workflow Service refused the token GitLab minted: check that GitLab and the service agree (self-hosted: the same GitLab instance and Cloud Connector keys; the service\u2019s clock), and that the URL GitLab returns is the service GitLab asked for its token.',
    http2_not_negotiated: 'A TLS-inspecting proxy or device answers with HTTP/1.1 only: exempt the Duo Workflow Service host from inspection so that HTTP/2 passes through.',
    requirement_not_met: 'Turn on the Duo Agent Platform for the token\u2019s user (before 18.7 the duo_workflow / duo_agentic_chat feature flags), or disable this probe.',
  },
  instance_settings: {
    default: 'Turn Silent Mode off and GitLab Duo on (availability default_on) in the Admin area, as the message says.',
  },
  composite_identity: {
    default: 'In Admin > GitLab Duo, use Turn on composite identity (it creates the duo-developer service account), and unblock that account if it is blocked.',
  },
  version: {
    default: 'Upgrade GitLab to the configured minimum (17.2 by default) or later, or lower thresholds.min_version if you accept the older version.',
  },
  exporter_tokens: {
    default: 'Give the exporter tokens GitLab accepts, with the scopes of docs/deployment.md#tokens; the message names the token and what is wrong with it.',
    auth: 'The token the message names was refused (expired, revoked or unknown) or its file could not be read: create a new token with the same scopes for the same user and write it to the token file.',
    forbidden: 'GitLab refuses API access to the token\u2019s user (blocked, deactivated, or terms not accepted): unblock the user in Admin > Users, or use another dedicated user.',
    requirement_not_met:
      'Create a new token with the scopes the message names (admin: read_api + admin_mode; Duo user: ai_features + read_api) and replace the token file: scopes cannot be added to an existing token.',
  },
  proxy_env: {
    default:
      'Set the same proxy variables, in lower case too, in gitlab_rails[\'env\'] and gitlab_workhorse[\'env\'] in /etc/gitlab/gitlab.rb on every node, run gitlab-ctl reconfigure, and give the exporter the same proxy.',
    internal: 'Let the exporter\u2019s user read the env folders, or point proxy_env.rails_env_dir and proxy_env.workhorse_env_dir at the right ones.',
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
  websocket_upgrade: PROBES.websocket_cable!.websocket_upgrade!,
  websocket_protocol: PROBES.websocket_cable!.websocket_protocol!,
  auth: 'Replace the token the probe uses with a new one that has the right scopes.',
  forbidden: 'Give the token\u2019s user the rights the probe needs (administrator, GitLab Duo seat).',
  rate_limited: 'Run the probe less often, or give the exporter its own user; the probe honours Retry-After.',
  unexpected_response:
    'Something answered with content the probe does not expect (a login or proxy error page, an older GitLab): the message says what came back.',
  requirement_not_met: 'Change the setting the message names.',
  internal: 'Please report it with the exporter\u2019s debug log (--log.level=debug).',
};

export function fixFor(probe: string, reason: FailureReason | undefined, token?: TokenKind): string {
  const own = PROBES[probe];
  const path = OUTBOUND_PROBES.has(probe) ? OUTBOUND : INBOUND;
  if (reason === undefined) return own?.default ?? 'See the probe\u2019s documentation.';
  return (
    own?.[reason] ??
    (token ? TOKEN_FIXES[token][reason] : undefined) ??
    (PATH_REASONS.has(reason) ? path[reason] : undefined) ??
    own?.default ??
    BY_REASON[reason]
  );
}
