import type { TLSSocket } from 'node:tls';
import protobuf from 'protobufjs';
import { asProbeError } from './abort.js';
import { frame, grpcUnary, unframe } from './grpc-unary.js';


/** The proto shipped with the exporter; the simulator's grpc-js server loads the same file. */
export const HEALTH_PROTO = new URL('../../proto/health.proto', import.meta.url);

const root = protobuf.loadSync(decodeURIComponent(HEALTH_PROTO.pathname));
const Request = root.lookupType('grpc.health.v1.HealthCheckRequest');
const Response = root.lookupType('grpc.health.v1.HealthCheckResponse');
const ServingStatus = root.lookupEnum('grpc.health.v1.HealthCheckResponse.ServingStatus');

export const SERVING_STATUSES = ['UNKNOWN', 'SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN'] as const;
export type ServingStatusName = (typeof SERVING_STATUSES)[number];

export interface HealthAnswer {
  /** gRPC status code from the trailers (0 = OK). */
  readonly grpcStatus: number;
  /** Present when grpcStatus is 0. */
  readonly servingStatus: ServingStatusName | undefined;
  /** grpc-message, cut short; server text, never shown in a label. */
  readonly grpcMessage: string;
}

// A HealthCheckResponse is a few bytes; a server sending more is not a health service.
const MAX_RESPONSE_BYTES = 64 * 1024;

/**
 * `grpc.health.v1.Health/Check` over an already negotiated h2 TLS socket (grpc-unary.ts: on our
 * socket rather than with @grpc/grpc-js, which opens its own connection, so the probe stays on
 * exactly the path whose dns/connect/tls phases were just measured).
 */
export async function grpcHealthCheck(socket: TLSSocket, authority: string, service: string, signal: AbortSignal, deadline: number): Promise<HealthAnswer> {
  const call = { path: '/grpc.health.v1.Health/Check', request: frame(Request.encode(Request.create({ service })).finish()), metadata: {}, maxResponseBytes: MAX_RESPONSE_BYTES };
  const answer = await grpcUnary(socket, authority, true, call, signal, deadline);
  const { grpcStatus, grpcMessage } = answer;
  if (grpcStatus !== 0) return { grpcStatus, servingStatus: undefined, grpcMessage };
  try {
    const decoded = Response.toObject(Response.decode(unframe(answer.body)), { enums: Number }) as { status?: number };
    const name = ServingStatus.valuesById[decoded.status ?? 0];
    return { grpcStatus, servingStatus: (SERVING_STATUSES as readonly string[]).includes(name ?? '') ? (name as ServingStatusName) : 'UNKNOWN', grpcMessage };
  } catch (err) {
    throw asProbeError(err, 'grpc', 'gRPC Health/Check');
  }
}

