import { ProbeError } from '../core/errors.js';
import { ALPN_H2_REASONS } from '../net/connect.js';
import { BodyTooLargeError, REQUEST_REASONS, timedRequest, type TimedResponse } from '../net/http-request.js';
import { instanceUrl, needsInstance } from '../gitlab/availability.js';
import { recordHttpFacts } from './shared/http-facts.js';
import { TLS_FACTS } from './shared/tls-facts.js';
import { defineProbe, type ProbeContext } from './types.js';

// Any status proves a completed HTTP/2 exchange; without a token this answers a small 401 JSON.
const PATH = '/api/v4/metadata';

/**
 * GitLab's Duo docs: "Ensure HTTP/2 protocol is not downgraded to HTTP/1.1", under the inbound
 * `/-/cable` endpoint. Offers h2 and http/1.1 like a browser or IDE would, and fails unless the
 * server side picks h2 and an HTTP/2 request then completes. No token: what matters is the
 * protocol, not the answer. Optional: nothing in GitLab's source fails over HTTP/1.1 on this hop
 * (both WebSockets upgrade over HTTP/1.1; docs/gitlab-compatibility.md), so it reports, not pages.
 */
export const instanceHttp2 = defineProbe({
  name: 'instance_http2',
  group: 'inbound',
  proves: "the instance's external URL negotiates HTTP/2 (ALPN h2) and completes an HTTP/2 request",
  defaultInterval: '60s',
  defaultTimeout: '10s',
  required: false,
  phases: ['dns', 'connect', 'proxy_connect', 'tls', 'first_byte', 'transfer'],
  facts: ['gitlab_duo_http_version', 'gitlab_duo_http_status_code', ...TLS_FACTS],
  // `unexpected_response` only for a body past its cap: any other broken request is the verdict.
  reasons: [...REQUEST_REASONS, ...ALPN_H2_REASONS],
  alerts: { failing: 'GitLabDuoInstanceUnreachable', byReason: { http2_not_negotiated: 'GitLabDuoHTTP2Downgraded' } },
  advice: {
    default: 'Fix the path from the exporter to the instance\u2019s external URL (load balancer, NGINX, certificate).',
    http2_not_negotiated:
      'Enable HTTP/2 on every TLS hop in front of GitLab (load balancer, external NGINX, Apache mod_http2) and keep nginx[\'http2_enabled\'] on in gitlab.rb.',
  },
  availability: (instance) => needsInstance(instance),
  relevance: () => ({
    use: 'optional',
    why: "GitLab's docs ask that HTTP/2 not be downgraded, but nothing in GitLab fails over HTTP/1.1 on this hop: a recommendation, not counted",
  }),
  target: (instance) => (instance.url ? instanceUrl(instance, PATH).href : ''),
  async run(ctx: ProbeContext) {
    const url = instanceUrl(ctx.instance, PATH);
    if (url.protocol !== 'https:') {
      throw new ProbeError('http2_not_negotiated', `${url.origin} is plain HTTP; HTTP/2 is negotiated with TLS ALPN, so clients get HTTP/1.1`);
    }
    const response = await requestOverH2(url, ctx);
    recordHttpFacts(ctx.record, response);
    if (response.httpVersion !== '2') {
      const alpn = response.connection.alpn || 'none';
      throw new ProbeError(
        'http2_not_negotiated',
        `${url.host} chose ALPN ${alpn} when offered h2,http/1.1: something in front of GitLab (load balancer, reverse proxy) downgrades to HTTP/1.1`,
      );
    }
    ctx.record.note(`GET ${url.pathname} completed over HTTP/2 with status ${response.status}`);
  },
});

/**
 * Connection failures keep their own reasons (dns, connect, tls, proxy, timeout); a request
 * that breaks once the connection is up (GOAWAY, a protocol error) means HTTP/2 does not work.
 */
async function requestOverH2(url: URL, ctx: ProbeContext): Promise<TimedResponse> {
  try {
    return await timedRequest({ url, method: 'GET', alpn: ['h2', 'http/1.1'] }, ctx);
  } catch (err) {
    // A body past the cap came over a working HTTP/2 exchange: that is no downgrade.
    if (err instanceof ProbeError && err.reason === 'unexpected_response' && !(err instanceof BodyTooLargeError)) {
      throw new ProbeError('http2_not_negotiated', `the HTTP/2 request did not complete: ${err.message}`, { cause: err });
    }
    throw err;
  }
}
