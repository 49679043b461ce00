import { Client } from 'undici';
import type { IncomingHttpHeaders } from 'undici/types/header.js';
import { ProbeError } from '../errors.js';
import { asProbeError, untilDeadline } from './abort.js';
import { openConnection, type ConnectContext, type Connection } from './connect.js';

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
 * The body went past `maxBodyBytes`. Still `unexpected_response`, but typed: the exchange itself
 * worked (status and headers arrived), which a probe judging the protocol must not confuse with
 * a request that broke off.
 */
export class BodyTooLargeError extends ProbeError {
  constructor(where: string, maxBytes: number) {
    super('unexpected_response', `${where}: response body exceeds ${maxBytes} bytes`);
  }
}

/**
 * One HTTP(S) request on a fresh connection, timed phase by phase (dns, connect, proxy_connect,
 * tls, first_byte, transfer). No keep-alive and no redirects: each run measures the whole path,
 * as blackbox_exporter does, and a redirect is reported as the status it is.
 */
export async function timedRequest(req: TimedRequest, ctx: ConnectContext): Promise<TimedResponse> {
  const secure = req.url.protocol === 'https:';
  const port = req.url.port ? Number(req.url.port) : secure ? 443 : 80;
  const host = req.url.hostname;
  const connection = await openConnection({ host, port, tls: secure ? { alpn: req.alpn ?? ['http/1.1'] } : undefined }, ctx);
  let handedOver = false;
  const client = new Client(req.url.origin, {
    // undici must get the socket asynchronously: called back synchronously from inside its
    // dispatch loop, an HTTP/1.1 client never writes the request (only h2 went through).
    // One run, one connection: a second connect (after the socket died) is refused, not reopened.
    connect: (_options, callback) => {
      const first = !handedOver;
      handedOver = true;
      queueMicrotask(() => (first ? callback(null, connection.socket) : callback(new Error('the connection of this run is gone'), null)));
    },
    allowH2: connection.alpn === 'h2',
    pipelining: 1,
    // The run's signal is the deadline; these only stop undici's 300 s defaults from outliving it.
    headersTimeout: 0,
    bodyTimeout: 0,
  });
  try {
    return await exchange(client, req, connection, ctx);
  } finally {
    client.destroy().catch(() => undefined);
    connection.socket.destroy();
  }
}

async function exchange(client: Client, req: TimedRequest, connection: Connection, ctx: ConnectContext): Promise<TimedResponse> {
  const where = `${req.method ?? 'GET'} ${req.url.origin}${req.url.pathname}`;
  const response = await ctx.record.phase('first_byte', () =>
    client
      .request({
        path: `${req.url.pathname}${req.url.search}`,
        method: req.method ?? 'GET',
        headers: { 'user-agent': 'gitlab-duo-exporter', ...req.headers },
        body: req.body,
        signal: ctx.signal,
      })
      .catch((err: unknown) => {
        throw ctx.signal.aborted ? new ProbeError('timeout', `deadline reached waiting for the response to ${where}`) : asProbeError(err, 'unexpected_response', where);
      }),
  );
  const body = await ctx.record.phase('transfer', () =>
    readCapped(response.body, req.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES, where, ctx.signal),
  );
  return {
    status: response.statusCode,
    headers: response.headers,
    body,
    httpVersion: connection.alpn === 'h2' ? '2' : '1.1',
    connection,
  };
}

async function readCapped(
  body: AsyncIterable<Buffer> & { destroy(err?: Error): unknown },
  maxBytes: number,
  where: string,
  signal: AbortSignal,
): Promise<Buffer> {
  const read = async (): Promise<Buffer> => {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of body) {
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
