import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server } from 'node:https';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import pino, { type Logger } from 'pino';
import type { Registry } from 'prom-client';
import { onTestFinished } from 'vitest';
import { stringify } from 'yaml';
import { parseConfigText } from '../../src/config/load.js';
import type { Env } from '../../src/core/env.js';
import { createMetrics } from '../../src/metrics/registry.js';
import { loadCloudflareRanges, type CloudflareRanges } from '../../src/net/cloudflare.js';
import { buildPlan, type Plan, type PlannedProbe } from '../../src/runner/plan.js';
import { RunRecorder } from '../../src/runner/recorder.js';
import type { ApiContext } from '../../src/gitlab/request.js';
import { API_PHASES } from '../../src/gitlab/request.js';
import type { ProbeResult } from '../../src/runner/result.js';
import { runProbe } from '../../src/runner/run-probe.js';
import type { Capabilities } from '../../src/gitlab/capabilities.js';
import { resolveEnvironment, type InstanceEnvironment } from '../../src/gitlab/deployment.js';
import type { ProbeDefinition } from '../../src/probes/types.js';
import { ResultStore } from '../../src/runner/store.js';
import { findSamples, type Sample } from '../helpers/run.js';
import { LOOPBACK } from '../helpers/servers.js';
import { createPki, type TestPki } from '../helpers/tls.js';

/**
 * A fake GitLab for the instance probes: HTTPS (HTTP/1.1) on 127.0.0.1 port 0 with a certificate
 * for gitlab.test, reached through a `resolve:` pin; one handler answers REST and GraphQL.
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
export function pki(): Promise<TestPki> {
  pkiPromise ??= createPki({ dns: [HOST] });
  return pkiPromise;
}

export const json = (status: number, body: unknown, headers: Record<string, string> = {}): FakeReply => ({ status, json: body, headers });

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

export interface InstanceSpec {
  /** Port of the fake GitLab; the URL is https://gitlab.test:<port> (plus `urlPath`). */
  readonly port?: number;
  readonly url?: string;
  readonly urlPath?: string;
  readonly adminToken?: string | null;
  readonly duoUserToken?: string | null;
  /** agent_platform_token; none unless given. */
  readonly agentPlatformToken?: string;
  readonly timeout?: string;
  readonly thresholds?: Record<string, string>;
  readonly proxyEnv?: { rails_env_dir: string; workhorse_env_dir: string };
  readonly proxy?: { url: string; no_proxy?: string[] };
  readonly env?: Env;
  readonly logger?: Logger;
}

export interface InstanceOutcome {
  readonly planned: PlannedProbe;
  readonly result: ProbeResult | undefined;
  readonly registry: Registry;
  exposition(): Promise<string>;
}

let ranges: CloudflareRanges | undefined;

