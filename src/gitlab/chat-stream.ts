import { ProbeError } from '../core/errors.js';
import { readChatFrame, type ChatMessage } from './chat.js';

/**
 * More chat messages than one /help answer streams (its fixed text comes whole, or in a few dozen
 * chunks): past this the stream is not a chat answer, and the run fails instead of buffering it.
 */
export const MAX_CHAT_MESSAGES = 2000;

interface Waiter {
  readonly match: (m: ChatMessage) => boolean;
  readonly resolve: (m: ChatMessage) => void;
  readonly reject: (err: ProbeError) => void;
}

/**
 * What arrived on the cable after the welcome, for one chat run: which subscriptions are
 * confirmed, the chat messages, and how many frames of any kind came (pings included), so that
 * a silent stream can be told apart from a stream without our answer. The first error (a
 * rejected subscription, a disconnect, a closed socket) fails every wait, present and future.
 */
export class ChatStream {
  private readonly messages: ChatMessage[] = [];
  private readonly waiters = new Set<Waiter>();
  private readonly confirmations = new Map<string, () => void>();
  private readonly confirmedIds = new Set<string>();
  private failure: ProbeError | undefined;
  /** Frames of any kind since the welcome; the probe compares counts before and after the mutation. */
  frames = 0;
  /** Text to tell a close apart by when it happens (set by the probe as the run goes on). */
  stage = 'before the chat subscription was confirmed';

  constructor(private readonly secrets: readonly string[]) {}

  /** The cable's onMessage. */
  readonly onFrame = (frame: Record<string, unknown> | ProbeError): void => {
    this.frames += 1;
    if (frame instanceof ProbeError) return this.fail(frame);
    const read = readChatFrame(frame, this.secrets);
    if (read.kind === 'error') this.fail(read.error);
    else if (read.kind === 'confirm') this.confirm(read.identifier);
    else if (read.kind === 'message') this.deliver(read.message);
  };

  /** The cable's onClose. */
  readonly onClose = (code: number): void => {
    this.fail(new ProbeError('websocket_protocol', `the WebSocket closed (code ${code}) ${this.stage}`));
  };

  /** Resolves when `identifier` is confirmed; the message that precedes it (data null) is not needed. */
  confirmed(identifier: string): Promise<void> {
    if (this.confirmedIds.has(identifier)) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = { match: () => false, resolve: () => undefined, reject };
      this.waiters.add(waiter);
      this.confirmations.set(identifier, () => {
        this.waiters.delete(waiter);
        resolve();
      });
      if (this.failure) reject(this.failure);
    });
  }

  /** The first message (already received or to come) that `match` accepts. */
  next(match: (m: ChatMessage) => boolean): Promise<ChatMessage> {
    const seen = this.messages.find(match);
    if (seen) return Promise.resolve(seen);
    if (this.failure) return Promise.reject(this.failure);
    return new Promise<ChatMessage>((resolve, reject) => {
      const waiter: Waiter = { match, resolve: (m) => (this.waiters.delete(waiter), resolve(m)), reject };
      this.waiters.add(waiter);
    });
  }

  /** Chat messages received so far that `match` accepts. */
  count(match: (m: ChatMessage) => boolean): number {
    return this.messages.filter(match).length;
  }

  private confirm(identifier: string): void {
    this.confirmedIds.add(identifier);
    this.confirmations.get(identifier)?.();
    this.confirmations.delete(identifier);
  }

  private deliver(message: ChatMessage): void {
    if (this.messages.length >= MAX_CHAT_MESSAGES) {
      return this.fail(new ProbeError('unexpected_response', `more than ${MAX_CHAT_MESSAGES} chat messages on the stream without the answer: not a Duo Chat reply`));
    }
    this.messages.push(message);
    for (const waiter of [...this.waiters]) if (waiter.match(message)) waiter.resolve(message);
  }

  private fail(err: ProbeError): void {
    this.failure ??= err;
    for (const waiter of this.waiters) waiter.reject(this.failure);
    this.waiters.clear();
  }
}
