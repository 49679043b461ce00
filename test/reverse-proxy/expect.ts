import { expect } from 'vitest';
import type { FailureReason } from '../../src/core/errors.js';
import { expectOutcome, factValue } from '../helpers/probe-harness.js';
import { runThroughProxy, upgradeThroughProxy, type Backend, type ProxyProcess } from './helpers.js';

/** Workhorse's answer to a GET on /-/cable without the upgrade headers (the simulator's too). */
export const WORKHORSE_UPGRADE_REQUIRED = 'websocket upgrade required\n';

/** One proxy configuration and what each inbound probe must report through it. */
export interface ProxyRow<Config> {
  readonly name: string;
  readonly config: Config;
  readonly cable: {
    readonly reason: FailureReason | undefined;
    /** The handshake status the probe exports (101 when the proxy passes the upgrade). */
    readonly status: number;
    readonly message?: RegExp;
    /** When refused: the body of the refusal, which says whether GitLab or the proxy refused. */
    readonly refusalBody?: string;
  };
  readonly http2: { readonly reason: FailureReason | undefined; readonly version: 2 | 1.1; readonly message?: RegExp };
}

/**
 * Runs websocket_cable then instance_http2 through `proxy` and checks each against the row: the
 * one-hot failure reason, the message, the handshake status / HTTP version facts, and the
 * proxy's access log (the requests went through it, with the protocol the facts say). A failing
 * row shows the results and the proxy's logs.
 */
export async function expectProxyRow<Config>(row: ProxyRow<Config>, backend: Backend, proxy: ProxyProcess): Promise<void> {
  const cable = await runThroughProxy('websocket_cable', backend, proxy.port);
  const h2 = await runThroughProxy('instance_http2', backend, proxy.port);
  const seen = (): string =>
    `websocket_cable: ${cable.result?.reason ?? 'ok'} ${cable.result?.message ?? ''}\n` +
    `instance_http2: ${h2.result?.reason ?? 'ok'} ${h2.result?.message ?? ''}\n${proxy.logs()}`;

  expect(cable.result?.reason, seen()).toBe(row.cable.reason);
  await expectOutcome(cable, row.cable.reason);
  expect(await factValue(cable, 'gitlab_duo_http_status_code'), seen()).toBe(row.cable.status);
  if (row.cable.message) expect(cable.result?.message).toMatch(row.cable.message);
  // Authenticated end to end: the simulator's Duo user token reached ActionCable through the proxy.
  if (row.cable.reason === undefined) expect(cable.result?.notes.join(' ')).toContain('with the Duo user token');
  expect(cable.result?.message ?? '').not.toContain(backend.sim.duoUserToken);
  expect(await proxy.accessLogLine(new RegExp(`"GET /-/cable HTTP/1\\.1" ${row.cable.status} websocket$`)), seen()).toBeDefined();
  if (row.cable.refusalBody !== undefined) {
    expect(await upgradeThroughProxy(backend, proxy.port)).toEqual({ status: row.cable.status, body: row.cable.refusalBody });
  }

  expect(h2.result?.reason, seen()).toBe(row.http2.reason);
  await expectOutcome(h2, row.http2.reason);
  expect(await factValue(h2, 'gitlab_duo_http_version'), seen()).toBe(row.http2.version);
  if (row.http2.message) expect(h2.result?.message).toMatch(row.http2.message);
  const version = row.http2.version === 2 ? '2\\.0' : '1\\.1';
  expect(await proxy.accessLogLine(new RegExp(`"GET /api/v4/metadata HTTP/${version}" 401 `)), seen()).toBeDefined();
}
