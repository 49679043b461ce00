import { once } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server } from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { onTestFinished } from 'vitest';
import { LOOPBACK } from './servers.js';
import { createPki, type TestPki } from './tls.js';

/**
 * A fake GitLab for the instance probes and the GitLab client: HTTPS (HTTP/1.1) on 127.0.0.1 port
 * 0 with a certificate for gitlab.test, reached through a `resolve:` pin; one handler answers REST
 * and GraphQL. test/helpers/instance-probe.ts points an instance's config at it.
 */

export const HOST = 'gitlab.test';
export const ADMIN_TOKEN = 'sentinel-admin-0123456789abcdef';
export const DUO_TOKEN = 'sentinel-duo-fedcba9876543210';

export interface FakeRequest {
  readonly method: string;
  /** Path and query as sent. */
  readonly url: string;
  readonly path: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: string;
  /** The parsed JSON body, when there was one. */
  readonly json: unknown;
}

export interface FakeReply {
  readonly status: number;
  readonly headers?: Record<string, string>;
  readonly json?: unknown;
  readonly text?: string;
  /** Never answer (the client's deadline must end the exchange). */
  readonly hang?: boolean;
}

export type Handler = (req: FakeRequest) => FakeReply;

export interface FakeGitLab {
  readonly port: number;
  readonly url: string;
  readonly requests: FakeRequest[];
  close(): Promise<void>;
}

let pkiPromise: Promise<TestPki> | undefined;
/** The fake GitLab's certificates (one CA for the whole test file): trust `ca.certPem` to reach it. */
export function pki(): Promise<TestPki> {
  pkiPromise ??= createPki({ dns: [HOST] });
  return pkiPromise;
}

export const json = (status: number, body: unknown, headers: Record<string, string> = {}): FakeReply => ({ status, json: body, headers });

/** Starts the fake GitLab; it closes when the test ends. `onUpgrade` takes WebSocket upgrades. */
export async function startFakeGitLab(handler: Handler, onUpgrade?: (req: IncomingMessage, socket: Duplex, head: Buffer) => void): Promise<FakeGitLab> {
  const { valid } = await pki();
  const requests: FakeRequest[] = [];
  const server: Server = createHttpsServer({ key: valid.keyPem, cert: valid.chainPem, ALPNProtocols: ['http/1.1'] }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => answer(req, res, Buffer.concat(chunks).toString('utf8')));
  });
  const answer = (req: IncomingMessage, res: ServerResponse, body: string): void => {
    let parsed: unknown;
    try {
      parsed = body ? JSON.parse(body) : undefined;
    } catch {
      parsed = undefined;
    }
    const url = req.url ?? '/';
    const seen: FakeRequest = { method: req.method ?? '', url, path: url.replace(/\?.*$/, ''), headers: req.headers, body, json: parsed };
    requests.push(seen);
    const reply = handler(seen);
    if (reply.hang) return;
    const text = reply.json !== undefined ? JSON.stringify(reply.json) : (reply.text ?? '');
    const type = reply.json !== undefined ? 'application/json' : 'text/plain';
    res.writeHead(reply.status, { 'content-type': type, ...reply.headers });
    res.end(text);
  };
  if (onUpgrade) server.on('upgrade', onUpgrade);
  server.on('tlsClientError', () => undefined);
  const sockets = new Set<Socket>();
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  server.listen(0, LOOPBACK);
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      const closed = once(server, 'close');
      server.close();
      for (const s of sockets) s.destroy();
      await closed;
    })();
    return closing;
  };
  onTestFinished(close);
  return { port, url: `https://${HOST}:${port}`, requests, close };
}

/** A GraphQL handler: answers POST /api/graphql with `data`/`errors` from `answer`. */
export function graphqlHandler(answer: (query: string, variables: unknown) => FakeReply): Handler {
  return (req) => {
    if (req.method !== 'POST' || req.path !== '/api/graphql') return json(404, { error: '404 Not Found' });
    const body = (req.json ?? {}) as { query?: string; variables?: unknown };
    return answer(body.query ?? '', body.variables);
  };
}
