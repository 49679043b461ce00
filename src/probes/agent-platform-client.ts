import protobuf from 'protobufjs';
import { ProbeError } from '../core/errors.js';
import { credential, instanceUrl, needsInstance, secretsOf } from '../gitlab/availability.js';
import { API_REASONS, errorFor, parseBody, type ApiResponse } from '../gitlab/request.js';
import { directAccessResponse, requestDirectAccess, type DirectAccess } from '../gitlab/rest.js';
import { quote } from '../core/redact.js';
import { ALPN_H2_REASONS, openConnection, type Connection } from '../net/connect.js';
import { frame, grpcUnary, unframe, type UnaryAnswer } from '../net/grpc-unary.js';
import { splitHostPort } from './duo-workflow-service.js';
import { agentPlatformUnused, REQUIRED } from './shared/relevance.js';
import { noteInterception } from './shared/tls-facts.js';
import { defineProbe, type ProbeContext } from './types.js';
import { type Phase, type Recorder } from '../core/run.js';

const PATH = '/api/v4/ai/duo_workflows/direct_access';
// The service's proto has no package line (contract.proto): its full name is `DuoWorkflow`.
const LIST_TOOLS = '/DuoWorkflow/ListTools';
// A tool list is a few KiB of JSON schemas; more than this is not the Duo Workflow Service.
const MAX_LIST_TOOLS_BYTES = 4 * 1024 * 1024;
const UNIMPLEMENTED = 12;
const TOKEN_REFUSALS = new Set([16 /* UNAUTHENTICATED */, 7 /* PERMISSION_DENIED */]);

/**
 * What an IDE does for the Agent Platform, from the client's side: ask GitLab for credentials
 * (`direct_access`, which makes Rails call the service's GenerateToken), then call the Duo
 * Workflow Service at the URL GitLab returned, with its token and headers, through the proxy.
 * ListTools is the cheapest authenticated RPC (no quota, no model, no workflow); a workflow is
 * never started. Each run mints a 2-hour OAuth token and a service token: 10 min by default.
 */
export const agentPlatformClient = defineProbe({
  name: 'agent_platform_client',
  group: 'exchange',
  proves: "an IDE can get Agent Platform credentials from GitLab (direct_access) and the Duo Workflow Service accepts them (gRPC ListTools at the returned URL)",
  defaultInterval: '10m',
  defaultTimeout: '30s',
  required: true,
  // `api` is the whole direct_access call, its connection included; dns to tls are the service's.
  phases: ['api', 'dns', 'connect', 'proxy_connect', 'tls', 'grpc'],
  facts: ['gitlab_duo_http_status_code', 'gitlab_duo_grpc_status_code', 'gitlab_duo_agent_platform_token_expiry_timestamp_seconds'],
  // http_status: Rails' GenerateToken call failed (400); grpc: the service refused the token or
  // answered another error; requirement_not_met: direct_access is off (404, flags before 18.7).
  reasons: [...API_REASONS, ...ALPN_H2_REASONS, 'grpc', 'requirement_not_met'],
  token: 'agent_platform',
  // direct_access is a POST with no allow_access_with_scope: api only (ee/lib/api/ai/duo_workflows/workflows.rb).
  scopes: [{ token: 'agent_platform', scope: 'api', accepted: ['api'] }],
  alerts: { failing: 'GitLabDuoExchangeProbeFailed' },
  advice: {
    default:
      'Let this host reach the Duo Workflow Service URL GitLab returns (duo-workflow-svc.runway.gitlab.net:443 or your own) over HTTP/2, through the proxy with CONNECT, as IDEs must.',
    http_status:
      'GitLab could not get a token from the Duo Workflow Service (its 400 names the gRPC code): 14 means the GitLab nodes cannot reach it (outbound gRPC, proxy env), 16 or 7 that it refuses the instance\u2019s Cloud Connector token (synchronise the subscription).',
    grpc: 'The Duo Workflow Service refused the token GitLab minted: check that GitLab and the service agree (self-hosted: the same GitLab instance and Cloud Connector keys; the service\u2019s clock), and that the URL GitLab returns is the service GitLab asked for its token.',
    http2_not_negotiated: 'A TLS-inspecting proxy or device answers with HTTP/1.1 only: exempt the Duo Workflow Service host from inspection so that HTTP/2 passes through.',
    requirement_not_met: 'Turn on the Duo Agent Platform for the token\u2019s user (before 18.7 the duo_workflow / duo_agentic_chat feature flags), or disable this probe.',
  },
  availability: (instance) => needsInstance(instance, 'agent_platform'),
  relevance: (env) => agentPlatformUnused(env) ?? REQUIRED,
  target: (instance) => (instance.url ? instanceUrl(instance, PATH).href : ''),
  async run(ctx: ProbeContext) {
    const token = credential(ctx.instance, 'agent_platform')!;
    const res = await requestDirectAccess({ ...ctx, record: allInApi(ctx.record) }, token);
    ctx.record.fact('gitlab_duo_http_status_code', res.status);
    if (res.status === 404 && res.json !== undefined && ctx.environment.agentPlatform.inUse === undefined) {
      ctx.record.note(`${res.where} answered 404: the Agent Platform is not enabled for this user (feature flags off), so there are no IDE credentials to check`);
      return;
    }
    if (res.status !== 201 && res.status !== 200) throw directAccessFailure(res);
    const access = parseBody(res, directAccessResponse, 'Agent Platform credentials ({duo_workflow_service:{base_url,token}})', secretsOf(ctx.instance));
    const service = access.duo_workflow_service;
    const secrets = [...secretsOf(ctx.instance), service.token];
    const expiry = recordExpiry(ctx, service.token_expires_at);
    const answer = await callListTools(ctx, access, secrets);
    ctx.record.fact('gitlab_duo_grpc_status_code', answer.grpcStatus);
    ctx.record.note(`direct_access gave credentials for ${quote(service.base_url, secrets, 100)}${expiry}; ${judge(answer, secrets)}`);
  },
});

