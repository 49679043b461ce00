import { request as http1Request, type IncomingHttpHeaders, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import { connect as http2Connect, constants as h2, type ClientHttp2Session, type ClientHttp2Stream, type IncomingHttpHeaders as Http2Headers } from 'node:http2';
import type { Readable } from 'node:stream';
import { ProbeError, type FailureReason } from '../core/errors.js';
import { asProbeError, untilDeadline } from './abort.js';
import { CONNECT_REASONS, openConnection, type ConnectContext, type Connection } from './connect.js';

export type { IncomingHttpHeaders } from 'node:http';

export interface TimedRequest {
  readonly url: URL;
  readonly method?: 'GET' | 'HEAD' | 'POST';
  readonly headers?: Record<string, string>;
  readonly body?: string;
  /** ALPN to offer; default `http/1.1` only. Offer `h2` to test HTTP/2. */
  readonly alpn?: readonly string[];
  /** Response bodies are read up to this many bytes; more fails the run. */
  readonly maxBodyBytes?: number;
}

export interface TimedResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
  readonly httpVersion: '2' | '1.1';
  readonly connection: Connection;
}

export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;

/**
 * What timedRequest fails with, besides `timeout`: the connection's reasons (plus
 * ALPN_H2_REASONS when `alpn` offers h2), and `unexpected_response` when the request or its body
 * breaks off or the body passes its cap. Any HTTP status is an answer, not a failure.
 */
export const REQUEST_REASONS = [...CONNECT_REASONS, 'unexpected_response'] as const satisfies readonly FailureReason[];

/**
 * The body went past `maxBodyBytes`. Still `unexpected_response`, but typed: the exchange itself
 * worked (status and headers arrived), which a probe judging the protocol must not confuse with
 * a request that broke off.
 */
export class BodyTooLargeError extends ProbeError {
  constructor(where: string, maxBytes: number) {
    super('unexpected_response', `${where}: response body exceeds ${maxBytes} bytes`);
  }
}

/** The response head, and its body still to read. */
interface Head {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Readable;
}

/**
 * One HTTP(S) request on a fresh connection, timed phase by phase (dns, connect, proxy_connect,
 * tls, first_byte, transfer). No keep-alive and no redirects: each run measures the whole path,
 * as blackbox_exporter does, and a redirect is reported as the status it is.
 *
 * Node's own HTTP/1.1 and HTTP/2 clients run on the connection openConnection made. undici did
 * this job before; loading it cost the daemon about 10 MB of its 90 MB budget (it also loads
 * Node's bundled copy and compiles its WebAssembly parser), for one request per connection that
 * needs none of its pooling (docs/performance.md, section 6).
 */
export async function timedRequest(req: TimedRequest, ctx: ConnectContext): Promise<TimedResponse> {
  const secure = req.url.protocol === 'https:';
  const port = req.url.port ? Number(req.url.port) : secure ? 443 : 80;
  const connection = await openConnection({ host: req.url.hostname, port, tls: secure ? { alpn: req.alpn ?? ['http/1.1'] } : undefined }, ctx);
  const where = `${req.method ?? 'GET'} ${req.url.origin}${req.url.pathname}`;
  const h2Session = connection.alpn === 'h2' ? http2Connect(req.url.origin, { createConnection: () => connection.socket }) : undefined;
  // A session error also fails its stream, which is where it is reported.
  h2Session?.on('error', () => undefined);
  try {
    const head = await ctx.record.phase('first_byte', () =>
      untilDeadline(h2Session ? sendHttp2(h2Session, req) : sendHttp1(connection, req), ctx.signal, `waiting for the response to ${where}`).catch((err: unknown) => {
        throw asProbeError(err, 'unexpected_response', where);
      }),
    );
    const body = await ctx.record.phase('transfer', () => readCapped(head.body, req.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES, where, ctx.signal));
    return { status: head.status, headers: head.headers, body, httpVersion: h2Session ? '2' : '1.1', connection };
  } finally {
    h2Session?.destroy();
    connection.socket.destroy();
  }
}

