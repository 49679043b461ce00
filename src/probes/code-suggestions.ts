import { ProbeError } from '../core/errors.js';
import { credential, instanceUrl, needsInstance } from '../gitlab/availability.js';
import { API_PHASES, API_REASONS, errorFor, header, parseBody, type ApiResponse } from '../gitlab/request.js';
import { completionResponse, requestCompletion } from '../gitlab/rest.js';
import { defineProbe, type ProbeContext } from './types.js';

const PATH = '/api/v4/code_suggestions/completions';

// Completions go through Workhorse, not Rails: the classic failure is a proxy set for Rails only.
const WORKHORSE =
  'Give Workhorse the same proxy as Rails (gitlab_workhorse[\'env\']) and open outbound 443 to cloud.gitlab.com from every node; a 500 means Workhorse cannot reach the AI gateway.';

/**
 * A real completion as a Duo-seated user, the way an IDE asks for one: instance → Workhorse →
 * AI gateway → model. Its duration is the user-facing latency SLI. Completions are rate limited
 * (60/min/user) and billable, so the default is every 5 min and a 429's Retry-After is honoured.
 */
export const codeSuggestions = defineProbe({
  name: 'code_suggestions',
  group: 'exchange',
  proves: 'Code Suggestions works end to end for a Duo user: GitLab, Workhorse, the AI gateway and the model answer a completion',
  defaultInterval: '5m',
  defaultTimeout: '30s',
  required: true,
  phases: API_PHASES,
  reasons: [...API_REASONS, 'requirement_not_met'],
  facts: ['gitlab_duo_http_status_code'],
  token: 'duo_user',
  // The completions POST accepts ai_features or api, not read_api (ee/lib/api/code_suggestions.rb:15).
  scopes: [{ token: 'duo_user', scope: 'ai_features', accepted: ['ai_features', 'api'] }],
  alerts: { failing: 'GitLabDuoExchangeProbeFailed' },
  advice: {
    default: WORKHORSE,
    http_status: WORKHORSE,
    timeout: WORKHORSE,
    requirement_not_met: 'Set a default GitLab Duo group in the Duo user\u2019s preferences (Code Suggestions needs one when the user has seats in several groups).',
    unexpected_response: 'The model answered with no text: check the AI gateway and model (for Duo Self-Hosted, the model server\u2019s logs).',
  },
  availability: (instance) => needsInstance(instance, 'duo_user'),
  target: (instance) => (instance.url ? instanceUrl(instance, PATH).href : ''),
  async run(ctx: ProbeContext) {
    const res = await requestCompletion(ctx, credential(ctx.instance, 'duo_user')!);
    ctx.record.fact('gitlab_duo_http_status_code', res.status);
    if (res.status !== 200) throw completionFailure(res);
    const body = parseBody(res, completionResponse, 'a completion ({choices:[{text}]})');
    const text = body.choices[0]?.text ?? '';
    if (text.trim() === '') throw new ProbeError('unexpected_response', 'the completion came back without text (choices[0].text is empty): the model answered nothing');
    ctx.record.note(`200 with a ${text.length}-character completion`);
  },
});

/** What each status means on this path (facts §3); anything else maps as usual. */
function completionFailure(res: ApiResponse): ProbeError {
  const said = res.gitlabMessage ? `: ${res.gitlabMessage}` : '';
  const fromMonolith = header(res.headers, 'x-gitlab-error-origin') === 'monolith';
  switch (res.status) {
    case 500:
      return new ProbeError(
        'http_status',
        `${res.where} answered 500: Workhorse could not reach the AI gateway (cloud.gitlab.com). Set the proxy for Workhorse too (gitlab_workhorse['env'] HTTPS_PROXY/NO_PROXY, not only gitlab_rails['env']) on every node, and check the firewall and Silent Mode${said}`,
      );
    case 401:
      return new ProbeError(
        'auth',
        `${res.where} answered 401: no Duo seat, token lacks ai_features, or Duo is off for this user${fromMonolith ? '' : " (or the AI gateway refused the instance's Cloud Connector token: synchronise the subscription)"}${said}`,
      );
    case 422:
      if (isMissingDefaultDuoGroup(res.json)) {
        return new ProbeError('requirement_not_met', `${res.where} answered 422 missing_default_duo_group: the Duo user has no default GitLab Duo group; set one in the user's preferences${said}`);
      }
      return errorFor(res);
    case 404:
      return errorFor(res, 'Code Suggestions is switched off (ops flag ai_duo_code_suggestions_switch) or this GitLab has no such endpoint');
    default:
      return errorFor(res);
  }
}

function isMissingDefaultDuoGroup(json: unknown): boolean {
  return typeof json === 'object' && json !== null && (json as { error?: unknown }).error === 'missing_default_duo_group';
}
