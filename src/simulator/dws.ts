import * as grpc from '@grpc/grpc-js';
import { fromJSON } from '@grpc/proto-loader';
import type { INamespace } from 'protobufjs';
import type { Backend } from './tls-server.js';
import type { Pki } from './pki.js';
import type { SimContext } from './world.js';

/**
 * The standard grpc.health.v1 definitions, inline (same as proto/health.proto) so the simulator
 * does not depend on where that file lands in a build.
 */
const HEALTH_PROTO: INamespace = {
  nested: {
    grpc: {
      nested: {
        health: {
          nested: {
            v1: {
              nested: {
                HealthCheckRequest: { fields: { service: { type: 'string', id: 1 } } },
                HealthCheckResponse: {
                  fields: { status: { type: 'ServingStatus', id: 1 } },
                  nested: { ServingStatus: { values: { UNKNOWN: 0, SERVING: 1, NOT_SERVING: 2, SERVICE_UNKNOWN: 3 } } },
                },
                Health: {
                  methods: {
                    Check: { requestType: 'HealthCheckRequest', responseType: 'HealthCheckResponse', comment: '' },
                    Watch: { requestType: 'HealthCheckRequest', responseType: 'HealthCheckResponse', responseStream: true, comment: '' },
                  },
                },
              },
            },
          },
        },
      },
    },
  },
};

const definition = fromJSON(HEALTH_PROTO, { enums: String, defaults: true });
export const HEALTH_SERVICE = definition['grpc.health.v1.Health'] as grpc.ServiceDefinition;

/** The Duo Workflow Service registers SERVING for "" and its service name "DuoWorkflow" (facts §6). */
export const SERVED = new Set(['', 'DuoWorkflow']);

interface HealthRequest {
  service?: string;
}

const healthImplementation: grpc.UntypedServiceImplementation = {
  Check(call: grpc.ServerUnaryCall<HealthRequest, unknown>, callback: grpc.sendUnaryData<unknown>) {
    const service = call.request.service ?? '';
    if (SERVED.has(service)) callback(null, { status: 'SERVING' });
    else callback({ code: grpc.status.NOT_FOUND, details: 'unknown service' });
  },
  // Watch keeps the stream open like the real server; forceShutdown() ends it on close.
  Watch(call: grpc.ServerWritableStream<HealthRequest, unknown>) {
    call.write({ status: SERVED.has(call.request.service ?? '') ? 'SERVING' : 'SERVICE_UNKNOWN' });
  },
};

/**
 * `DuoWorkflow` (AI gateway contract/contract.proto, no package), ListTools only: tools are
 * google.protobuf.Struct messages, modelled here as empty ones (the probe only counts them).
 */
const WORKFLOW_PROTO: INamespace = {
  nested: {
    ListToolsRequest: { fields: {} },
    Tool: { fields: {} },
    ListToolsResponse: { fields: { tools: { rule: 'repeated', type: 'Tool', id: 1 } } },
    DuoWorkflow: { methods: { ListTools: { requestType: 'ListToolsRequest', responseType: 'ListToolsResponse', comment: '' } } },
  },
};
export const DUO_WORKFLOW_SERVICE = fromJSON(WORKFLOW_PROTO, { defaults: true }).DuoWorkflow as grpc.ServiceDefinition;
export const SIMULATED_TOOL_COUNT = 8;

/**
 * The service's authentication interceptor runs before the method is looked up
 * (duo_workflow_service/interceptors/authentication_interceptor.py): a token it did not mint, a
 * missing header or a refused one is UNAUTHENTICATED; an older service without ListTools answers
 * UNIMPLEMENTED only to a token it accepted.
 */
function workflowImplementation(ctx: SimContext): grpc.UntypedServiceImplementation {
  return {
    ListTools(call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) {
      const refusal = authenticate(ctx, call.metadata);
      if (refusal) return callback({ code: grpc.status.UNAUTHENTICATED, details: refusal });
      if (!ctx.conditions().dwsListTools) return callback({ code: grpc.status.UNIMPLEMENTED, details: 'Method not found!' });
      callback(null, { tools: Array.from({ length: SIMULATED_TOOL_COUNT }, () => ({})) });
    },
  };
}

function authenticate(ctx: SimContext, metadata: grpc.Metadata): string | undefined {
  const header = String(metadata.get('authorization')[0] ?? '');
  if (header === '') return 'No authorization header presented';
  if (String(metadata.get('x-gitlab-authentication-type')[0] ?? '') !== 'oidc') return 'Invalid authentication token type - only OIDC is supported';
  const token = /^Bearer (.+)$/.exec(header)?.[1];
  const expiresAt = token === undefined ? undefined : ctx.dwsTokens.get(token);
  if (expiresAt === undefined || expiresAt < Date.now() || ctx.conditions().dwsRejectsGitlabTokens) return 'Forbidden by auth provider';
  if (metadata.get('x-gitlab-realm').length === 0) return "Header mismatch 'x-gitlab-realm'";
  return undefined;
}

/**
 * A grpc-js server over TLS (ALPN h2) on a loopback port, for the DWS front to route to. Without
 * `ctx` (the benchmark's bare health server) there is no DuoWorkflow service.
 */
export async function startDwsGrpc(pki: Pki, ctx?: SimContext): Promise<Backend> {
  const server = new grpc.Server();
  server.addService(HEALTH_SERVICE, healthImplementation);
  if (ctx) server.addService(DUO_WORKFLOW_SERVICE, workflowImplementation(ctx));
  const credentials = grpc.ServerCredentials.createSsl(null, [{ private_key: Buffer.from(pki.keyPem), cert_chain: Buffer.from(pki.certPem) }], false);
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync('127.0.0.1:0', credentials, (err, bound) => (err ? reject(err) : resolve(bound)));
  });
  return {
    port,
    close: async () => server.forceShutdown(),
  };
}