function requestHeaders(req: TimedRequest): OutgoingHttpHeaders {
  return { 'user-agent': 'gitlab-duo-exporter', ...req.headers, ...(req.body === undefined ? {} : { 'content-length': Buffer.byteLength(req.body) }) };
}

/** HTTP/1.1 on the run's socket: with createConnection and no agent, nothing pools or reopens it. */
function sendHttp1(connection: Connection, req: TimedRequest): Promise<Head> {
  return new Promise((resolve, reject) => {
    const request = http1Request({
      createConnection: () => connection.socket,
      method: req.method ?? 'GET',
      path: `${req.url.pathname}${req.url.search}`,
      // The origin as the URL says it (no :443 or :80), as a browser sends it.
      headers: { host: req.url.host, ...requestHeaders(req) },
    });
    request.once('response', (res: IncomingMessage) => resolve({ status: res.statusCode ?? 0, headers: distinct(res), body: res }));
    request.once('error', reject);
    // The socket was ours before the request: a close before any answer is not noticed otherwise.
    request.once('close', () => reject(new Error('the connection closed before a response arrived')));
    request.end(req.body);
  });
}

/**
 * Headers with a repeated one as an array of its values (Node joins them with ", "), so that a
 * caller can tell two values from one that holds a comma.
 */
function distinct(res: IncomingMessage): IncomingHttpHeaders {
  const headers: IncomingHttpHeaders = {};
  for (const [name, values] of Object.entries(res.headersDistinct)) {
    if (values) headers[name] = values.length === 1 && name !== 'set-cookie' ? values[0] : values;
  }
  return headers;
}

/** One HTTP/2 stream; its response headers as HTTP/1.1-style headers (pseudo-headers dropped). */
function sendHttp2(session: ClientHttp2Session, req: TimedRequest): Promise<Head> {
  return new Promise((resolve, reject) => {
    const stream: ClientHttp2Stream = session.request(
      {
        [h2.HTTP2_HEADER_METHOD]: req.method ?? 'GET',
        // As for HTTP/1.1's Host: no :443 (Node's own default adds it).
        [h2.HTTP2_HEADER_AUTHORITY]: req.url.host,
        [h2.HTTP2_HEADER_PATH]: `${req.url.pathname}${req.url.search}`,
        ...requestHeaders(req),
      },
      { endStream: req.body === undefined },
    );
    stream.once('response', (headers: Http2Headers) => {
      const plain: IncomingHttpHeaders = {};
      for (const [name, value] of Object.entries(headers)) if (!name.startsWith(':')) plain[name] = value;
      resolve({ status: Number(headers[h2.HTTP2_HEADER_STATUS]), headers: plain, body: stream });
    });
    let goaway: string | undefined;
    session.once('goaway', (code: number, lastStreamId: number) => (goaway = `the server sent GOAWAY (error code ${code}, last stream ${lastStreamId}) and left this request out`));
    stream.once('error', (err: Error) => reject(goaway ? new Error(`${goaway} (${err.message})`) : err));
    stream.once('close', () => reject(new Error(goaway ?? streamClosedWhy(stream, session))));
    if (req.body !== undefined) stream.end(req.body);
  });
}

/** Why a stream ended without a response: a RST_STREAM code, or a GOAWAY that left it out. */
function streamClosedWhy(stream: ClientHttp2Stream, session: ClientHttp2Session): string {
  if (session.closed || session.destroyed) return 'the server sent GOAWAY or closed the connection before answering the request';
  return `the server reset the stream before answering (HTTP/2 error code ${stream.rstCode ?? 'none'})`;
}

async function readCapped(body: Readable, maxBytes: number, where: string, signal: AbortSignal): Promise<Buffer> {
  const read = async (): Promise<Buffer> => {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of body as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > maxBytes) {
        body.destroy();
        throw new BodyTooLargeError(where, maxBytes);
      }
      chunks.push(chunk);
    }
    return Buffer.concat(chunks);
  };
  return untilDeadline(read(), signal, `reading the response body of ${where}`, () => body.destroy()).catch((err: unknown) => {
    throw asProbeError(err, 'unexpected_response', `reading the response body of ${where}`);
  });
}
