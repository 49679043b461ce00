import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { extractToken, headerValue, hostHeader, requestUrl } from './http-util.js';
import { subscribeChat } from './chat.js';
import type { Caller, SimContext } from './world.js';

export interface Cable {
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  close(): void;
}

export const CABLE_PATH = '/-/cable';
/** Rails' ActionCable protocol list (actioncable/lib/action_cable.rb INTERNAL). */
export const CABLE_PROTOCOL = 'actioncable-v1-json';
/** Rails' BEAT_INTERVAL. */
const PING_INTERVAL_MS = 3000;
/** The origin ActionCable allows in the cable_bad_origin scenario: never the one probes send. */
const FOREIGN_ORIGIN = 'https://gitlab.example.com';
/** Workhorse's answer to a GET on /-/cable that is not a WebSocket upgrade (routes.go wsRouteStrict). */
export const UPGRADE_REQUIRED = 'websocket upgrade required\n';

/** Answers an upgrade request with a plain HTTP response and hangs up, as Workhorse and Rails do. */
export function refuseUpgrade(socket: Duplex, status: number, reason: string, body: string): void {
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\n` +
      'Content-Type: text/plain; charset=utf-8\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n` +
      'Connection: close\r\n\r\n' +
      body,
  );
}

function isWebSocketUpgrade(req: IncomingMessage): boolean {
  const upgrade = headerValue(req.headers, 'upgrade')?.toLowerCase();
  const connection = headerValue(req.headers, 'connection')?.toLowerCase() ?? '';
  return upgrade === 'websocket' && connection.split(',').some((token) => token.trim() === 'upgrade');
}

/**
 * `wss://<instance>/-/cable`: Workhorse's upgrade check, ActionCable's same-origin check, the
 * `actioncable-v1-json` subprotocol, welcome, pings, and token auth (none or valid = welcome,
 * invalid = disconnect/unauthorized).
 */
export function createCable(ctx: SimContext): Cable {
  const wss = new WebSocketServer({
    noServer: true,
    // Clients only send small JSON commands; anything larger is not ActionCable.
    maxPayload: 64 * 1024,
    handleProtocols: (protocols) => (protocols.has(CABLE_PROTOCOL) ? CABLE_PROTOCOL : false),
  });
  const clients = new Map<WebSocket, (frame: string) => void>();
  const pinger = setInterval(() => {
    const ping = JSON.stringify({ type: 'ping', message: Math.floor(Date.now() / 1000) });
    for (const send of clients.values()) send(ping);
  }, PING_INTERVAL_MS);
  pinger.unref();

  function onConnection(ws: WebSocket, req: IncomingMessage): void {
    ws.on('error', () => undefined);
    const caller = ctx.caller(extractToken(req.headers, requestUrl(req)));
    if (caller.kind === 'invalid') {
      // ApplicationCable::Connection rejects an invalid token after the handshake.
      ws.send(JSON.stringify({ type: 'disconnect', reason: 'unauthorized', reconnect: false }));
      ws.close();
      return;
    }
    const send = frontSender(ctx, ws);
    clients.set(ws, send);
    ws.on('close', () => {
      clients.delete(ws);
      ctx.chat.remove(ws);
    });
    ws.on('message', (data) => onCommand(ctx, ws, caller, data.toString(), send));
    send(JSON.stringify({ type: 'welcome' }));
  }

  return {
    handleUpgrade(req, socket, head) {
      socket.on('error', () => undefined);
      const conditions = ctx.conditions();
      if (requestUrl(req).pathname !== CABLE_PATH) return refuseUpgrade(socket, 404, 'Not Found', 'Not Found\n');
      // A proxy that strips Upgrade/Connection leaves Workhorse a plain GET.
      if (conditions.cable === 'upgrade_stripped' || !isWebSocketUpgrade(req)) {
        return refuseUpgrade(socket, 400, 'Bad Request', UPGRADE_REQUIRED);
      }
      const allowed = conditions.cable === 'bad_origin' ? FOREIGN_ORIGIN : `https://${hostHeader(req.headers)}`;
      if (headerValue(req.headers, 'origin') !== allowed) return refuseUpgrade(socket, 404, 'Not Found', 'Page not found');
      wss.handleUpgrade(req, socket, head, (ws) => onConnection(ws, req));
    },
    close() {
      clearInterval(pinger);
      // wss.clients also holds connections rejected as unauthorized that are still closing.
      for (const ws of wss.clients) ws.terminate();
      clients.clear();
      wss.close();
    },
  };
}

// Bounds what a buffering front holds for a client that never reads (pings accumulate).
const MAX_HELD_FRAMES = 1000;

/**
 * How frames reach the client through what is in front of /-/cable. TLS ends in the backend, so
 * the simulator's TCP front cannot see frames: the front is modelled here. `buffered` is a proxy
 * that relays the upgrade and the first exchange (welcome, confirmations), then holds every frame
 * from the first chat message on, pings included, until the connection closes
 * (the chat_stream_buffered scenario). `no_trigger` is GitLab's own fault, modelled at the same
 * place: the chat messages never leave ActionCable, its pings do.
 */
function frontSender(ctx: SimContext, ws: WebSocket): (frame: string) => void {
  let holding = false;
  const held: string[] = [];
  return (frame) => {
    const chat = frame.includes('"aiCompletionResponse":{');
    if (ctx.conditions().cableStream === 'no_trigger' && chat) return;
    if (ctx.conditions().cableStream === 'buffered' && (holding || chat)) {
      holding = true;
      if (held.length < MAX_HELD_FRAMES) held.push(frame);
      return;
    }
    ws.send(frame);
  };
}

/** GraphqlChannel subscriptions (Duo Chat's); any other channel is refused. */
function onCommand(ctx: SimContext, ws: WebSocket, caller: Caller, raw: string, send: (frame: string) => void): void {
  let command: unknown;
  try {
    command = JSON.parse(raw);
  } catch {
    return;
  }
  const { command: name, identifier } = (command ?? {}) as Record<string, unknown>;
  if (typeof identifier !== 'string') return;
  if (name === 'unsubscribe') return ctx.chat.remove(ws, identifier);
  if (name !== 'subscribe') return;
  if (identifier.includes('"GraphqlChannel"')) return subscribeChat(ctx, ws, caller, identifier, send);
  send(JSON.stringify({ identifier, type: 'reject_subscription' }));
}
