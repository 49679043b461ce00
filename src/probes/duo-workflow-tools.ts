import { ProbeError } from '../errors.js';
import { credential, instanceUrl, needsInstance } from '../gitlab/availability.js';
import { API_PHASES, errorFor, parseBody, type ApiResponse } from '../gitlab/request.js';
import { requestWorkflowTools, workflowToolsResponse } from '../gitlab/rest.js';
import { defineProbe, type ProbeContext } from './types.js';

const PATH = '/api/v4/ai/duo_workflows/list_tools';

/**
 * Rails → Duo Workflow Service, from the GitLab server: `list_tools` makes Rails call the
 * service's gRPC `ListTools`. The exporter's own `duo_workflow_service` probe tests the same
 * service from this host; a difference between the two points at the GitLab nodes' network.
 */
export const duoWorkflowTools = defineProbe({
  name: 'duo_workflow_tools',
  group: 'exchange',
  proves: 'GitLab (Rails) reaches the Duo Workflow Service and lists its tools',
  defaultInterval: '10m',
  defaultTimeout: '30s',
  required: true,
  phases: API_PHASES,
  facts: ['gitlab_duo_http_status_code'],
  token: 'duo_user',
  availability: (instance) => needsInstance(instance, 'duo_user'),
  target: (instance) => (instance.url ? instanceUrl(instance, PATH).href : ''),
  async run(ctx: ProbeContext) {
    const res = await requestWorkflowTools(ctx, credential(ctx.instance, 'duo_user')!);
    ctx.record.fact('gitlab_duo_http_status_code', res.status);
    if (res.status !== 200) throw toolsFailure(res);
    const body = parseBody(res, workflowToolsResponse, 'a tool list ({tools:[...]})');
    ctx.record.note(`the Duo Workflow Service listed ${body.tools.length} tools`);
  },
});

function toolsFailure(res: ApiResponse): ProbeError {
  const said = res.gitlabMessage ? `: ${res.gitlabMessage}` : '';
  switch (res.status) {
    case 400:
      // Rails turns a failed gRPC call into bad_request! with the gRPC error text.
      return new ProbeError('grpc', `${res.where} answered 400: GitLab could not reach the Duo Workflow Service (check the GitLab nodes' outbound HTTPS/gRPC and proxy env)${said}`);
    case 404:
      return new ProbeError('requirement_not_met', `${res.where} answered 404: this GitLab has no list_tools endpoint (an older version) or the Duo Agent Platform is not available to this user${said}`);
    case 403:
      // The endpoint takes read_api/api, not ai_features (facts §6).
      return errorFor(res, 'list_tools needs the read_api or api scope besides ai_features');
    default:
      return errorFor(res);
  }
}