/** The planned instance for `spec` (config text → plan), with `probe`'s settings. */
async function planFor(probe: string, spec: InstanceSpec): Promise<{ plan: Plan; planned: PlannedProbe }> {
  const dir = mkdtempSync(join(tmpdir(), 'gde-gitlab-'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  const caFile = join(dir, 'ca.pem');
  writeFileSync(caFile, (await pki()).ca.certPem);
  const instance: Record<string, unknown> = {
    name: 'test',
    tls: { ca_file: caFile },
    probes: { [probe]: { timeout: spec.timeout ?? '3s' } },
    proxy_env: spec.proxyEnv ?? { rails_env_dir: join(dir, 'no-rails'), workhorse_env_dir: join(dir, 'no-workhorse') },
  };
  const url = spec.url ?? (spec.port !== undefined ? `https://${HOST}:${spec.port}${spec.urlPath ?? ''}` : undefined);
  if (url) instance.url = url;
  if (spec.port !== undefined) instance.resolve = { [`${HOST}:${spec.port}`]: LOOPBACK };
  if (spec.adminToken !== null) instance.admin_token = spec.adminToken ?? ADMIN_TOKEN;
  if (spec.duoUserToken !== null) instance.duo_user_token = spec.duoUserToken ?? DUO_TOKEN;
  if (spec.agentPlatformToken !== undefined) instance.agent_platform_token = spec.agentPlatformToken;
  if (spec.thresholds) instance.thresholds = spec.thresholds;
  if (spec.proxy) instance.proxy = { no_proxy: [], ...spec.proxy };
  const env = spec.env ?? {};
  const config = await parseConfigText(stringify({ instances: [instance] }), 'test.yaml', { env });
  ranges ??= loadCloudflareRanges();
  const plan = buildPlan(config, ranges, env);
  const planned = plan.probes.find((p) => p.probe.name === probe);
  if (!planned) throw new Error(`no probe ${probe}`);
  return { plan, planned };
}

/** Plans one instance and runs `probe` once, as the exporter would. */
export async function runInstanceProbe(probe: string, spec: InstanceSpec): Promise<InstanceOutcome> {
  const { plan, planned } = await planFor(probe, spec);
  const store = new ResultStore();
  const metrics = createMetrics({ store, plan: () => plan });
  let result: ProbeResult | undefined;
  if (planned.skippedBecause === undefined) {
    result = await runProbe({ probe: planned.probe, instance: planned.instance, settings: planned.settings, net: planned.net, logger: spec.logger ?? pino({ level: 'silent' }) });
    store.record(result);
  }
  return { planned, result, registry: metrics.prometheus, exposition: () => metrics.prometheus.metrics() };
}

/** A client context for calling src/gitlab directly, with its own deadline. */
export async function apiContext(spec: InstanceSpec, timeoutMs = 3000): Promise<{ ctx: ApiContext; record: RunRecorder }> {
  const { planned } = await planFor('version', spec);
  const record = new RunRecorder(API_PHASES);
  return { ctx: { instance: planned.instance, net: planned.net, signal: AbortSignal.timeout(timeoutMs), record }, record };
}

/**
 * Runs `probe` once against the fake GitLab on `port` in the environment `caps` describe (the
 * plan-less path: runInstanceProbe's plan has nothing detected, so it skips some probes).
 */
export async function runInEnvironment(probe: ProbeDefinition, port: number, caps: Capabilities | undefined): Promise<{ result: ProbeResult; environment: InstanceEnvironment }> {
  const { ctx } = await apiContext({ port });
  const environment = resolveEnvironment(ctx.instance, caps);
  const settings = ctx.instance.probeSettings[probe.name]!;
  const result = await runProbe({ probe, instance: ctx.instance, settings, net: ctx.net, logger: pino({ level: 'silent' }), environment });
  return { result, environment };
}

/** The value of the one sample of `name` with `labels` (undefined when none). */
export async function fact(outcome: InstanceOutcome, name: string, labels: Record<string, string> = {}): Promise<number | undefined> {
  const found = await findSamples(outcome.registry, name, labels);
  if (found.length > 1) throw new Error(`${name}${JSON.stringify(labels)}: ${found.length} samples`);
  return found[0]?.value;
}

export async function samples(outcome: InstanceOutcome, name: string): Promise<Sample[]> {
  return findSamples(outcome.registry, name);
}

export async function phase(outcome: InstanceOutcome, name: string): Promise<number | undefined> {
  return fact(outcome, 'gitlab_duo_probe_phase_duration_seconds', { phase: name });
}

/** A GraphQL handler: answers POST /api/graphql with `data`/`errors` from `answer`. */
export function graphqlHandler(answer: (query: string, variables: unknown) => FakeReply): Handler {
  return (req) => {
    if (req.method !== 'POST' || req.path !== '/api/graphql') return json(404, { error: '404 Not Found' });
    const body = (req.json ?? {}) as { query?: string; variables?: unknown };
    return answer(body.query ?? '', body.variables);
  };
}
