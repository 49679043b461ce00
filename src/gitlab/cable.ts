import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import WebSocket, { type RawData } from 'ws';
import { ProbeError, type FailureReason } from '../core/errors.js';
import { describeError } from '../net/abort.js';
import { quote } from '../core/redact.js';

/** ActionCable's JSON protocol (rails `ActionCable::INTERNAL[:protocols]`). */
export const CABLE_SUBPROTOCOL = 'actioncable-v1-json';

/**
 * What an ActionCable session fails with, besides `timeout`: no 101 (`websocket_upgrade`), a
 * broken or unexpected frame or close before welcome (`websocket_protocol`), and ActionCable's
 * `disconnect/unauthorized` (`auth`).
 */
export const CABLE_REASONS = ['websocket_upgrade', 'websocket_protocol', 'auth'] as const satisfies readonly FailureReason[];

// ActionCable frames are tiny (welcome, ping, disconnect); anything bigger is not ActionCable.
const MAX_FRAME_BYTES = 64 * 1024;

export interface CableSession {
  /** Resolves on 101 with the right subprotocol; rejects with websocket_upgrade/_protocol. */
  readonly upgraded: Promise<void>;
  /** Resolves on `{"type":"welcome"}`; rejects on disconnect (auth), garbage or close. */
  readonly welcomed: Promise<void>;
  /** Sends one text frame (an ActionCable command); ignored once the socket is not open. */
  send(text: string): void;
  /** Ends the session whatever state it is in. Safe to call twice. */
  close(): void;
}

export interface CableOptions {
  readonly url: URL;
  /** An already connected socket (TCP, or TLS with ALPN http/1.1), from openConnection. */
  readonly socket: Socket;
  readonly headers: Readonly<Record<string, string>>;
  /** Secrets to scrub from anything the server sends back into messages. */
  readonly secrets: readonly string[];
  /** Which token was sent, for the `unauthorized` message; undefined when none was. */
  readonly tokenName?: string;
  /**
   * Called with the handshake's HTTP status the moment it arrives, so it is recorded even when
   * the run's deadline fires later (the runner snapshots facts at the deadline).
   */
  readonly onStatus?: (status: number) => void;
  /**
   * After the welcome, every frame goes here instead of being judged as a pre-welcome frame: a
   * channel's messages and confirmations belong to whoever subscribed (duo_chat). Its argument
   * is the parsed JSON object, or a ProbeError for a frame that is not one.
   */
  readonly onMessage?: (message: Record<string, unknown> | ProbeError) => void;
  /** After the welcome: the WebSocket closed (code as ws reports it, 1006 for a dropped socket). */
  readonly onClose?: (code: number) => void;
}

/**
 * Opens an ActionCable session over a socket the caller already holds: ws's `createConnection`
 * hands it our socket, so the proxy tunnel, CA, `resolve` pins and the measured dns/connect/tls
 * phases all belong to the very connection the upgrade travels on.
 */
export function openCable(options: CableOptions): CableSession {
  let upgradeAnswered = false;
  let resolveUpgrade!: () => void;
  let rejectUpgrade!: (err: ProbeError) => void;
  let resolveWelcome!: () => void;
  let rejectWelcome!: (err: ProbeError) => void;
  const upgraded = new Promise<void>((resolve, reject) => ((resolveUpgrade = resolve), (rejectUpgrade = reject)));
  const welcomed = new Promise<void>((resolve, reject) => ((resolveWelcome = resolve), (rejectWelcome = reject)));
  // Whichever promise the caller is not awaiting yet must not surface as an unhandled rejection.
  upgraded.catch(() => undefined);
  welcomed.catch(() => undefined);
  const fail = (err: ProbeError): void => {
    rejectUpgrade(err);
    rejectWelcome(err);
  };

  const ws = new WebSocket(options.url, [CABLE_SUBPROTOCOL], {
    createConnection: () => options.socket,
    headers: options.headers,
    perMessageDeflate: false,
    followRedirects: false,
    maxPayload: MAX_FRAME_BYTES,
  });
  ws.on('unexpected-response', (req, res: IncomingMessage) => {
    upgradeAnswered = true;
    options.onStatus?.(res.statusCode ?? 0);
    fail(new ProbeError('websocket_upgrade', describeRefusal(res.statusCode ?? 0)));
    res.destroy();
    req.destroy();
  });
  ws.on('upgrade', (res: IncomingMessage) => {
    upgradeAnswered = true;
    options.onStatus?.(res.statusCode ?? 0);
  });
  ws.on('open', () => resolveUpgrade());
  // Set synchronously: the welcome and the next frames can arrive in one read, before any microtask.
  let welcomedAlready = false;
  ws.on('message', (data: RawData, isBinary: boolean) => {
    if (welcomedAlready && options.onMessage) return options.onMessage(parseFrame(data, isBinary, options.secrets));
    // A throw in this listener would surface from the socket as an uncaught exception and end the
    // process: whatever the server sent, it becomes this run's failure, nothing more.
    let outcome: FrameOutcome;
    try {
      outcome = interpretFrame(data, isBinary, options.secrets, options.tokenName);
    } catch (err) {
      outcome = new ProbeError('websocket_protocol', `a frame that could not be read: ${quote(describeError(err), options.secrets, 80)}`);
    }
    if (outcome === 'welcome') {
      welcomedAlready = true;
      resolveWelcome();
    }
    else if (outcome instanceof ProbeError) fail(outcome);
  });
  ws.on('error', (err: Error) => {
    // Before any answer the request itself failed (reset, closed): nothing upgraded. After the
    // 101, ws found the handshake or a frame invalid (subprotocol, accept key, payload size).
    fail(
      upgradeAnswered
        ? new ProbeError('websocket_protocol', `WebSocket protocol error: ${quote(describeError(err), options.secrets, 160)}`)
        : new ProbeError('websocket_upgrade', `no answer to the WebSocket upgrade: ${quote(describeError(err), options.secrets, 160)}`),
    );
  });
  ws.on('close', (code: number) => {
    if (welcomedAlready) options.onClose?.(code);
    fail(new ProbeError('websocket_protocol', `the WebSocket closed (code ${code}) before ActionCable's welcome`));
  });

  return {
    upgraded,
    welcomed,
    send: (text) => {
      if (ws.readyState === WebSocket.OPEN) ws.send(text);
    },
    close: () => {
      // Best effort: a close frame when open (a clean disconnect for GitLab), then the socket goes
      // at once; the probe never waits for the server's closing handshake.
      if (ws.readyState === WebSocket.OPEN) ws.close(1000, 'probe done');
      if (ws.readyState !== WebSocket.CLOSED) ws.terminate();
      options.socket.destroy();
    },
  };
}

