import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { ProbeError } from '../core/errors.js';
import { secretsOf, type Credential } from './availability.js';
import { graphqlQuery, PERMISSION_ERROR_PREFIX } from './graphql-client.js';
import { apiRequest, ensureOk, parseBody, type ApiContext } from './request.js';
import { quote } from '../core/redact.js';

/**
 * Duo Chat as its clients speak it (docs/gitlab-compatibility.md, duo_chat): the GraphQL
 * `aiAction` mutation with a chat input, and the `aiCompletionResponse` subscription over
 * ActionCable's GraphqlChannel. This module knows the messages; the probe owns the socket.
 */

/** GitLab's answer to a user without Duo Chat access (ee/app/services/llm/base_service.rb). */
export const NO_ACCESS_MESSAGE = 'AI features are not enabled or resource is not permitted to be sent.';
const RATE_LIMITED = /requested too many times/i;
const FLAG_DISABLED = /required feature flag is disabled/i;

const FIELDS = 'id requestId content errors role chunkId';
/**
 * Two topics (ee/app/graphql/ee/graphql_triggers.rb): without clientSubscriptionId GitLab sends
 * the prompt's echo (role USER) and the saved answer; with it, the streamed chunks and the full
 * answer. Two documents, so that no argument is sent as null.
 */
const ECHO_DOCUMENT = `subscription aiCompletionResponse($userId: UserID) { aiCompletionResponse(userId: $userId, aiAction: CHAT) { ${FIELDS} } }`;
const STREAM_DOCUMENT = `subscription aiCompletionResponse($userId: UserID, $clientSubscriptionId: String) { aiCompletionResponse(userId: $userId, aiAction: CHAT, clientSubscriptionId: $clientSubscriptionId) { ${FIELDS} } }`;
const MUTATION = 'mutation aiAction($input: AiActionInput!) { aiAction(input: $input) { requestId errors } }';

export interface ChatUser {
  /** `gid://gitlab/User/<id>`: the subscription is refused for any other user than the caller. */
  readonly gid: string;
  readonly version: string | undefined;
}

const whoAmI = z.object({
  currentUser: z.object({ id: z.string().regex(/^gid:\/\/gitlab\/User\/\d+$/) }).nullable(),
  metadata: z.object({ version: z.string() }).nullable().optional(),
});

/** The token's user (the subscription needs its global id) and GitLab's version, in one query. */
export async function chatUser(ctx: ApiContext, credential: Credential): Promise<ChatUser> {
  const data = await graphqlQuery(ctx, { document: '{ currentUser { id } metadata { version } }', credential, what: 'the Duo user and the GitLab version' }, whoAmI);
  // A refused token is a 401 before this; accepted but without api or read_api, GitLab resolves
  // currentUser to null (GitlabSchema.unauthorized_field: graphql-ruby's nil).
  if (!data.currentUser) throw new ProbeError('forbidden', "GraphQL shows no current user for the duo_user_token: it lacks read_api (or api), which currentUser needs and the chat subscription is addressed by");
  return { gid: data.currentUser.id, version: data.metadata?.version };
}

const mutationBody = z.looseObject({
  data: z.looseObject({ aiAction: z.looseObject({ requestId: z.string().nullable().optional(), errors: z.array(z.string()) }).nullable() }).nullable().optional(),
  errors: z.array(z.looseObject({ message: z.string() })).optional(),
});

/**
 * Asks the question; resolves with the request id the answer will carry. Each call is one
 * `ai_action` against the user's rate limit (160 per 8 hours by default) and one row of chat history.
 */
export async function askChat(ctx: ApiContext, credential: Credential, content: string, clientSubscriptionId: string): Promise<string> {
  const res = await apiRequest(ctx, {
    method: 'POST',
    path: '/api/graphql',
    credential,
    json: { query: MUTATION, variables: { input: { chat: { content }, clientSubscriptionId } } },
  });
  ensureOk(res);
  const body = parseBody(res, mutationBody, 'a GraphQL answer to aiAction');
  const secrets = secretsOf(ctx.instance);
  const topLevel = (body.errors ?? []).map((e) => e.message);
  if (topLevel.length > 0) throw mutationRefused(topLevel, secrets);
  const action = body.data?.aiAction;
  if (!action) throw new ProbeError('unexpected_response', 'GraphQL answered aiAction with no data and no error');
  if (action.errors.length > 0) throw mutationRefused(action.errors, secrets);
  if (!action.requestId) throw new ProbeError('unexpected_response', 'aiAction accepted the question but returned no requestId');
  return action.requestId;
}

function mutationRefused(messages: readonly string[], secrets: readonly string[]): ProbeError {
  const said = quote(messages.join('; '), secrets, 200);
  if (messages.some((m) => RATE_LIMITED.test(m))) {
    return new ProbeError('rate_limited', `aiAction: ${said} — the Duo user spent its ai_action budget (160 per 8 hours by default, ai_action_api_rate_limit); lengthen the interval or use a dedicated probe user`);
  }
  if (messages.some((m) => m === NO_ACCESS_MESSAGE)) {
    return new ProbeError('forbidden', `aiAction: ${said} — the Duo user may not use Duo Chat (no seat that includes Chat, Duo turned off for its groups, or Chat not allowed for it)`);
  }
  if (messages.some((m) => FLAG_DISABLED.test(m))) return new ProbeError('forbidden', `aiAction: ${said} — Duo Chat is switched off (ops flag ai_duo_chat_switch)`);
  if (messages.some((m) => m.startsWith(PERMISSION_ERROR_PREFIX))) {
    return new ProbeError('forbidden', `aiAction: ${said} — the duo_user_token may not send chat questions (it needs the ai_features or api scope)`);
  }
  return new ProbeError('unexpected_response', `aiAction refused the question: ${said}`);
}

