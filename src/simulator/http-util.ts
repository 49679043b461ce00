import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';

/** An HTTP/1.1 or HTTP/2 (compat API) request: the handlers only need what both have. */
export type AnyRequest = IncomingMessage | Http2ServerRequest;
export type AnyResponse = ServerResponse | Http2ServerResponse;
export type RequestHandler = (req: AnyRequest, res: AnyResponse) => void;

/** Request bodies are read into memory, so they are capped (the brief: 1 MiB). */
export const MAX_BODY_BYTES = 1024 * 1024;

export class BodyTooLargeError extends Error {
  constructor() {
    super('request body too large');
  }
}

export async function readBody(req: AnyRequest, limit = MAX_BODY_BYTES): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer | string>) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    size += buf.length;
    if (size > limit) throw new BodyTooLargeError();
    chunks.push(buf);
  }
  return Buffer.concat(chunks);
}

/** Parses a JSON body; undefined when it is empty or not JSON (callers answer 400). */
export function parseJson(body: Buffer): unknown {
  if (body.length === 0) return undefined;
  try {
    return JSON.parse(body.toString('utf8')) as unknown;
  } catch {
    return undefined;
  }
}

export interface Reply {
  readonly status: number;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string;
}

export function json(status: number, value: unknown, headers: Record<string, string> = {}): Reply {
  return { status, headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(value) };
}

export function text(status: number, body: string, headers: Record<string, string> = {}): Reply {
  return { status, headers: { 'content-type': 'text/plain; charset=utf-8', ...headers }, body };
}

export function send(req: AnyRequest, res: AnyResponse, reply: Reply): void {
  if (res.headersSent || res.destroyed) return;
  const headers: Record<string, string> = { ...reply.headers };
  // HTTP/2 forbids connection-specific headers (node throws on them).
  if (req.httpVersionMajor >= 2) delete headers.connection;
  const body = reply.body ?? '';
  headers['content-length'] = String(Buffer.byteLength(body));
  try {
    // Both response kinds take (status, headers); the union of their overloads does not type-check.
    (res as ServerResponse).writeHead(reply.status, headers);
    (res as ServerResponse).end(req.method === 'HEAD' ? undefined : body);
  } catch {
    // A stream the client already reset; nothing left to answer.
    res.destroy();
  }
}

/** `Host` for HTTP/1.1, `:authority` for HTTP/2. */
export function hostHeader(headers: IncomingHttpHeaders): string {
  const host = headers.host ?? headers[':authority'];
  return typeof host === 'string' ? host : '';
}

export function headerValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/**
 * The token a GitLab request carries: `Authorization: Bearer`, `PRIVATE-TOKEN` or, as
 * ActionCable and the API also accept, `?private_token=`.
 */
export function extractToken(headers: IncomingHttpHeaders, url: URL): string | undefined {
  const auth = headerValue(headers, 'authorization');
  const bearer = auth?.match(/^Bearer\s+(\S+)$/i)?.[1];
  return bearer ?? headerValue(headers, 'private-token') ?? url.searchParams.get('private_token') ?? undefined;
}

export function requestUrl(req: AnyRequest): URL {
  // Only the path and query matter; the base keeps URL parsing total for odd request targets.
  return new URL(req.url ?? '/', 'https://simulator.invalid');
}
