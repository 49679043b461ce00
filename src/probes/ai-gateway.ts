import { ProbeError } from '../core/errors.js';
import { REQUEST_REASONS, timedRequest } from '../net/http-request.js';
import { recordHttpFacts } from './shared/http-facts.js';
import { TLS_FACTS } from './shared/tls-facts.js';
import { defineProbe, type ProbeContext } from './types.js';

/**
 * A self-hosted AI gateway (Duo Self-Hosted or hybrid): `/monitoring/healthz`, the check GitLab's
 * own troubleshooting and its `gitlab:duo:verify_self_hosted_setup` task use. Not
 * `/monitoring/ready`: it calls the vendors' models (a billable completion each time) and answers
 * 5xx on an air-gapped gateway that serves its own models fine (docs/gitlab-compatibility.md).
 */
export const aiGateway = defineProbe({
  name: 'ai_gateway',
  group: 'network',
  proves: 'the self-hosted AI gateway answers its health check (/monitoring/healthz)',
  defaultInterval: '60s',
  defaultTimeout: '10s',
  required: true,
  phases: ['dns', 'connect', 'proxy_connect', 'tls', 'first_byte', 'transfer'],
  facts: ['gitlab_duo_http_status_code', 'gitlab_duo_http_version', ...TLS_FACTS],
  reasons: [...REQUEST_REASONS, 'http_status'],
  alerts: { failing: 'GitLabDuoNetworkProbeFailed' },
  advice: {
    default: 'Check the AI gateway: /monitoring/ready answers 503 when its models or Cloud Connector keys are unusable; its logs say which.',
  },
  enablingHint: 'Set endpoints.ai_gateway to your self-hosted AI gateway\u2019s URL (Duo Self-Hosted or hybrid setups only).',
  availability: (instance) =>
    instance.endpoints.ai_gateway ? { enabled: true } : { enabled: false, why: 'endpoints.ai_gateway is not set (only Duo Self-Hosted or hybrid setups have one)' },
  // Configured for a cloud profile, it is checked and reported, but Duo does not depend on it.
  relevance: (env) =>
    env.deployment === 'cloud' ? { use: 'optional', why: `deployment cloud (${env.deploymentWhy}): checked and reported, not counted` } : { use: 'required' },
  target: (instance) => instance.endpoints.ai_gateway ?? '',
  async run(ctx: ProbeContext) {
    const base = new URL(ctx.instance.endpoints.ai_gateway!);
    const url = new URL(base.href);
    url.pathname = `${base.pathname.replace(/\/$/, '')}/monitoring/healthz`;
    const response = await timedRequest({ url, maxBodyBytes: 64 * 1024 }, ctx);
    recordHttpFacts(ctx.record, response);
    if (response.status !== 200) throw new ProbeError('http_status', `GET ${url.pathname} answered ${response.status}; the AI gateway is unhealthy`);
    ctx.record.note(`GET ${url.pathname} answered 200`);
  },
});
