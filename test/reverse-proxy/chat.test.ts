import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FailureReason } from '../../src/core/errors.js';
import { expectOutcome, factValue, phaseSeconds } from '../helpers/probe-harness.js';
import { startApache, type ApacheOptions } from './apache.js';
import { runThroughProxy, startBackend, type Backend, type ProxyProcess } from './helpers.js';
import { startNginx, type NginxOptions } from './nginx.js';

/**
 * duo_chat through Debian's nginx and apache2 in front of the simulated GitLab, whose Sidekiq takes
 * ANSWER_DELAY_MS to answer /help. The configurations of docs/probes.md pass; a read timeout
 * shorter than the answer (the real proxy setting that breaks a chat stream: neither server can
 * be made to buffer an upgraded connection) closes the WebSocket before the answer, and the probe
 * says so with websocket_protocol. Without the upgrade rules the chat fails like websocket_cable.
 */

// Longer than the 1 s read timeouts below, well under the probe's 5 s timeout. With ActionCable's
// pings every 3 s, a 2.5 s wait always holds a silence of more than 1 s.
const ANSWER_DELAY_MS = 2500;
const CLOSED = /^the WebSocket closed \(code \d+\) after the stream started, before the answer completed: something in front closed the idle WebSocket/;

let backend: Backend | undefined;

beforeAll(async () => {
  backend = await startBackend({ chatAnswerDelayMs: ANSWER_DELAY_MS });
});

afterAll(async () => {
  await backend?.sim.close();
});

interface ChatRow<Config> {
  readonly name: string;
  readonly config: Config;
  readonly reason: FailureReason | undefined;
  readonly message?: RegExp;
}

async function expectChat(row: ChatRow<unknown>, proxy: ProxyProcess): Promise<void> {
  const outcome = await runThroughProxy('duo_chat', backend!, proxy.port);
  const result = outcome.result!;
  const logs = `${result.message ?? ''}\n${result.notes.join('\n')}\n${proxy.logs()}`;
  await expectOutcome(outcome, row.reason);
  if (row.message) expect(result.message, logs).toMatch(row.message);
  if (row.reason === undefined) {
    expect(result.notes.join('\n')).toMatch(/\/help answered over the cable/);
    // The answer's wait is the simulated Sidekiq's, measured through the proxy.
    expect((await phaseSeconds(outcome, 'complete'))!).toBeGreaterThan(ANSWER_DELAY_MS / 1000 - 0.5);
  }
  if (row.reason !== 'websocket_upgrade') expect(await factValue(outcome, 'gitlab_duo_http_status_code')).toBe(101);
}

describe('duo_chat through Debian nginx', () => {
  it.each<ChatRow<NginxOptions>>([
    { name: 'the docs/probes.md configuration → passes', config: { http2: true, upgradeHeaders: true }, reason: undefined },
    { name: 'proxy_read_timeout 1s, shorter than the answer → websocket_protocol (closed before the answer)', config: { http2: true, upgradeHeaders: true, readTimeout: '1s' }, reason: 'websocket_protocol', message: CLOSED },
    { name: 'without the Upgrade/Connection headers → websocket_upgrade', config: { http2: true, upgradeHeaders: false }, reason: 'websocket_upgrade', message: /^400 websocket upgrade required/ },
  ])('$name', async (row) => {
    expect(backend, 'the simulator did not start').toBeDefined();
    await expectChat(row, await startNginx(backend!, row.config));
  });
});

describe('duo_chat through Debian apache2', () => {
  it.each<ChatRow<ApacheOptions>>([
    { name: 'the docs/probes.md configuration → passes', config: { http2: true, websocketRules: true }, reason: undefined },
    { name: 'Timeout 1, shorter than the answer → websocket_protocol (closed before the answer)', config: { http2: true, websocketRules: true, timeout: 1 }, reason: 'websocket_protocol', message: CLOSED },
  ])('$name', async (row) => {
    expect(backend, 'the simulator did not start').toBeDefined();
    await expectChat(row, await startApache(backend!, row.config));
  });
});
