import { connect as http2Connect, constants as h2, type ClientHttp2Stream, type IncomingHttpHeaders } from 'node:http2';
import type { TLSSocket } from 'node:tls';
import protobuf from 'protobufjs';
import { ProbeError } from '../errors.js';
import { asProbeError, untilDeadline } from './abort.js';

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
 * `grpc.health.v1.Health/Check` over an already negotiated h2 TLS socket. gRPC's framing is done
 * here on node:http2 rather than with @grpc/grpc-js because grpc-js opens its own connection:
 * doing it on our socket keeps the probe on exactly the path (proxy tunnel included) whose
 * dns/connect/tls phases were just measured, and the run's deadline reaches every step.
 */
export async function grpcHealthCheck(socket: TLSSocket, authority: string, service: string, signal: AbortSignal, deadline: number): Promise<HealthAnswer> {
  const session = http2Connect(`https://${authority}`, { createConnection: () => socket });
  session.on('error', () => undefined);
  try {
    const stream = session.request({
      [h2.HTTP2_HEADER_METHOD]: 'POST',
      [h2.HTTP2_HEADER_PATH]: '/grpc.health.v1.Health/Check',
      [h2.HTTP2_HEADER_CONTENT_TYPE]: 'application/grpc',
      te: 'trailers',
      'grpc-timeout': `${Math.max(1, deadline - Date.now())}m`,
      'user-agent': 'gitlab-duo-exporter',
    });
    stream.end(frame(Request.encode(Request.create({ service })).finish()));
    const reply = await untilDeadline(readReply(stream), signal, 'waiting for the gRPC health answer', () => stream.close(h2.NGHTTP2_CANCEL));
    return interpret(reply);
  } catch (err) {
    throw asProbeError(err, 'grpc', 'gRPC Health/Check');
  } finally {
    session.destroy();
  }
}

interface Reply {
  headers: IncomingHttpHeaders;
  trailers: IncomingHttpHeaders;
  body: Buffer;
}

function readReply(stream: ClientHttp2Stream): Promise<Reply> {
  return new Promise((resolve, reject) => {
    let headers: IncomingHttpHeaders = {};
    let trailers: IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    let size = 0;
    stream.on('response', (h) => (headers = h));
    stream.on('trailers', (t) => (trailers = t));
    stream.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_RESPONSE_BYTES) {
        stream.close(h2.NGHTTP2_CANCEL);
        reject(new ProbeError('grpc', `health answer exceeds ${MAX_RESPONSE_BYTES} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    stream.on('end', () => resolve({ headers, trailers, body: Buffer.concat(chunks) }));
    stream.on('error', reject);
  });
}

function interpret(reply: Reply): HealthAnswer {
  const httpStatus = Number(reply.headers[h2.HTTP2_HEADER_STATUS]);
  // Trailers-only responses (errors) carry grpc-status in the headers.
  const statusText = reply.trailers['grpc-status'] ?? reply.headers['grpc-status'];
  if (statusText === undefined) {
    throw new ProbeError('grpc', `no gRPC status in the answer (HTTP ${httpStatus}, content-type ${String(reply.headers['content-type'] ?? 'none')})`);
  }
  const grpcStatus = Number(statusText);
  const grpcMessage = decodeGrpcMessage(String(reply.trailers['grpc-message'] ?? reply.headers['grpc-message'] ?? '')).slice(0, 200);
  if (grpcStatus !== 0) return { grpcStatus, servingStatus: undefined, grpcMessage };
  const message = unframe(reply.body);
  const decoded = Response.toObject(Response.decode(message), { enums: Number }) as { status?: number };
  const name = ServingStatus.valuesById[decoded.status ?? 0];
  return { grpcStatus, servingStatus: (SERVING_STATUSES as readonly string[]).includes(name ?? '') ? (name as ServingStatusName) : 'UNKNOWN', grpcMessage };
}

/**
 * grpc-message is percent-encoded (gRPC over HTTP/2 spec), but not every server gets it right.
 * A malformed one is shown as sent: the status is the answer, the message only decoration.
 */
function decodeGrpcMessage(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

/** gRPC length-prefixed message: 1 byte compressed flag, 4 bytes big-endian length. */
function frame(message: Uint8Array): Buffer {
  const out = Buffer.alloc(5 + message.length);
  out.writeUInt32BE(message.length, 1);
  out.set(message, 5);
  return out;
}

function unframe(body: Buffer): Buffer {
  if (body.length < 5) throw new ProbeError('grpc', 'gRPC status OK but no response message');
  if (body[0] !== 0) throw new ProbeError('grpc', 'compressed health response, which was not asked for');
  const length = body.readUInt32BE(1);
  if (body.length < 5 + length) throw new ProbeError('grpc', 'truncated gRPC response message');
  return body.subarray(5, 5 + length);
}