/** GitLab's own connection phases count in `api`, so dns..tls time the service's path alone. */
function allInApi(record: Recorder): Recorder {
  const api = (_phase: Phase): Phase => 'api';
  return { ...record, phase: (phase, fn) => record.phase(api(phase), fn), addPhase: (phase, s) => record.addPhase(api(phase), s) };
}

/** What direct_access's status means (docs/gitlab-compatibility.md, agent_platform_client). */
function directAccessFailure(res: ApiResponse): ProbeError {
  const said = res.gitlabMessage ? `: ${res.gitlabMessage}` : '';
  switch (res.status) {
    case 400:
      // Rails turns a failed GenerateToken call into bad_request! with "<code>:<details>".
      return new ProbeError('http_status', `${res.where} answered 400: GitLab could not get a Duo Workflow Service token (GenerateToken ${grpcCodeOf(res.gitlabMessage)})${said}`);
    case 403:
      if (/insufficient_scope/.test(res.gitlabMessage)) {
        return new ProbeError('forbidden', `${res.where} answered 403 insufficient_scope: agent_platform_token lacks the api scope direct_access needs (ai_features and read_api are not enough)${said}`);
      }
      return errorFor(res, 'the Agent Platform is not available to this user (usage quota, or no access)');
    case 404:
      if (res.json === undefined) return errorFor(res, "a page, not GitLab's JSON: no GitLab API at this URL, check the instance URL");
      return new ProbeError('requirement_not_met', `${res.where} answered 404: the Agent Platform's feature flags are off for this user (duo_workflow / duo_agentic_chat, before 18.7)${said}`);
    default:
      return errorFor(res);
  }
}

const GRPC_CODES: Readonly<Record<string, string>> = {
  '4': 'DEADLINE_EXCEEDED: GitLab could not reach the service in time',
  '14': "UNAVAILABLE: GitLab could not reach the service (the GitLab nodes' outbound gRPC, HTTP/2 and proxy env)",
  '16': "UNAUTHENTICATED: the service refused GitLab's Cloud Connector token (synchronise the subscription)",
  '7': 'PERMISSION_DENIED: the service refused to generate a token for this instance or user',
  '8': 'RESOURCE_EXHAUSTED: the usage quota is spent',
};

function grpcCodeOf(message: string): string {
  const code = /^(?:400 Bad request - )?(\d{1,2}):/.exec(message)?.[1];
  return code === undefined ? 'failed' : `answered ${GRPC_CODES[code] ?? `gRPC status ${code}`}`;
}

/**
 * The token's expiry, exported. At S it is Unix seconds (GenerateTokenResponse.expiresAt); a
 * number too large for seconds is taken as milliseconds and a string as a time, since the form is
 * not settled for every release (docs/gitlab-compatibility.md).
 */
function recordExpiry(ctx: ProbeContext, raw: number | string | null | undefined): string {
  const ms = expiryMs(raw);
  if (ms === undefined) return '';
  ctx.record.fact('gitlab_duo_agent_platform_token_expiry_timestamp_seconds', Math.floor(ms / 1000));
  const minutes = Math.round((ms - Date.now()) / 60_000);
  return minutes > 0 ? ` (token valid ${minutes} min)` : ` (the token it minted had already expired: ${-minutes} min ago; check the clocks)`;
}

