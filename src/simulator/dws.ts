import * as grpc from '@grpc/grpc-js';
import { fromJSON } from '@grpc/proto-loader';
import type { INamespace } from 'protobufjs';
import type { Backend } from './tls-server.js';
import type { Pki } from './pki.js';

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

/** A grpc-js server over TLS (ALPN h2) on a loopback port, for the DWS front to route to. */
export async function startDwsGrpc(pki: Pki): Promise<Backend> {
  const server = new grpc.Server();
  server.addService(HEALTH_SERVICE, healthImplementation);
  const credentials = grpc.ServerCredentials.createSsl(null, [{ private_key: Buffer.from(pki.keyPem), cert_chain: Buffer.from(pki.certPem) }], false);
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync('127.0.0.1:0', credentials, (err, bound) => (err ? reject(err) : resolve(bound)));
  });
  return {
    port,
    close: async () => server.forceShutdown(),
  };
}
