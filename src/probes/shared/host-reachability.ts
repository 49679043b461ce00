import { DEFAULT_ENDPOINTS } from '../../config/defaults.js';
import { ALPN_H2_REASONS } from '../../net/connect.js';
import { REQUEST_REASONS, timedRequest } from '../../net/http-request.js';
import { defineProbe, type ProbeAdvice, type ProbeContext, type ProbeDefinition } from '../types.js';
import { recordHttpFacts } from './http-facts.js';
import { noteInterception, TLS_FACTS } from './tls-facts.js';
import { cloudHostsUnused, REQUIRED } from './relevance.js';

type CloudEndpoint = 'customers_portal' | 'cloud_connector';

/**
 * GitLab's own `host_probe`, from the exporter's vantage point: one HEAD to the host; any HTTP
 * answer proves the path (the status is still exported), only a network failure fails.
 */
export function hostReachabilityProbe<const Name extends CloudEndpoint>(name: Name, host: string, advice: ProbeAdvice): ProbeDefinition<Name> {
  return defineProbe({
    name,
    group: 'network',
    proves: `outbound HTTPS from this host to ${host}:443 works, through the proxy if one is set`,
    defaultInterval: '30s',
    defaultTimeout: '10s',
    required: true,
    phases: ['dns', 'connect', 'proxy_connect', 'tls', 'first_byte', 'transfer'],
    facts: ['gitlab_duo_http_status_code', 'gitlab_duo_http_version', ...TLS_FACTS, 'gitlab_duo_cloudflare_addresses'],
    // Any status passes; it offers h2 (to report the version), so a refused ALPN is HTTP/2's verdict.
    reasons: [...REQUEST_REASONS, ...ALPN_H2_REASONS],
    alerts: { failing: 'GitLabDuoNetworkProbeFailed' },
    advice,
    availability: () => ({ enabled: true }),
    relevance: (env) => cloudHostsUnused(env, host) ?? REQUIRED,
    target: (instance) => instance.endpoints[name],
    async run(ctx: ProbeContext) {
      const url = new URL(ctx.instance.endpoints[name]);
      const response = await timedRequest({ url, method: 'HEAD', alpn: ['h2', 'http/1.1'] }, ctx);
      recordHttpFacts(ctx.record, response);
      recordCloudflare(ctx, url, DEFAULT_ENDPOINTS[name], response.connection.resolvedAddresses);
      // First, so that it is the message of a passing run: the path works, but not for gRPC.
      noteInterception(ctx.record, url.hostname, response.connection);
      ctx.record.note(`HEAD ${url.origin}/ answered ${response.status} over HTTP/${response.httpVersion}`);
    },
  });
}

/**
 * GitLab says its hosts are fronted by Cloudflare, so firewalls must allow Cloudflare's ranges.
 * Only meaningful for GitLab's own host, resolved by us (a proxy resolves for itself).
 */
function recordCloudflare(ctx: ProbeContext, url: URL, defaultUrl: string, addresses: readonly string[]): void {
  if (url.origin !== new URL(defaultUrl).origin || addresses.length === 0) return;
  const inside = addresses.every((address) => ctx.net.cloudflare.contains(address));
  ctx.record.fact('gitlab_duo_cloudflare_addresses', inside ? 1 : 0);
}
