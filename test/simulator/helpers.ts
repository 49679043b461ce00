import type { LookupAddress, LookupOptions } from 'node:dns';
import { connect as tlsConnect } from 'node:tls';
import { Agent, request } from 'undici';
import { onTestFinished } from 'vitest';
import { startSimulator, type Simulator, type SimulatorOptions } from '../../src/simulator/index.js';

/** Starts a simulator for the current test and closes it when the test ends. */
export async function useSimulator(options: SimulatorOptions = {}): Promise<Simulator> {
  const sim = await startSimulator(options);
  onTestFinished(() => sim.close());
  return sim;
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/** A `lookup` that pins every name to 127.0.0.1, the way the exporter's `resolve:` does. */
export function pinnedLookup(_host: string, options: LookupOptions, callback: LookupCallback): void {
  if (options.all) callback(null, [{ address: '127.0.0.1', family: 4 }]);
  else callback(null, '127.0.0.1', 4);
}

export function hostAndPort(url: string): { host: string; port: number } {
  const parsed = new URL(url.includes('://') ? url : `https://${url}`);
  return { host: parsed.hostname, port: Number(parsed.port) };
}

/** An undici agent that trusts the simulator's CA and needs no DNS. */
export function agentFor(sim: Simulator, extra: { allowH2?: boolean } = {}): Agent {
  const agent = new Agent({ connect: { ca: sim.caPem, lookup: pinnedLookup }, ...extra });
  onTestFinished(() => agent.close());
  return agent;
}

export interface HttpAnswer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly text: string;
}

export async function httpRequest(
  agent: Agent,
  url: string,
  init: { method?: 'GET' | 'POST' | 'HEAD' | 'PUT'; headers?: Record<string, string>; body?: string; signal?: AbortSignal } = {},
): Promise<HttpAnswer> {
  const res = await request(url, { dispatcher: agent, method: init.method ?? 'GET', headers: init.headers, body: init.body, signal: init.signal });
  return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
}

export function bearer(token: string): Record<string, string> {
  return { authorization: `Bearer ${token}` };
}

export async function graphql(agent: Agent, sim: Simulator, token: string | undefined, query: string, variables?: Record<string, unknown>) {
  const headers: Record<string, string> = { 'content-type': 'application/json', ...(token ? bearer(token) : {}) };
  const res = await httpRequest(agent, `${sim.gitlabUrl}/api/graphql`, { method: 'POST', headers, body: JSON.stringify({ query, variables }) });
  return { status: res.status, body: JSON.parse(res.text) as { data?: Record<string, unknown> | null; errors?: { message: string; path?: string[] }[] } };
}

/** The ALPN protocol a TLS handshake with `offer` negotiates; false when none, an Error when it fails. */
export function negotiateAlpn(sim: Simulator, target: string, offer: string[]): Promise<string | false | Error> {
  const { host, port } = hostAndPort(target);
  return new Promise((resolve) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, servername: host, ca: sim.caPem, ALPNProtocols: offer }, () => {
      resolve(socket.alpnProtocol ?? false);
      socket.destroy();
    });
    socket.on('error', (err) => resolve(err));
  });
}

export const completionBody = JSON.stringify({
  current_file: { file_name: 'x.py', content_above_cursor: 'def hello', content_below_cursor: '' },
  intent: 'completion',
});
