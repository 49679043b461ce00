import { json, type Reply } from './http-util.js';
import { completionOutcome, railsDwsError } from './outcomes.js';
import type { Caller, SimContext, SimUser } from './world.js';
import { applicationSettings, features, isoTime, serviceAccount } from './world.js';

/** A REST answer; `delayMs` postpones it (the slow AI gateway scenario). */
export type RestReply = Reply & { readonly delayMs?: number };

export interface RestCall {
  readonly method: string;
  readonly path: string;
  readonly url: URL;
  readonly caller: Caller;
  readonly body: unknown;
  readonly ctx: SimContext;
}

type Route = (call: RestCall) => RestReply;

const UNAUTHORIZED = json(401, { message: '401 Unauthorized' });
const FORBIDDEN = json(403, { message: '403 Forbidden' });
// Grape's answer for a route that does not exist (an unknown resource is {"message":...}).
export const ROUTE_NOT_FOUND = json(404, { error: '404 Not Found' });

function withUser(call: RestCall, fn: (user: SimUser) => RestReply): RestReply {
  return call.caller.kind === 'user' ? fn(call.caller.user) : UNAUTHORIZED;
}

function metadata(call: RestCall): RestReply {
  const host = call.ctx.endpoints.gitlabHost;
  const version = call.ctx.conditions().version;
  return withUser(call, () =>
    json(200, {
      version,
      revision: 'abc1234',
      kas: {
        enabled: true,
        externalUrl: `wss://${host}/-/kubernetes-agent/`,
        externalK8sProxyUrl: `https://${host}/-/kubernetes-agent/k8s-proxy/`,
        version: version.replace(/-ee$/, ''),
      },
      enterprise: true,
    }),
  );
}

function restUser(user: { id: number; username: string; name: string }, call: RestCall, extra: Record<string, unknown> = {}) {
  return {
    id: user.id,
    username: user.username,
    name: user.name,
    state: 'active',
    locked: false,
    avatar_url: null,
    web_url: `https://${call.ctx.endpoints.gitlabHost}/${user.username}`,
    ...extra,
  };
}

function users(call: RestCall): RestReply {
  const username = call.url.searchParams.get('username');
  const account = serviceAccount(call.ctx.conditions(), call.ctx.endpoints.gitlabHost);
  const known = [
    restUser({ id: 1, username: 'root', name: 'Administrator' }, call),
    restUser({ id: 2, username: 'duo-user', name: 'Duo User' }, call),
    ...(account ? [restUser(account, call, { bot: true })] : []),
  ];
  return json(200, username ? known.filter((u) => u.username === username) : known);
}

function completionAnswer(body: Record<string, unknown>, now: number) {
  const file = (body.current_file ?? {}) as Record<string, unknown>;
  const fileName = typeof file.file_name === 'string' ? file.file_name : 'test.py';
  const lang = fileName.endsWith('.rb') ? 'ruby' : fileName.endsWith('.ts') ? 'typescript' : 'python';
  const created = Math.floor(now / 1000);
  return {
    id: 'id',
    model: { engine: 'vertex-ai', name: 'codestral-2501', lang, tokens_consumption_metadata: null, region: 'us-east1' },
    experiments: [],
    object: 'text_completion',
    created,
    choices: [{ text: '\n    return "Hello, world!"\n', index: 0, finish_reason: 'length' }],
    metadata: { enabled_feature_flags: [], timestamp: created },
  };
}

/** Requests over this size are refused by GitLab (facts §3). */
const MAX_COMPLETION_BODY = 600_000;

function completions(call: RestCall): RestReply {
  return withUser(call, (user) => {
    const body = call.body as Record<string, unknown> | undefined;
    if (JSON.stringify(body ?? {}).length > MAX_COMPLETION_BODY) return json(413, { message: '413 Request Entity Too Large' });
    const file = body?.current_file as Record<string, unknown> | undefined;
    if (typeof file?.file_name !== 'string' || typeof file.content_above_cursor !== 'string') {
      return json(400, { error: 'current_file is missing, current_file[file_name] is missing' });
    }
    const outcome = completionOutcome(call.ctx.conditions(), user, call.ctx.slowDelayMs);
    if (outcome.kind === 'ok') return { ...json(200, completionAnswer(body!, Date.now())), delayMs: outcome.delayMs };
    const { status, body: errorBody, headers } = outcome;
    // Workhorse's own failure is plain text; the monolith and the AI gateway answer JSON.
    if (typeof errorBody === 'string') return { status, headers: { 'content-type': 'text/plain; charset=utf-8', ...headers }, body: errorBody };
    return json(status, errorBody, headers);
  });
}

const TOOLS = ['read_file', 'list_dir', 'grep', 'create_file_with_contents', 'edit_file', 'run_command', 'get_issue', 'get_merge_request'];

function listTools(call: RestCall): RestReply {
  const c = call.ctx.conditions();
  if (!features(c).agentPlatform) return ROUTE_NOT_FOUND;
  return withUser(call, () => {
    const error = railsDwsError(c, call.ctx.endpoints.duoWorkflowService);
    if (error) return json(400, { message: `400 Bad request - ${error}` });
    return json(200, { tools: TOOLS.map((name) => ({ name, description: `Simulated ${name} tool` })), evalDataset: [] });
  });
}

const ROUTES: Record<string, Route> = {
  'GET /api/v4/metadata': metadata,
  'GET /api/v4/version': metadata,
  'GET /api/v4/application/settings': (call) =>
    withUser(call, (user) => (user.admin ? json(200, applicationSettings(call.ctx.conditions(), Date.now())) : FORBIDDEN)),
  'GET /api/v4/users': users,
  'GET /api/v4/user': (call) =>
    withUser(call, (user) => json(200, restUser(user, call, { is_admin: user.admin, created_at: isoTime(Date.now() - 400 * 86_400_000) }))),
  'POST /api/v4/code_suggestions/completions': completions,
  'GET /api/v4/ai/duo_workflows/list_tools': listTools,
};

/** REST API v4. Any invalid token is refused with 401 before routing, as GitLab's API guard does. */
export function handleRest(call: RestCall): RestReply {
  if (call.caller.kind === 'invalid') return UNAUTHORIZED;
  const method = call.method === 'HEAD' ? 'GET' : call.method;
  const route = ROUTES[`${method} ${call.path.replace(/\/+$/, '')}`];
  return route ? route(call) : ROUTE_NOT_FOUND;
}
