import type { Agent } from 'undici';
import WebSocket from 'ws';
import type { Simulator } from '../../src/simulator/index.js';
import { graphql, pinnedLookup } from './helpers.js';

/** What a chat client saw: the mutation's answer and the chat messages for its request. */
export interface ChatOutcome {
  readonly mutation: { requestId?: string | null; errors?: string[] } | null | undefined;
  readonly topErrors: string[];
  /** Every frame after the welcome, in order. */
  readonly frames: Record<string, unknown>[];
  readonly messages: { role: string; requestId: string | null; chunkId: number | null; content: string; identifier: string }[];
}

const STREAM = 'subscription aiCompletionResponse($userId: UserID, $clientSubscriptionId: String) { aiCompletionResponse(userId: $userId, aiAction: CHAT, clientSubscriptionId: $clientSubscriptionId) { requestId role chunkId content errors } }';
const ECHO = 'subscription aiCompletionResponse($userId: UserID) { aiCompletionResponse(userId: $userId, aiAction: CHAT) { requestId role chunkId content errors } }';

/**
 * A Duo Chat client written from GitLab's wire protocol, independent of the exporter's: subscribe
 * to both topics as the web UI does, ask once they are confirmed, collect for `waitMs` or until a
 * message matches `until` (or the question is refused).
 */
export function chatOnce(sim: Simulator, agent: Agent, options: { content?: string; userGid?: string; token?: string; waitMs?: number; until?: (m: ChatOutcome['messages'][number]) => boolean } = {}): Promise<ChatOutcome> {
  const host = new URL(sim.gitlabUrl).host;
  const token = options.token ?? sim.duoUserToken;
  const ws = new WebSocket(`wss://${host}/-/cable`, ['actioncable-v1-json'], { ca: sim.caPem, lookup: pinnedLookup, headers: { origin: `https://${host}`, authorization: `Bearer ${token}` } });
  const userId = options.userGid ?? 'gid://gitlab/User/2';
  const clientSubscriptionId = 'client-sub-1';
  const ids = [
    JSON.stringify({ channel: 'GraphqlChannel', query: ECHO, variables: { userId }, operationName: 'aiCompletionResponse', nonce: 'a' }),
    JSON.stringify({ channel: 'GraphqlChannel', query: STREAM, variables: { userId, clientSubscriptionId }, operationName: 'aiCompletionResponse', nonce: 'b' }),
  ];
  const frames: Record<string, unknown>[] = [];
  const messages: ChatOutcome['messages'] = [];
  let confirmed = 0;
  let outcome: Pick<ChatOutcome, 'mutation' | 'topErrors'> = { mutation: undefined, topErrors: [] };
  return new Promise((resolve) => {
    const finish = () => {
      clearTimeout(timer);
      ws.removeAllListeners();
      ws.on('error', () => undefined);
      ws.terminate();
      resolve({ ...outcome, frames, messages });
    };
    const timer = setTimeout(finish, options.waitMs ?? 1500);
    const ask = async () => {
      const { body } = await graphql(agent, sim, token, 'mutation($input: AiActionInput!) { aiAction(input: $input) { requestId errors } }', { input: { chat: { content: options.content ?? '/help' }, clientSubscriptionId } });
      outcome = { mutation: body.data?.aiAction as ChatOutcome['mutation'], topErrors: (body.errors ?? []).map((e: { message: string }) => e.message) };
      if (options.until && !outcome.mutation?.requestId) finish();
    };
    ws.on('message', (data) => {
      const frame = JSON.parse(data.toString()) as Record<string, unknown>;
      if (frame.type === 'welcome') return ids.forEach((identifier) => ws.send(JSON.stringify({ command: 'subscribe', identifier })));
      frames.push(frame);
      if (frame.type === 'confirm_subscription' && ++confirmed === ids.length) void ask().catch(() => undefined);
      const payload = (frame.message as { result?: { data?: { aiCompletionResponse?: ChatOutcome['messages'][number] | null } } } | undefined)?.result?.data?.aiCompletionResponse;
      if (!payload) return;
      const message = { ...payload, identifier: frame.identifier === ids[0] ? 'echo' : 'stream' };
      messages.push(message);
      if (options.until?.(message)) finish();
    });
    ws.on('close', finish);
    ws.on('error', finish);
  });
}
