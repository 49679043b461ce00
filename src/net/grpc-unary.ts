import { connect as http2Connect, constants as h2, type ClientHttp2Stream, type IncomingHttpHeaders } from 'node:http2';
import type { Socket } from 'node:net';
import { ProbeError } from '../core/errors.js';
import { asProbeError, untilDeadline } from './abort.js';

/** What a unary gRPC call came back with; `body` is the framed response (empty on an error status). */
export interface UnaryAnswer {
  readonly grpcStatus: number;
  /** grpc-message, decoded and cut short: server text, never a label value. */
  readonly grpcMessage: string;
  readonly body: Buffer;
}

export interface UnaryCall {
  /** `/Service/Method`. */
  readonly path: string;
  /** The framed request message (`frame`). */
  readonly request: Buffer;
  /** Extra request metadata, lower-case keys; may carry a credential, so never logged. */
  readonly metadata: Readonly<Record<string, string>>;
  /** Largest response accepted, so a wrong server cannot make the exporter buffer without end. */
  readonly maxResponseBytes: number;
}

/**
 * One unary gRPC call over an already open connection: TLS with ALPN h2, or a plain socket for
 * h2c (`secure: false` services). Framed by hand on node:http2 for the reason grpc-health.ts
 * gives: the call stays on the connection (proxy tunnel included) whose phases were measured.
 */
export async function grpcUnary(socket: Socket, authority: string, secure: boolean, call: UnaryCall, signal: AbortSignal, deadline: number): Promise<UnaryAnswer> {
  const session = http2Connect(`${secure ? 'https' : 'http'}://${authority}`, { createConnection: () => socket });
  session.on('error', () => undefined);
  try {
    const stream = session.request({
      ...call.metadata,
      [h2.HTTP2_HEADER_METHOD]: 'POST',
      [h2.HTTP2_HEADER_PATH]: call.path,
      [h2.HTTP2_HEADER_CONTENT_TYPE]: 'application/grpc',
      te: 'trailers',
      'grpc-timeout': `${Math.max(1, deadline - Date.now())}m`,
      'user-agent': 'gitlab-duo-exporter',
    });
    stream.end(call.request);
    const reply = await untilDeadline(readReply(stream, call.maxResponseBytes), signal, `waiting for the answer to ${call.path}`, () => stream.close(h2.NGHTTP2_CANCEL));
    return interpret(reply, call.path);
  } catch (err) {
    throw asProbeError(err, 'grpc', `gRPC ${call.path}`);
  } finally {
    session.destroy();
  }
}

interface Reply {
  headers: IncomingHttpHeaders;
  trailers: IncomingHttpHeaders;
  body: Buffer;
}

function readReply(stream: ClientHttp2Stream, maxBytes: number): Promise<Reply> {
  return new Promise((resolve, reject) => {
    let headers: IncomingHttpHeaders = {};
    let trailers: IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    let size = 0;
    stream.on('response', (h) => (headers = h));
    stream.on('trailers', (t) => (trailers = t));
    stream.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        stream.close(h2.NGHTTP2_CANCEL);
        reject(new ProbeError('grpc', `the answer exceeds ${maxBytes} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    stream.on('end', () => resolve({ headers, trailers, body: Buffer.concat(chunks) }));
    stream.on('error', reject);
  });
}

function interpret(reply: Reply, path: string): UnaryAnswer {
  // Trailers-only responses (errors) carry grpc-status in the headers.
  const statusText = reply.trailers['grpc-status'] ?? reply.headers['grpc-status'];
  if (statusText === undefined) {
    const httpStatus = Number(reply.headers[h2.HTTP2_HEADER_STATUS]);
    throw new ProbeError('grpc', `no gRPC status in the answer to ${path} (HTTP ${httpStatus}, content-type ${String(reply.headers['content-type'] ?? 'none')})`);
  }
  const grpcMessage = decodeGrpcMessage(String(reply.trailers['grpc-message'] ?? reply.headers['grpc-message'] ?? '')).slice(0, 200);
  return { grpcStatus: Number(statusText), grpcMessage, body: reply.body };
}

/**
 * grpc-message is percent-encoded (gRPC over HTTP/2 spec), but not every server gets it right.
 * A malformed one is shown as sent: the status is the answer, the message only decoration.
 */
export function decodeGrpcMessage(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

/** gRPC length-prefixed message: 1 byte compressed flag, 4 bytes big-endian length. */
export function frame(message: Uint8Array): Buffer {
  const out = Buffer.alloc(5 + message.length);
  out.writeUInt32BE(message.length, 1);
  out.set(message, 5);
  return out;
}

export function unframe(body: Buffer): Buffer {
  if (body.length < 5) throw new ProbeError('grpc', 'gRPC status OK but no response message');
  if (body[0] !== 0) throw new ProbeError('grpc', 'a compressed response message, which was not asked for');
  const length = body.readUInt32BE(1);
  if (body.length < 5 + length) throw new ProbeError('grpc', 'truncated gRPC response message');
  return body.subarray(5, 5 + length);
}