/** One message of the chat stream (ee/app/graphql/types/ai/message_type.rb), as the probe reads it. */
export interface ChatMessage {
  readonly requestId: string | null;
  readonly role: string;
  /** Set for a streamed chunk, null for a whole message. */
  readonly chunkId: number | null;
  readonly content: string;
  readonly errors: readonly string[];
}

const chatMessage = z.looseObject({
  requestId: z.string().nullable().optional(),
  role: z.string(),
  chunkId: z.number().nullable().optional(),
  content: z.string().nullable().optional(),
  errors: z.array(z.string()).nullable().optional(),
});

/** The final answer: not a chunk, not a SYSTEM notice, not the USER echo (the IDE's rule). */
export function isFinalAnswer(m: ChatMessage, requestId: string): boolean {
  return m.requestId === requestId && m.chunkId === null && m.role !== 'SYSTEM' && m.role !== 'USER';
}

export interface Subscription {
  readonly identifier: string;
  readonly command: string;
}

/** The subscribe command; `clientSubscriptionId` picks the chunk topic, its absence the echo topic. */
export function chatSubscription(userGid: string, clientSubscriptionId?: string): Subscription {
  const variables = clientSubscriptionId ? { userId: userGid, clientSubscriptionId } : { userId: userGid };
  // The nonce keeps two identical subscriptions apart, as GitLab's web client does (actioncable_link.js).
  const identifier = JSON.stringify({ channel: 'GraphqlChannel', query: clientSubscriptionId ? STREAM_DOCUMENT : ECHO_DOCUMENT, variables, operationName: 'aiCompletionResponse', nonce: randomUUID() });
  return { identifier, command: JSON.stringify({ command: 'subscribe', identifier }) };
}

export function unsubscribeCommand(identifier: string): string {
  return JSON.stringify({ command: 'unsubscribe', identifier });
}

/** What one frame after the welcome is to the chat. */
export type ChatFrame =
  | { readonly kind: 'ping' | 'ignore' }
  | { readonly kind: 'confirm'; readonly identifier: string }
  | { readonly kind: 'message'; readonly identifier: string; readonly message: ChatMessage }
  | { readonly kind: 'error'; readonly error: ProbeError };

/** Reads one ActionCable frame (rails connection/subscriptions; app/channels/graphql_channel.rb). */
export function readChatFrame(frame: Record<string, unknown>, secrets: readonly string[]): ChatFrame {
  const { type, identifier, reason, message } = frame;
  if (type === 'ping') return { kind: 'ping' };
  if (type === 'confirm_subscription' && typeof identifier === 'string') return { kind: 'confirm', identifier };
  if (type === 'reject_subscription') {
    return { kind: 'error', error: new ProbeError('forbidden', 'ActionCable rejected the chat subscription: the duo_user_token lacks a scope GraphqlChannel accepts (api, read_api or ai_features), or the user may not use the API') };
  }
  if (type === 'disconnect') {
    if (reason === 'unauthorized') return { kind: 'error', error: new ProbeError('auth', 'ActionCable disconnected: unauthorized — GitLab no longer accepts the duo_user_token') };
    return { kind: 'error', error: new ProbeError('websocket_protocol', `ActionCable disconnected during the chat (reason ${quote(String(reason ?? 'none'), secrets, 40)})`) };
  }
  if (type !== undefined || typeof identifier !== 'string' || typeof message !== 'object' || message === null) return { kind: 'ignore' };
  return readChannelMessage(identifier, message as Record<string, unknown>, secrets);
}

function readChannelMessage(identifier: string, message: Record<string, unknown>, secrets: readonly string[]): ChatFrame {
  const result = (message.result ?? message) as Record<string, unknown>;
  const errors = Array.isArray(result.errors) ? result.errors.map((e) => String((e as { message?: unknown } | null)?.message ?? e)) : [];
  if (errors.length > 0) {
    const said = quote(errors.join('; '), secrets, 200);
    // base_subscription.rb: the userId is not the caller's, or the connection is anonymous.
    if (errors.some((e) => /Unauthorized subscription/.test(e))) return { kind: 'error', error: new ProbeError('auth', `the chat subscription was refused: ${said} — GitLab does not see the duo_user_token's user on the cable`) };
    return { kind: 'error', error: new ProbeError('unexpected_response', `the chat subscription answered an error: ${said}`) };
  }
  const data = (result.data ?? null) as { aiCompletionResponse?: unknown } | null;
  const payload = data?.aiCompletionResponse ?? null;
  // The subscription's first result is null (base_subscription.rb#subscribe): nothing to read yet.
  if (payload === null) return { kind: 'ignore' };
  const parsed = chatMessage.safeParse(payload);
  if (!parsed.success) return { kind: 'error', error: new ProbeError('unexpected_response', 'a chat message without a role: not an AiMessage') };
  const m = parsed.data;
  return {
    kind: 'message',
    identifier,
    message: { requestId: m.requestId ?? null, role: m.role.toUpperCase(), chunkId: m.chunkId ?? null, content: m.content ?? '', errors: m.errors ?? [] },
  };
}
