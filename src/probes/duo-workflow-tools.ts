import { ProbeError } from '../core/errors.js';
import { credential, instanceUrl, needsInstance } from '../gitlab/availability.js';
import { API_PHASES, API_REASONS, errorFor, parseBody, type ApiResponse } from '../gitlab/request.js';
import { requestWorkflowTools, workflowToolsResponse } from '../gitlab/rest.js';
import { agentPlatformUnused, REQUIRED } from './shared/relevance.js';
import { defineProbe, type ProbeContext } from './types.js';

const PATH = '/api/v4/ai/duo_workflows/list_tools';

/**
 * Rails → Duo Workflow Service, from the GitLab server: `list_tools` (18.4+) makes Rails call the
 * service's gRPC `ListTools`. The exporter's own `duo_workflow_service` probe tests the same
 * service from this host; a difference between the two points at the GitLab nodes' network.
 * Required only where the Agent Platform is in use (docs/gitlab-compatibility.md). Its rate
 * limit (50/min per user) is shared with the IDE's direct_access: the 10 min default is gentle.
 */
export const duoWorkflowTools = defineProbe({
  name: 'duo_workflow_tools',
  group: 'exchange',
  proves: 'GitLab (Rails) reaches the Duo Workflow Service and lists its tools',
  defaultInterval: '10m',
  defaultTimeout: '30s',
  required: true,
  phases: API_PHASES,
  // `grpc`: Rails' call to the Duo Workflow Service failed (its 400).
  reasons: [...API_REASONS, 'requirement_not_met', 'grpc'],
  facts: ['gitlab_duo_http_status_code'],
  token: 'duo_user',
  // list_tools accepts api or read_api, not ai_features (ee/lib/api/ai/duo_workflows/workflows.rb).
  scopes: [{ token: 'duo_user', scope: 'read_api', accepted: ['read_api', 'api'] }],
  alerts: { failing: 'GitLabDuoExchangeProbeFailed' },
  advice: {
    default:
      'Let the GitLab nodes reach duo-workflow-svc.runway.gitlab.net:443 over HTTP/2; Ruby gRPC only reads the lower-case grpc_proxy, https_proxy and no_proxy variables.',
    requirement_not_met: 'This GitLab has no list_tools endpoint or the Agent Platform is not available to the user: upgrade GitLab, turn on composite identity, or disable this probe.',
  },
  availability: (instance) => needsInstance(instance, 'duo_user'),
  relevance: (env) => agentPlatformUnused(env) ?? REQUIRED,
  target: (instance) => (instance.url ? instanceUrl(instance, PATH).href : ''),
  async run(ctx: ProbeContext) {
    const res = await requestWorkflowTools(ctx, credential(ctx.instance, 'duo_user')!);
    ctx.record.fact('gitlab_duo_http_status_code', res.status);
    // 18.4-18.6 answer 404 while the Agent Platform's flags are off: where GitLab could not say
    // whether the platform is in use, that answers it, and there is nothing to check. GitLab's 404s
    // are JSON (not_found!, or Grape's answer for a route it lacks); a page is not GitLab's API.
    if (res.status === 404 && res.json !== undefined && ctx.environment.agentPlatform.inUse === undefined) {
      ctx.record.note(`${res.where} answered 404: the Agent Platform is not enabled for this user (feature flags off), so there is no Rails → Duo Workflow Service path to check`);
      return;
    }
    if (res.status !== 200) throw toolsFailure(res);
    // Protobuf JSON leaves out an empty repeated field: no tools comes back as `{}`.
    const body = parseBody(res, workflowToolsResponse, 'a tool list ({tools:[...]})');
    const count = body.tools?.length ?? 0;
    ctx.record.note(`the Duo Workflow Service listed ${count} tool${count === 1 ? '' : 's'}`);
  },
});

function toolsFailure(res: ApiResponse): ProbeError {
  const said = res.gitlabMessage ? `: ${res.gitlabMessage}` : '';
  switch (res.status) {
    case 400:
      // Rails turns any failed gRPC call into bad_request! with the gRPC error ("<code>:<details>").
      return new ProbeError('grpc', `${res.where} answered 400: ${grpcCause(res.gitlabMessage)}${said}`);
    case 404:
      if (res.json === undefined) return errorFor(res, "a page, not GitLab's JSON: no GitLab API at this URL, check the instance URL");
      return new ProbeError('requirement_not_met', `${res.where} answered 404: this GitLab has no list_tools endpoint (before 18.4) or the Agent Platform's feature flags are off (18.4-18.6)${said}`);
    case 403:
      // The endpoint takes read_api/api, not ai_features (facts §6).
      return errorFor(res, 'list_tools needs the read_api or api scope besides ai_features');
    default:
      return errorFor(res);
  }
}

/** What Rails' gRPC error code says about the call to the Duo Workflow Service. */
function grpcCause(message: string): string {
  const code = /^(?:400 Bad request - )?(\d{1,2}):/.exec(message)?.[1];
  switch (code) {
    case '14':
    case '4':
      return "GitLab could not reach the Duo Workflow Service (check the GitLab nodes' outbound HTTPS/gRPC, HTTP/2 and proxy env)";
    case '16':
    case '7':
      return "the Duo Workflow Service refused GitLab's Cloud Connector token (synchronise the subscription; see health_check's token_probe)";
    default:
      return 'the Duo Workflow Service answered GitLab with an error';
  }
}
