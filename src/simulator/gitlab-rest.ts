import { json, type Reply } from './http-util.js';
import { completionOutcome, railsDwsError } from './outcomes.js';
import type { Caller, SimContext, SimUser } from './world.js';
import { has } from './release.js';
import type { TokenScope } from './scenarios.js';
import { directAccess } from './direct-access.js';
import { agentPlatformWorks, applicationSettings, isoTime, serviceAccounts, tokenDetails, tokenScopesOf } from './world.js';

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

type Handler = (call: RestCall) => RestReply;

/** A route: what it answers, which token scopes it accepts, and whether it is admin-only. */
interface Route {
  readonly handler: Handler;
  readonly scopes: readonly TokenScope[];
  readonly admin?: boolean;
}

const UNAUTHORIZED = json(401, { message: '401 Unauthorized' });
const FORBIDDEN = json(403, { message: '403 Forbidden' });
// Grape's answer for a route that does not exist (an unknown resource is {"message":...}).
export const ROUTE_NOT_FOUND = json(404, { error: '404 Not Found' });

/** rack-oauth2's answer for a token without a scope the route accepts (lib/api/api_guard.rb). */
function insufficientScope(scopes: readonly TokenScope[]): RestReply {
  return json(403, { error: 'insufficient_scope', error_description: 'The request requires higher privileges than provided by the access token.', scope: scopes.join(' ') });
}


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
  // The REST user entities expose `state`, never composite_identity_enforced.
  const accounts = serviceAccounts(call.ctx.conditions()).map((a) => restUser(a, call, { bot: true, state: a.state }));
  const known = [restUser({ id: 1, username: 'root', name: 'Administrator' }, call), restUser({ id: 2, username: 'duo-user', name: 'Duo User' }, call), ...accounts];
  return json(200, username ? known.filter((u) => u.username === username) : known);
}

/** `GET /api/v4/service_accounts` (admin): Entities::ServiceAccount, id, username, name only. */
function listServiceAccounts(call: RestCall): RestReply {
  return json(200, serviceAccounts(call.ctx.conditions()).map(({ id, username, name }) => ({ id, username, name, public_email: null, email: `${username}@noreply.duo-sim.test` })));
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

/**
 * list_tools (ee/lib/api/ai/duo_workflows/workflows.rb): from 18.4; up to 18.6 a 404 when the
 * Agent Platform's feature flags are off; no gate from 18.7. Rails calls the service's ListTools.
 */
function listTools(call: RestCall): RestReply {
  const c = call.ctx.conditions();
  if (!has(c.version, 'listTools')) return ROUTE_NOT_FOUND;
  if (!has(c.version, 'agentPlatformSetting') && !agentPlatformWorks(c)) return json(404, { message: '404 Not Found' });
  return withUser(call, () => {
    const error = railsDwsError(c, call.ctx.endpoints.duoWorkflowService);
    if (error) return json(400, { message: `400 Bad request - ${error}` });
    return json(200, { tools: TOOLS.map((name) => ({ name, description: `Simulated ${name} tool` })), evalDataset: [] });
  });
}

// Scopes: `api` everywhere, `read_api` for GET/HEAD (lib/api/api.rb:53-54), plus what a route adds.
const READ: readonly TokenScope[] = ['api', 'read_api'];
/** Any token may read its own details (lib/api/personal_access_tokens/self_information.rb:13-16). */
const EVERY_SCOPE: readonly TokenScope[] = ['api', 'read_api', 'read_user', 'admin_mode', 'ai_features'];

const ROUTES: Record<string, Route> = {
  'GET /api/v4/metadata': { handler: metadata, scopes: [...READ, 'read_user', 'ai_features'] },
  'GET /api/v4/version': { handler: metadata, scopes: [...READ, 'read_user', 'ai_features'] },
  'GET /api/v4/application/settings': { handler: (call) => json(200, applicationSettings(call.ctx.conditions(), Date.now())), scopes: READ, admin: true },
  'GET /api/v4/users': { handler: users, scopes: [...READ, 'read_user'] },
  'GET /api/v4/service_accounts': { handler: listServiceAccounts, scopes: READ, admin: true },
  'GET /api/v4/user': {
    handler: (call) => withUser(call, (user) => json(200, restUser(user, call, { is_admin: user.admin, created_at: isoTime(Date.now() - 400 * 86_400_000) }))),
    scopes: [...READ, 'read_user'],
  },
  // allow_access_with_scope :ai_features; read_api is GET-only (ee/lib/api/code_suggestions.rb).
  'POST /api/v4/code_suggestions/completions': { handler: completions, scopes: ['api', 'ai_features'] },
  'GET /api/v4/ai/duo_workflows/list_tools': { handler: listTools, scopes: READ },
  // No allow_access_with_scope for this POST: `api` only (ee/lib/api/ai/duo_workflows/workflows.rb).
  'POST /api/v4/ai/duo_workflows/direct_access': { handler: (call) => withUser(call, (user) => directAccess(call.ctx, user)), scopes: ['api'] },
  'GET /api/v4/personal_access_tokens/self': {
    handler: (call) => withUser(call, (user) => json(200, tokenDetails(call.ctx.conditions(), user, Date.now()))),
    scopes: EVERY_SCOPE,
  },
};

/**
 * REST API v4 the way GitLab's API guard answers: an invalid token 401 before routing, a token
 * without an accepted scope 403 insufficient_scope, an admin route 403 for a non-admin, and for
 * an admin whose token lacks admin_mode while Admin Mode is on (lib/api/api_guard.rb:93-97).
 */
export function handleRest(call: RestCall): RestReply {
  if (call.caller.kind === 'invalid') return UNAUTHORIZED;
  const method = call.method === 'HEAD' ? 'GET' : call.method;
  const route = ROUTES[`${method} ${call.path.replace(/\/+$/, '')}`];
  if (!route) return ROUTE_NOT_FOUND;
  return withUser(call, (user) => {
    const scopes = tokenScopesOf(call.ctx.conditions(), user);
    if (!route.scopes.some((scope) => scopes.includes(scope))) return insufficientScope(route.scopes);
    if (route.admin && (!user.admin || (call.ctx.conditions().adminMode && !scopes.includes('admin_mode')))) return FORBIDDEN;
    return route.handler(call);
  });
}
