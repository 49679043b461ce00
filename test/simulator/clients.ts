import * as grpc from '@grpc/grpc-js';
import { connect as http2Connect } from 'node:http2';
import WebSocket from 'ws';
import { DUO_WORKFLOW_SERVICE, HEALTH_SERVICE } from '../../src/simulator/dws.js';
import type { Simulator } from '../../src/simulator/index.js';
import { hostAndPort, pinnedLookup } from './helpers.js';

export interface GrpcAnswer {
  readonly code: number;
  readonly status?: string;
}

/** grpc.health.v1.Health/Check with @grpc/grpc-js, to the DWS host name pinned to loopback. */
export function grpcHealth(sim: Simulator, service: string, timeoutMs = 2000): Promise<GrpcAnswer> {
  const { host, port } = hostAndPort(sim.duoWorkflowService);
  const Client = grpc.makeGenericClientConstructor(HEALTH_SERVICE, 'Health');
  const client = new Client(`127.0.0.1:${port}`, grpc.credentials.createSsl(Buffer.from(sim.caPem)), {
    'grpc.ssl_target_name_override': host,
    'grpc.default_authority': sim.duoWorkflowService,
  });
  const check = client.Check!.bind(client) as (
    request: { service: string },
    options: grpc.CallOptions,
    callback: (err: grpc.ServiceError | null, response?: { status: string }) => void,
  ) => void;
  return new Promise((resolve) => {
    check({ service }, { deadline: Date.now() + timeoutMs }, (err, response) => {
      client.close();
      resolve(err ? { code: err.code } : { code: grpc.status.OK, status: response?.status });
    });
  });
}

/** DuoWorkflow/ListTools with @grpc/grpc-js and `metadata`; the status code (0 = OK). */
export function grpcListTools(sim: Simulator, metadata: Record<string, string>, timeoutMs = 2000): Promise<number> {
  const { host, port } = hostAndPort(sim.duoWorkflowService);
  const Client = grpc.makeGenericClientConstructor(DUO_WORKFLOW_SERVICE, 'DuoWorkflow');
  const client = new Client(`127.0.0.1:${port}`, grpc.credentials.createSsl(Buffer.from(sim.caPem)), {
    'grpc.ssl_target_name_override': host,
    'grpc.default_authority': sim.duoWorkflowService,
  });
  const meta = new grpc.Metadata();
  for (const [key, value] of Object.entries(metadata)) meta.set(key, value);
  const list = client.ListTools!.bind(client) as (request: object, metadata: grpc.Metadata, options: grpc.CallOptions, callback: (err: grpc.ServiceError | null) => void) => void;
  return new Promise((resolve) => {
    list({}, meta, { deadline: Date.now() + timeoutMs }, (err) => {
      client.close();
      resolve(err ? err.code : grpc.status.OK);
    });
  });
}

/** An HTTP/2 GET over a session that must negotiate h2; returns the status or the error. */
export function http2Get(sim: Simulator, path: string): Promise<{ alpn: string | false | undefined; status: number } | Error> {
  return new Promise((resolve) => {
    const session = http2Connect(sim.gitlabUrl, { ca: sim.caPem, lookup: pinnedLookup });
    const done = (value: { alpn: string | false | undefined; status: number } | Error) => {
      session.close();
      session.destroy();
      resolve(value);
    };
    session.on('error', done);
    session.on('connect', () => {
      const stream = session.request({ ':path': path });
      stream.on('response', (headers) => {
        stream.resume();
        stream.on('end', () => done({ alpn: session.alpnProtocol, status: Number(headers[':status']) }));
      });
      stream.on('error', done);
      stream.end();
    });
  });
}

export interface CableOutcome {
  /** HTTP status when the upgrade was refused. */
  readonly refusedWith?: number;
  readonly refusedBody?: string;
  readonly protocol?: string;
  /** Messages received until the first non-ping message or the close. */
  readonly messages: Record<string, unknown>[];
  readonly closed: boolean;
}

/** Opens wss://<instance>/-/cable like an IDE would and records what happens in the first moments. */
export function openCable(
  sim: Simulator,
  options: { origin?: string | null; token?: string; protocols?: string[]; waitMs?: number; send?: Record<string, unknown> } = {},
): Promise<CableOutcome> {
  const host = new URL(sim.gitlabUrl).host;
  const origin = options.origin === undefined ? `https://${host}` : options.origin;
  const headers: Record<string, string> = options.token ? { authorization: `Bearer ${options.token}` } : {};
  if (origin !== null) headers.origin = origin;
  const ws = new WebSocket(`wss://${host}/-/cable`, options.protocols ?? ['actioncable-v1-json', 'actioncable-unsupported'], {
    ca: sim.caPem,
    lookup: pinnedLookup,
    headers,
  });
  const messages: Record<string, unknown>[] = [];
  return new Promise((resolve) => {
    const timer = setTimeout(() => finish(false), options.waitMs ?? 1500);
    const finish = (closed: boolean, refused?: { status: number; body: string }) => {
      clearTimeout(timer);
      ws.removeAllListeners();
      ws.on('error', () => undefined);
      ws.terminate();
      resolve({ messages, closed, protocol: ws.protocol || undefined, refusedWith: refused?.status, refusedBody: refused?.body });
    };
    ws.on('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => finish(true, { status: res.statusCode ?? 0, body }));
    });
    // Without waitMs: done at the first meaningful message (after the answer to `send`, if any).
    const meaningful = (m: Record<string, unknown>) => m.type !== 'ping' && !(options.send && m.type === 'welcome');
    ws.on('message', (data) => {
      const message = JSON.parse(data.toString()) as Record<string, unknown>;
      messages.push(message);
      if (options.send && message.type === 'welcome') ws.send(JSON.stringify(options.send));
      if (options.waitMs === undefined && meaningful(message)) finish(false);
    });
    ws.on('close', () => finish(true));
    ws.on('error', () => finish(true));
  });
}