export function expiryMs(raw: number | string | null | undefined): number | undefined {
  if (typeof raw === 'number') return Number.isFinite(raw) && raw > 0 ? (raw > 1e11 ? raw : raw * 1000) : undefined;
  if (typeof raw !== 'string' || raw === '') return undefined;
  if (/^\d+$/.test(raw)) return expiryMs(Number(raw));
  const at = Date.parse(raw);
  return Number.isNaN(at) ? undefined : at;
}

async function callListTools(ctx: ProbeContext, access: DirectAccess, secrets: readonly string[]): Promise<UnaryAnswer> {
  const service = access.duo_workflow_service;
  const secure = service.secure !== false;
  const { host, port } = splitHostPort(service.base_url.replace(/^[a-z]+:\/\//i, ''));
  const connection = await openConnection({ host, port, ...(secure && { tls: { alpn: ['h2'] } }) }, ctx);
  try {
    noteInterception(ctx.record, host, connection);
    requireH2(connection, secure, service.base_url, secrets);
    const call = { path: LIST_TOOLS, request: frame(new Uint8Array()), metadata: metadataFor(service), maxResponseBytes: MAX_LIST_TOOLS_BYTES };
    const answer = await ctx.record.phase('grpc', () => grpcUnary(connection.socket, `${host}:${port}`, secure, call, ctx.signal, ctx.deadline));
    return { ...answer, grpcMessage: quote(answer.grpcMessage, secrets, 200) };
  } finally {
    connection.socket.destroy();
  }
}

function requireH2(connection: Connection, secure: boolean, baseUrl: string, secrets: readonly string[]): void {
  if (!secure || connection.alpn === 'h2') return;
  throw new ProbeError('http2_not_negotiated', `${quote(baseUrl, secrets, 100)} did not negotiate HTTP/2 (ALPN ${connection.alpn || 'none'}); something on the path downgrades it`);
}

// HTTP/2 forbids these as request headers, and the pseudo-headers are the client's own.
const NOT_METADATA = /^(?::|connection$|keep-alive$|proxy-connection$|transfer-encoding$|upgrade$|host$|te$|content-type$|user-agent$|grpc-)/;

/**
 * The metadata an IDE sends: GitLab's `headers` as given (lower-case), plus the token, which
 * GitLab leaves out of them (ee/lib/api/ai/duo_workflows/workflows.rb; cloud_connector.rb).
 */
function metadataFor(service: DirectAccess['duo_workflow_service']): Record<string, string> {
  const metadata: Record<string, string> = {};
  for (const [name, value] of Object.entries(service.headers ?? {})) {
    const key = name.toLowerCase();
    if (value === null || !/^[a-z0-9!#$%&'*+.^_`|~-]+$/.test(key) || NOT_METADATA.test(key)) continue;
    const text = String(value);
    if (!/[\r\n\0]/.test(text)) metadata[key] = text;
  }
  metadata.authorization = `Bearer ${service.token}`;
  metadata['x-gitlab-authentication-type'] = 'oidc';
  return metadata;
}

/** Passes (returning what it saw) or throws: UNAUTHENTICATED and PERMISSION_DENIED are GitLab's token refused. */
function judge(answer: UnaryAnswer, secrets: readonly string[]): string {
  const said = answer.grpcMessage ? `: ${quote(answer.grpcMessage, secrets, 200)}` : '';
  if (answer.grpcStatus === 0) {
    const count = countTools(answer.body);
    return `the Duo Workflow Service accepted the token and listed ${count} tool${count === 1 ? '' : 's'}`;
  }
  // The service authenticates before it looks the method up: an older one without ListTools
  // (before about 18.4) answers UNIMPLEMENTED only to a token it accepted.
  if (answer.grpcStatus === UNIMPLEMENTED) return 'the Duo Workflow Service accepted the token (it is older than ListTools: UNIMPLEMENTED)';
  if (TOKEN_REFUSALS.has(answer.grpcStatus)) {
    const code = answer.grpcStatus === 16 ? 'UNAUTHENTICATED' : 'PERMISSION_DENIED';
    throw new ProbeError('grpc', `the Duo Workflow Service rejected GitLab's token (${code}${said}): the token direct_access minted does not work at the URL it gave`);
  }
  throw new ProbeError('grpc', `${LIST_TOOLS} answered gRPC status ${answer.grpcStatus}${said}`);
}

/** ListToolsResponse field 1 (`repeated Struct tools`), counted without decoding each Struct. */
function countTools(body: Buffer): number {
  const reader = protobuf.Reader.create(unframe(body));
  let count = 0;
  try {
    while (reader.pos < reader.len) {
      const tag = reader.uint32();
      if (tag >>> 3 === 1) count++;
      reader.skipType(tag & 7);
    }
  } catch (err) {
    throw new ProbeError('grpc', `the ListTools answer is not a ListToolsResponse: ${err instanceof Error ? err.message : String(err)}`);
  }
  return count;
}
