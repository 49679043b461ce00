import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { WebSocketServer, type WebSocket } from 'ws';
import { interpretFrame } from '../../src/gitlab/cable.js';
import type { FailureReason } from '../../src/core/errors.js';
import { DUO_TOKEN, HOST, json, startFakeGitLab } from '../helpers/fake-gitlab.js';
import { runInstanceProbe } from '../helpers/instance-probe.js';
import { fact, phaseSeconds } from '../helpers/probe-harness.js';
import { startConnectProxy } from '../helpers/proxy.js';
import { openSocketCount, settledSocketCount } from '../helpers/servers.js';

/**
 * websocket_cable against a real WebSocket server behind an HTTPS listener that behaves like
 * Workhorse + ActionCable (facts §5), one behaviour per row.
 */

type Mode = 'ok' | 'strip' | 'bad_origin' | 'no_subprotocol' | 'garbage' | 'binary' | 'silent' | 'unauthorized' | 'close_early' | 'reset' | 'redirect';

interface Seen {
  origin?: string;
  authorization?: string;
  protocols?: string;
}

function refuse(socket: Duplex, status: string, body: string, extra = ''): void {
  socket.end(`HTTP/1.1 ${status}\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${extra}Connection: close\r\n\r\n${body}`);
}

async function cableServer(mode: Mode) {
  const seen: Seen = {};
  const wss = new WebSocketServer({
    noServer: true,
    handleProtocols: (protocols) => (mode !== 'no_subprotocol' && protocols.has('actioncable-v1-json') ? 'actioncable-v1-json' : false),
  });
  const welcome = (ws: WebSocket): void => {
    ws.on('error', () => undefined);
    if (mode === 'garbage') ws.send('<html>not json</html>');
    else if (mode === 'binary') ws.send(Buffer.from([1, 2, 3]));
    else if (mode === 'unauthorized') ws.send(JSON.stringify({ type: 'disconnect', reason: 'unauthorized', reconnect: false }));
    else if (mode === 'close_early') ws.close(1011);
    else if (mode !== 'silent') {
      ws.send(JSON.stringify({ type: 'ping', message: 1 }));
      ws.send(JSON.stringify({ type: 'welcome' }));
    }
  };
  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    socket.on('error', () => undefined);
    seen.origin = req.headers.origin;
    seen.authorization = req.headers.authorization;
    seen.protocols = req.headers['sec-websocket-protocol'] as string | undefined;
    if (mode === 'reset') return void socket.destroy();
    if (mode === 'strip') return refuse(socket, '400 Bad Request', 'websocket upgrade required\n');
    if (mode === 'redirect') return refuse(socket, '302 Found', '', 'Location: https://elsewhere.test/-/cable\r\n');
    const allowed = mode === 'bad_origin' ? 'https://gitlab.example.com' : `https://${req.headers.host}`;
    if (req.headers.origin !== allowed) return refuse(socket, '404 Not Found', 'Page not found');
    wss.handleUpgrade(req, socket, head, welcome);
  };
  const server = await startFakeGitLab(() => json(404, {}), onUpgrade);
  return { server, seen, wss };
}

