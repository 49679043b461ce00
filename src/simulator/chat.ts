import { randomUUID } from 'node:crypto';
import type { WebSocket } from 'ws';
import { GraphqlDocumentError, parseOperation, type Selection } from './graphql-operation.js';
import { has } from './release.js';
import type { Caller, SimContext, SimUser } from './world.js';
import { duoEnabled, tokenScopesOf } from './world.js';

/**
 * Duo Chat end to end as GitLab runs it (docs/gitlab-compatibility.md, duo_chat): the `aiAction`
 * mutation, the `aiCompletionResponse` subscriptions on ActionCable's GraphqlChannel, and the
 * answers the triggers deliver, per release: `/help` answers a fixed text through Sidekiq from
 * 17.5; `/reset` is echoed only; any other question streams chunks from the "model".
 */

/** ee/app/services/llm/base_service.rb INVALID_MESSAGE. */
export const NO_CHAT_ACCESS = 'AI features are not enabled or resource is not permitted to be sent.';
export const RATE_LIMITED = 'This endpoint has been requested too many times. Try again later.';
/** The start of /help's fixed answer (ee/lib/gitlab/llm/chain/tools/help/executor.rb WEB_COPY). */
export const HELP_ANSWER = 'GitLab Duo Chat is your personal AI-native assistant for boosting productivity.';
const MODEL_CHUNKS = ['This is ', 'a simulated ', 'answer.'];

const gidOf = (user: SimUser): string => `gid://gitlab/User/${user.id}`;

/**
 * A GraphqlChannel `subscribe` (app/channels/graphql_channel.rb, application_cable/channel.rb):
 * a token without api, read_api or ai_features is rejected; a subscription for another user gets
 * "Unauthorized subscription"; a valid one gets its null first result, then the confirmation.
 */
export function subscribeChat(ctx: SimContext, ws: WebSocket, caller: Caller, identifier: string, send: (frame: string) => void): void {
  const reply = (message: unknown): void => send(JSON.stringify({ identifier, message }));
  const params = parseIdentifier(identifier);
  if (!params) return send(JSON.stringify({ identifier, type: 'reject_subscription' }));
  if (caller.kind === 'user' && !tokenScopesOf(ctx.conditions(), caller.user).some((s) => s === 'api' || s === 'read_api' || s === 'ai_features')) {
    return send(JSON.stringify({ identifier, type: 'reject_subscription' }));
  }
  const field = params.selection;
  if (!field || field.name !== 'aiCompletionResponse') {
    reply({ errors: [{ message: `Field '${field?.name ?? ''}' doesn't exist on type 'Subscription'` }] });
    return send(JSON.stringify({ identifier, type: 'confirm_subscription' }));
  }
  const userGid = typeof field.args.userId === 'string' ? field.args.userId : '';
  if (caller.kind !== 'user' || userGid !== gidOf(caller.user)) {
    reply({ result: { data: { aiCompletionResponse: null }, errors: [{ message: 'Unauthorized subscription' }] }, more: false });
    return send(JSON.stringify({ identifier, type: 'confirm_subscription' }));
  }
  const clientSubscriptionId = typeof field.args.clientSubscriptionId === 'string' ? field.args.clientSubscriptionId : undefined;
  ctx.chat.add(ws, { identifier, userGid, clientSubscriptionId, send });
  // stream_from confirms only once Redis subscribed: the null result comes first.
  reply({ result: { data: { aiCompletionResponse: null } }, more: true });
  send(JSON.stringify({ identifier, type: 'confirm_subscription' }));
}

function parseIdentifier(identifier: string): { selection: Selection | undefined } | undefined {
  try {
    const params = JSON.parse(identifier) as Record<string, unknown>;
    if (params.channel !== 'GraphqlChannel' || typeof params.query !== 'string') return undefined;
    const variables = typeof params.variables === 'string' ? (JSON.parse(params.variables) as Record<string, unknown>) : ((params.variables ?? {}) as Record<string, unknown>);
    const operation = parseOperation(params.query, variables, undefined);
    return { selection: operation.kind === 'subscription' ? operation.selections[0] : undefined };
  } catch (err) {
    if (err instanceof GraphqlDocumentError || err instanceof SyntaxError) return undefined;
    throw err;
  }
}

/** The mutation's payload, or a top-level error (rate limit), as graphql.ts places them. */
export type AiActionResult = { readonly value: Record<string, unknown> } | { readonly error: string };

/**
 * `aiAction(input: {chat: {content}, clientSubscriptionId})` (ee/app/graphql/mutations/ai/action.rb,
 * ee/app/services/llm/chat_service.rb): refused for a user without Chat, echoed at once to the
 * echo topic, then answered by "Sidekiq" after chatAnswerDelayMs.
 */
export function aiAction(ctx: SimContext, user: SimUser, sel: Selection): AiActionResult {
  const c = ctx.conditions();
  if (c.chatRateLimited) return { error: RATE_LIMITED };
  const input = (sel.args.input ?? {}) as { chat?: { content?: unknown }; clientSubscriptionId?: unknown };
  const content = typeof input.chat?.content === 'string' ? input.chat.content : '';
  if (content.trim() === '') return { error: 'Variable $input of type AiActionInput! was provided invalid value for chat.content' };
  if (!c.duoUserChatAccess || !duoEnabled(c)) return { value: { requestId: null, errors: [NO_CHAT_ACCESS], threadId: null } };
  const requestId = randomUUID();
  const clientSubscriptionId = typeof input.clientSubscriptionId === 'string' ? input.clientSubscriptionId : undefined;
  const userGid = gidOf(user);
  const base = { requestId, errors: [], timestamp: new Date().toISOString(), type: null, threadId: has(c.version, 'chatThreads') ? 'gid://gitlab/Ai::Conversation::Thread/7' : null };
  ctx.chat.trigger(userGid, undefined, { ...base, id: randomUUID(), content, role: 'USER', chunkId: null });
  if (content !== '/reset' && content !== '/clear' && content !== '/new') {
    const timer = setTimeout(() => answer(ctx, userGid, clientSubscriptionId, content, base), ctx.chatAnswerDelayMs);
    timer.unref();
  }
  return { value: { requestId, errors: [], threadId: base.threadId } };
}

/** Llm::CompletionWorker's answer: /help's fixed text (17.5+), else chunks then the whole text. */
function answer(ctx: SimContext, userGid: string, clientSubscriptionId: string | undefined, content: string, base: Record<string, unknown>): void {
  const fixed = content === '/help' && has(ctx.conditions().version, 'chatHelp');
  const text = fixed ? HELP_ANSWER : MODEL_CHUNKS.join('');
  if (!fixed && clientSubscriptionId) {
    MODEL_CHUNKS.forEach((chunk, i) => ctx.chat.trigger(userGid, clientSubscriptionId, { ...base, id: randomUUID(), content: chunk, role: 'ASSISTANT', chunkId: i + 1 }));
  }
  const whole = { ...base, id: randomUUID(), content: text, role: 'ASSISTANT', chunkId: null };
  // The saved message to the echo topic, and the full one to the client's own (completions/chat.rb).
  ctx.chat.trigger(userGid, undefined, whole);
  if (clientSubscriptionId) ctx.chat.trigger(userGid, clientSubscriptionId, whole);
}