function describeRefusal(status: number): string {
  if (status === 400) return '400 websocket upgrade required — a proxy in front strips Upgrade/Connection headers';
  if (status === 404) return '404 — the Origin was refused or /-/cable is not routed';
  if (status >= 300 && status < 400) return `${status} redirect instead of 101 Switching Protocols — check that the configured URL is GitLab's external URL`;
  return `${status} instead of 101 Switching Protocols — something in front of GitLab does not pass the WebSocket upgrade`;
}

type FrameOutcome = 'welcome' | 'ignore' | ProbeError;

function frameText(data: RawData): string {
  return Buffer.isBuffer(data) ? data.toString('utf8') : Array.isArray(data) ? Buffer.concat(data).toString('utf8') : Buffer.from(data).toString('utf8');
}

/** A frame after the welcome as a JSON object, or why it is not one (never throws). */
function parseFrame(data: RawData, isBinary: boolean, secrets: readonly string[]): Record<string, unknown> | ProbeError {
  if (isBinary) return new ProbeError('websocket_protocol', 'a binary frame; ActionCable speaks JSON text frames');
  const text = frameText(data);
  try {
    const message: unknown = JSON.parse(text);
    if (typeof message === 'object' && message !== null && !Array.isArray(message)) return message as Record<string, unknown>;
  } catch {
    // reported below
  }
  return new ProbeError('websocket_protocol', `a frame that is not an ActionCable message: "${quote(text, secrets, 60)}"`);
}

/** What one ActionCable frame means for the probe (rails `connection/base.rb`). */
export function interpretFrame(data: RawData, isBinary: boolean, secrets: readonly string[] = [], tokenName?: string): FrameOutcome {
  if (isBinary) return new ProbeError('websocket_protocol', 'a binary frame; ActionCable speaks JSON text frames');
  const text = frameText(data);
  let message: unknown;
  try {
    message = JSON.parse(text);
  } catch {
    return new ProbeError('websocket_protocol', `a frame that is not JSON: "${quote(text, secrets, 60)}"`);
  }
  if (typeof message !== 'object' || message === null || Array.isArray(message)) return new ProbeError('websocket_protocol', `a frame that is not an ActionCable message: "${quote(text, secrets, 60)}"`);
  const { type, reason } = message as { type?: unknown; reason?: unknown };
  // Frames without a type are channel broadcasts; pings (every 3 s) and confirmations are fine.
  if (type === undefined || type === 'ping' || type === 'confirm_subscription') return 'ignore';
  if (type === 'welcome') return 'welcome';
  if (type === 'disconnect') {
    if (reason === 'unauthorized') {
      const who = tokenName ? `GitLab rejected the ${tokenName} (invalid, expired or revoked)` : 'GitLab refused an anonymous connection';
      return new ProbeError('auth', `ActionCable disconnected: unauthorized — ${who}`);
    }
    return new ProbeError('websocket_protocol', `ActionCable disconnected before welcome (reason ${quote(shown(reason ?? 'none'), secrets, 40)})`);
  }
  return new ProbeError('websocket_protocol', `unexpected ActionCable message type "${quote(shown(type), secrets, 40)}" before welcome`);
}

/**
 * A JSON value for a message without String(): on an array nested 20 000 deep (a 40 KB frame)
 * String() recurses until the stack overflows.
 */
function shown(value: unknown): string {
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return '(an array)';
  return value === null ? 'null' : '(an object)';
}