describe('websocket_cable', () => {
  it.each<{ mode: Mode; reason: FailureReason | undefined; status?: number; text?: RegExp }>([
    { mode: 'ok', reason: undefined, status: 101 },
    { mode: 'strip', reason: 'websocket_upgrade', status: 400, text: /400 websocket upgrade required — a proxy in front strips Upgrade\/Connection headers/ },
    { mode: 'bad_origin', reason: 'websocket_upgrade', status: 404, text: /404 — the Origin was refused or \/-\/cable is not routed/ },
    { mode: 'redirect', reason: 'websocket_upgrade', status: 302, text: /redirect/ },
    { mode: 'reset', reason: 'websocket_upgrade', text: /no answer to the WebSocket upgrade/ },
    { mode: 'no_subprotocol', reason: 'websocket_protocol', status: 101, text: /subprotocol/ },
    { mode: 'garbage', reason: 'websocket_protocol', status: 101, text: /not JSON/ },
    { mode: 'binary', reason: 'websocket_protocol', status: 101, text: /binary frame/ },
    { mode: 'close_early', reason: 'websocket_protocol', status: 101, text: /closed \(code 1011\) before/ },
    { mode: 'unauthorized', reason: 'auth', status: 101, text: /unauthorized — GitLab rejected the duo_user_token/ },
    // The runner's own deadline message wins the race with the probe's ("waiting for ... welcome").
    { mode: 'silent', reason: 'timeout', status: 101 },
  ])('$mode → $reason', async ({ mode, reason, status, text }) => {
    const before = openSocketCount();
    const { server, seen } = await cableServer(mode);
    const outcome = await runInstanceProbe('websocket_cable', { port: server.port, timeout: '1s' });
    const result = outcome.result!;
    expect({ reason: result.reason, message: result.message }).toMatchObject({ reason });
    if (text) expect(result.message).toMatch(text);
    expect(await fact(outcome, 'gitlab_duo_http_status_code')).toBe(status);
    // What ActionCable needs from a non-browser client, and the Duo token as Bearer.
    expect(seen.origin).toBe(`https://${HOST}:${server.port}`);
    expect(seen.protocols).toBe('actioncable-v1-json');
    expect(seen.authorization).toBe(`Bearer ${DUO_TOKEN}`);
    expect(result.message).not.toContain(DUO_TOKEN);
    if (reason === undefined) {
      for (const p of ['dns', 'connect', 'tls', 'upgrade', 'welcome']) expect(await phaseSeconds(outcome, p), p).toBeGreaterThan(0);
    }
    expect(result.durationSeconds).toBeLessThan(1.5);
    await server.close();
    expect(await settledSocketCount(before)).toBe(before);
  });

  it('connects anonymously when no Duo token is configured', async () => {
    const { server, seen } = await cableServer('ok');
    const outcome = await runInstanceProbe('websocket_cable', { port: server.port, duoUserToken: null, adminToken: null });
    expect(outcome.result?.success).toBe(true);
    expect(seen.authorization).toBeUndefined();
    expect(outcome.result?.notes.join(' ')).toContain('anonymously');
  });

  it('keeps a relative URL root in the cable path', async () => {
    let path: string | undefined;
    const server = await startFakeGitLab(
      () => json(404, {}),
      (req, socket) => {
        path = req.url;
        refuse(socket, '400 Bad Request', 'websocket upgrade required\n');
      },
    );
    await runInstanceProbe('websocket_cable', { port: server.port, urlPath: '/gitlab/' });
    expect(path).toBe('/gitlab/-/cable');
  });

  it('goes through the configured proxy on the connection whose phases it measured', async () => {
    const { server } = await cableServer('ok');
    const proxy = await startConnectProxy({ mode: 'allow', hosts: { [HOST]: '127.0.0.1' } });
    const outcome = await runInstanceProbe('websocket_cable', { port: server.port, proxy: { url: proxy.url } });
    expect(outcome.result?.success, outcome.result?.message).toBe(true);
    expect(proxy.targets()).toEqual([`${HOST}:${server.port}`]);
    expect(await phaseSeconds(outcome, 'proxy_connect')).toBeGreaterThan(0);
  });

  it('is skipped without a GitLab URL', async () => {
    const outcome = await runInstanceProbe('websocket_cable', {});
    expect(outcome.planned.skippedBecause).toMatch(/no GitLab URL configured/);
  });
});

describe('interpretFrame', () => {
  it.each<[string, string]>([
    ['{"type":"welcome"}', 'welcome'],
    ['{"type":"ping","message":1700000000}', 'ignore'],
    ['{"identifier":"{}","message":{}}', 'ignore'],
    ['{"type":"confirm_subscription"}', 'ignore'],
    ['{"type":"disconnect","reason":"unauthorized","reconnect":false}', 'auth'],
    ['{"type":"disconnect","reason":"server_restart","reconnect":true}', 'websocket_protocol'],
    ['{"type":"surprise"}', 'websocket_protocol'],
    ['[1,2]', 'websocket_protocol'],
    ['"welcome"', 'websocket_protocol'],
    ['nope', 'websocket_protocol'],
  ])('%s → %s', (frame, expected) => {
    const outcome = interpretFrame(Buffer.from(frame), false);
    expect(typeof outcome === 'string' ? outcome : outcome.reason).toBe(expected);
  });
});
