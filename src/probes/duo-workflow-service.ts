import { DEFAULT_ENDPOINTS } from '../config/defaults.js';
import { ProbeError } from '../core/errors.js';
import { ALPN_H2_REASONS, CONNECT_REASONS, openConnection } from '../net/connect.js';
import { grpcHealthCheck, SERVING_STATUSES, type HealthAnswer } from '../net/grpc-health.js';
import type { TLSSocket } from 'node:tls';
import { agentPlatformUnused, cloudHostsUnused, REQUIRED } from './shared/relevance.js';
import { noteInterception, recordTlsFacts, TLS_FACTS } from './shared/tls-facts.js';
import { defineProbe, type ProbeContext } from './types.js';

// gRPC status codes that still prove TLS, HTTP/2 and gRPC reached the service: an older build
// without the health service (UNIMPLEMENTED) or one that wants credentials.
const PATH_PROVEN = new Set([12 /* UNIMPLEMENTED */, 16 /* UNAUTHENTICATED */, 7 /* PERMISSION_DENIED */]);
const UNIMPLEMENTED = 12;

export const duoWorkflowService = defineProbe({
  name: 'duo_workflow_service',
  group: 'network',
  proves: 'HTTP/2 gRPC to the Duo Workflow Service works from this host (TLS with ALPN h2, then grpc.health.v1 Check)',
  defaultInterval: '60s',
  defaultTimeout: '10s',
  required: true,
  phases: ['dns', 'connect', 'proxy_connect', 'tls', 'grpc'],
  facts: ['gitlab_duo_http_version', ...TLS_FACTS, 'gitlab_duo_grpc_status_code', 'gitlab_duo_grpc_serving_status'],
  // `grpc`: the health call itself (net/grpc-health.ts) and a status that does not prove the path.
  reasons: [...CONNECT_REASONS, ...ALPN_H2_REASONS, 'grpc'],
  alerts: { failing: 'GitLabDuoNetworkProbeFailed' },
  advice: {
    default: 'Allow HTTP/2 (ALPN h2) to duo-workflow-svc.runway.gitlab.net:443, through the proxy with CONNECT; it is not behind Cloudflare, so Cloudflare\u2019s ranges do not cover it.',
    http2_not_negotiated: 'A TLS-inspecting proxy or device answers with HTTP/1.1 only: exempt duo-workflow-svc.runway.gitlab.net from inspection so that HTTP/2 passes through.',
    grpc: 'HTTP/2 does not pass through intact: the proxy must tunnel (CONNECT) to duo-workflow-svc.runway.gitlab.net:443 without terminating TLS.',
  },
  availability: () => ({ enabled: true }),
  // Self-hosted setups run their own service; only a configured endpoint is probed there.
  relevance: (env, instance) =>
    agentPlatformUnused(env) ??
    (instance.endpoints.duo_workflow_service === DEFAULT_ENDPOINTS.duo_workflow_service ? cloudHostsUnused(env, DEFAULT_ENDPOINTS.duo_workflow_service) : undefined) ??
    REQUIRED,
  target: (instance) => instance.endpoints.duo_workflow_service,
  async run(ctx: ProbeContext) {
    const authority = ctx.instance.endpoints.duo_workflow_service;
    const { host, port } = splitHostPort(authority);
    const connection = await openConnection({ host, port, tls: { alpn: ['h2'] } }, ctx);
    try {
      recordTlsFacts(ctx.record, connection);
      // Before the gRPC call: a failure there (the proxy downgrading or breaking the stream) keeps it.
      noteInterception(ctx.record, host, connection);
      ctx.record.fact('gitlab_duo_http_version', connection.alpn === 'h2' ? 2 : 1.1);
      if (connection.alpn !== 'h2') {
        throw new ProbeError('http2_not_negotiated', `${authority} did not negotiate HTTP/2 (ALPN ${connection.alpn || 'none'}); something on the path downgrades it`);
      }
      const answer = await ctx.record.phase('grpc', () => grpcHealthCheck(connection.socket as TLSSocket, authority, '', ctx.signal, ctx.deadline));
      recordAnswer(ctx, answer);
      judge(answer, authority);
      ctx.record.note(`Health/Check answered status ${answer.grpcStatus}${answer.servingStatus ? ` (${answer.servingStatus})` : ''}`);
    } finally {
      connection.socket.destroy();
    }
  },
});

function recordAnswer(ctx: ProbeContext, answer: HealthAnswer): void {
  ctx.record.fact('gitlab_duo_grpc_status_code', answer.grpcStatus);
  const current = answer.grpcStatus === UNIMPLEMENTED ? 'UNIMPLEMENTED' : answer.servingStatus;
  for (const status of [...SERVING_STATUSES, 'UNIMPLEMENTED']) {
    ctx.record.fact('gitlab_duo_grpc_serving_status', status === current ? 1 : 0, { status });
  }
}

function judge(answer: HealthAnswer, authority: string): void {
  if (answer.grpcStatus === 0 && answer.servingStatus === 'SERVING') return;
  if (PATH_PROVEN.has(answer.grpcStatus)) return;
  if (answer.grpcStatus === 0) throw new ProbeError('grpc', `${authority} reports ${answer.servingStatus}`);
  throw new ProbeError('grpc', `${authority} answered gRPC status ${answer.grpcStatus}${answer.grpcMessage ? `: ${answer.grpcMessage}` : ''}`);
}

export function splitHostPort(authority: string): { host: string; port: number } {
  const match = /^\[?([^\]]+?)\]?:(\d+)$/.exec(authority);
  if (!match) throw new ProbeError('internal', `"${authority}" is not host:port`);
  return { host: match[1]!, port: Number(match[2]) };
}
