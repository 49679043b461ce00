import type { WebSocket } from 'ws';

/**
 * Duo Chat for the fault server's healthy answers: the user query, the aiAction mutation and the
 * GraphqlChannel subscription with its echo and answer (the wire of docs/gitlab-compatibility.md,
 * duo_chat), just enough for duo_chat to pass against a healthy peer. The simulator (src/simulator/chat.ts)
 * is the faithful model; this one only answers.
 */
export class FaultChat {
  private readonly subscribed = new Map<WebSocket, string[]>();
  private requests = 0;

  /** A healthy answer to a chat GraphQL request, or undefined when the body is not one. */
  answer(body: string): unknown {
    if (body.includes('currentUser { id }')) return { data: { currentUser: { id: 'gid://gitlab/User/2' }, metadata: { version: '18.9.0-ee' } } };
    if (!body.includes('aiAction(')) return undefined;
    const requestId = `fault-request-${++this.requests}`;
    // The echo, then the answer: each on every subscription of every connection (one client here).
    for (const message of [
      { requestId, role: 'USER', chunkId: null, content: '/help', errors: [] },
      { requestId, role: 'ASSISTANT', chunkId: null, content: 'GitLab Duo Chat is your personal AI-native assistant.', errors: [] },
    ]) {
      setImmediate(() => {
        for (const [ws, identifiers] of this.subscribed) {
          for (const identifier of identifiers) ws.send(JSON.stringify({ identifier, message: { result: { data: { aiCompletionResponse: message } }, more: true } }));
        }
      });
    }
    return { data: { aiAction: { requestId, errors: [] } } };
  }

  /** ActionCable commands after the welcome: every subscription is confirmed. */
  onCommand(ws: WebSocket, raw: string): void {
    let command: { command?: unknown; identifier?: unknown };
    try {
      command = JSON.parse(raw) as typeof command;
    } catch {
      return;
    }
    if (command.command !== 'subscribe' || typeof command.identifier !== 'string') return;
    this.subscribed.set(ws, [...(this.subscribed.get(ws) ?? []), command.identifier]);
    ws.on('close', () => this.subscribed.delete(ws));
    ws.send(JSON.stringify({ identifier: command.identifier, type: 'confirm_subscription' }));
  }
}
