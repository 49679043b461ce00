import type { WebSocket } from 'ws';

/** One confirmed GraphqlChannel subscription to aiCompletionResponse. */
export interface ChatSubscription {
  readonly identifier: string;
  readonly userGid: string;
  /** Set: the chunk topic; unset: the echo topic (ee/app/graphql/ee/graphql_triggers.rb). */
  readonly clientSubscriptionId: string | undefined;
  readonly send: (frame: string) => void;
}

/** Subscriptions of every connection; triggers go to those whose arguments match exactly. */
export class ChatBus {
  private readonly subscriptions = new Map<WebSocket, Map<string, ChatSubscription>>();

  add(ws: WebSocket, sub: ChatSubscription): void {
    const mine = this.subscriptions.get(ws) ?? new Map<string, ChatSubscription>();
    mine.set(sub.identifier, sub);
    this.subscriptions.set(ws, mine);
  }

  remove(ws: WebSocket, identifier?: string): void {
    if (identifier === undefined) this.subscriptions.delete(ws);
    else this.subscriptions.get(ws)?.delete(identifier);
  }

  /** graphql-ruby matches a trigger's argument set exactly: with or without clientSubscriptionId. */
  trigger(userGid: string, clientSubscriptionId: string | undefined, message: Record<string, unknown>): void {
    for (const mine of this.subscriptions.values()) {
      for (const sub of mine.values()) {
        if (sub.userGid !== userGid || sub.clientSubscriptionId !== clientSubscriptionId) continue;
        sub.send(JSON.stringify({ identifier: sub.identifier, message: { result: { data: { aiCompletionResponse: message } }, more: true } }));
      }
    }
  }
}
