import { ProbeError } from '../errors.js';
import { timedRequest } from '../net/http-request.js';
import { recordHttpFacts } from './shared/http-facts.js';
import { defineProbe, type ProbeContext } from './types.js';

/**
 * A self-hosted AI gateway (Duo Self-Hosted or hybrid): `/monitoring/healthz` proves the process
 * answers, `/monitoring/ready` that its models and Cloud Connector keys are usable (503 if not).
 * Phases add up over the two requests.
 */
export const aiGateway = defineProbe({
  name: 'ai_gateway',
  group: 'network',
  proves: 'the self-hosted AI gateway answers its health and readiness checks',
  defaultInterval: '60s',
  defaultTimeout: '10s',
  required: true,
  phases: ['dns', 'connect', 'proxy_connect', 'tls', 'first_byte', 'transfer'],
  facts: ['gitlab_duo_http_status_code', 'gitlab_duo_http_version', 'gitlab_duo_tls_cert_expiry_timestamp_seconds'],
  availability: (instance) =>
    instance.endpoints.ai_gateway ? { enabled: true } : { enabled: false, why: 'endpoints.ai_gateway is not set (only Duo Self-Hosted or hybrid setups have one)' },
  target: (instance) => instance.endpoints.ai_gateway ?? '',
  async run(ctx: ProbeContext) {
    const base = ctx.instance.endpoints.ai_gateway!;
    for (const path of ['/monitoring/healthz', '/monitoring/ready']) {
      const url = new URL(path, base.endsWith('/') ? base : `${base}/`);
      url.pathname = `${new URL(base).pathname.replace(/\/$/, '')}${path}`;
      const response = await timedRequest({ url, maxBodyBytes: 64 * 1024 }, ctx);
      recordHttpFacts(ctx.record, response);
      if (response.status !== 200) {
        throw new ProbeError('http_status', `GET ${url.pathname} answered ${response.status}; the AI gateway is ${path.endsWith('ready') ? 'not ready' : 'unhealthy'}`);
      }
    }
    ctx.record.note('healthz and ready both answered 200');
  },
});
