import { randomUUID } from 'node:crypto';
import type { InstanceConfig } from '../config/schema.js';
import { ProbeError } from '../core/errors.js';
import { credential, instanceUrl, needsInstance, secretsOf, TOKEN_DESCRIPTIONS } from '../gitlab/availability.js';
import { CABLE_REASONS, openCable, type CableSession } from '../gitlab/cable.js';
import { askChat, chatSubscription, chatUser, isFinalAnswer, unsubscribeCommand, type ChatMessage } from '../gitlab/chat.js';
import { ChatStream } from '../gitlab/chat-stream.js';
import type { InstanceEnvironment } from '../gitlab/deployment.js';
import { API_REASONS } from '../gitlab/request.js';
import { atLeast, parseVersion } from '../gitlab/version.js';
import { raceAbort, shorterOf, untilDeadline } from '../net/abort.js';
import { CONNECT_REASONS, openConnection } from '../net/connect.js';
import { defineProbe, type ProbeContext, type Relevance } from './types.js';
import { type Phase, type Recorder } from '../core/run.js';

/**
 * What the web UI and the IDE extensions do to chat, from the client's side: subscribe to
 * `aiCompletionResponse` over `/-/cable`, ask with the `aiAction` mutation, and wait for the
 * streamed answer. The question is `/help` from 17.5: a fixed text that goes through the whole
 * chain (mutation, Sidekiq's completion worker, ActionCable) without a model call. Before 17.5
 * `/help` would reach the model, so the probe sends `/reset` there: echoed, never answered, so it
 * proves the mutation and the cable but not Sidekiq (the note says so).
 */
export const duoChat = defineProbe({
  name: 'duo_chat',
  group: 'inbound',
  proves: 'a Duo Chat question asked over GraphQL is answered over the /-/cable stream, as the web UI and IDEs receive it',
  // Every run is one ai_action of the user's 160 per 8 hours and a chat-history row.
  defaultInterval: '10m',
  // Sidekiq's llm queue answers /help; a busy queue takes seconds.
  defaultTimeout: '60s',
  required: true,
  phases: ['dns', 'connect', 'proxy_connect', 'tls', 'upgrade', 'welcome', 'subscribe', 'api', 'first_chunk', 'complete'],
  facts: ['gitlab_duo_http_status_code'],
  // websocket_protocol also for a stream that never starts or closes before the answer;
  // forbidden/rate_limited for GitLab refusing the question; unexpected_response for an error answer.
  reasons: [...new Set([...CONNECT_REASONS, ...CABLE_REASONS, ...API_REASONS, 'unexpected_response' as const])],
  token: 'duo_user',
  // currentUser needs api or read_api (app/graphql/types/base_field.rb:27); the aiAction mutation
  // api or ai_features (ee/app/graphql/ee/types/mutation_type.rb:255).
  scopes: [
    { token: 'duo_user', scope: 'read_api', accepted: ['read_api', 'api'] },
    { token: 'duo_user', scope: 'ai_features', accepted: ['ai_features', 'api'] },
  ],
  alerts: { failing: 'GitLabDuoChatNotAnswering' },
  advice: {
    default: 'Ask Duo Chat /help in the web UI as the Duo user: the message names the step that failed (subscription, question, stream, answer).',
    websocket_protocol:
      'The answer does not stream back over /-/cable: every proxy in front of GitLab must relay WebSocket frames as they come (no response buffering or inspection of upgraded connections) and keep idle WebSockets open longer than an answer takes (nginx proxy_read_timeout, Apache Timeout / ProxyTimeout of 60 s or more).',
    forbidden: 'GitLab refused the question: give the Duo user a seat that includes Duo Chat (or Duo Core), and a token with ai_features (or api) and read_api.',
    rate_limited: 'The Duo user spent its ai_action budget (160 per 8 hours by default): lengthen the duo_chat interval, use a dedicated probe user, or raise ai_action_api_rate_limit.',
    timeout: 'The question was echoed but not answered: check that Sidekiq runs and processes the llm queue (Llm::CompletionWorker) and is not far behind.',
    unexpected_response: 'Duo Chat answered with an error: the message quotes it; check the Sidekiq and llm logs for that request id.',
    auth: 'GitLab refused the Duo user\u2019s token on /-/cable or on the subscription: create a new token for the exporter\u2019s Duo user and update duo_user_token.',
  },
  availability: (instance) => needsInstance(instance, 'duo_user'),
  relevance: (env) => chatRelevance(env),
  target: (instance) => (instance.url ? cableUrl(instance).href : ''),
  run: runChat,
});

/** GitLab 17.5 added `/help` with its fixed answer (CHANGELOG 17.5, !167876). */
const HELP_SINCE = { major: 17, minor: 5, patch: 0, suffix: '' };
const OLDEST = { major: 17, minor: 2, patch: 0, suffix: '' };
// The echo is sent by the mutation's own request, not by Sidekiq: it needs no long wait.
const STREAM_START_MS = 15_000;
// Kept back from the deadline so that a missing answer is reported as such, not as a bare timeout
// (half the time left when that is under 2 s: short test timeouts).
const DEADLINE_MARGIN_MS = 1000;

function budgetMs(deadline: number, cap = Infinity): number {
  const left = deadline - Date.now();
  return Math.max(0, Math.floor(Math.min(cap, left >= 2 * DEADLINE_MARGIN_MS ? left - DEADLINE_MARGIN_MS : left / 2)));
}

const shownSeconds = (ms: number): string => `${(ms / 1000).toFixed(ms < 1000 ? 1 : 0)}s`;

export function chatRelevance(env: InstanceEnvironment): Relevance {
  const version = env.capabilities?.version;
  if (version && !atLeast(version, OLDEST)) return { use: 'skip', why: 'GitLab is older than 17.2: the chat API this probe speaks is documented from 17.2 on' };
  if (env.capabilities?.settings?.applicationSettings?.duo_features_enabled === false) {
    return { use: 'skip', why: 'GitLab Duo is turned off for the instance (duo_features_enabled: false): nobody uses Duo Chat here' };
  }
  return { use: 'required' };
}

async function runChat(ctx: ProbeContext): Promise<void> {
  const token = credential(ctx.instance, 'duo_user')!;
  const api = { ...ctx, record: allInApi(ctx.record) };
  const user = await chatUser(api, token);
  const parsed = user.version ? parseVersion(user.version) : undefined;
  const help = parsed !== undefined && atLeast(parsed, HELP_SINCE);
  const url = cableUrl(ctx.instance);
  const secure = url.protocol === 'wss:';
  const connection = await openConnection({ host: url.hostname, port: url.port ? Number(url.port) : secure ? 443 : 80, tls: secure ? { alpn: ['http/1.1'] } : undefined }, ctx);
  const stream = new ChatStream(secretsOf(ctx.instance));
  let session: CableSession | undefined;
  const identifiers: string[] = [];
  try {
    session = await ctx.record.phase('upgrade', async () => {
      const opened = openCable({
        url,
        socket: connection.socket,
        headers: { Origin: new URL(ctx.instance.url!).origin, 'User-Agent': 'gitlab-duo-exporter', Authorization: `Bearer ${token.secret.reveal()}` },
        secrets: secretsOf(ctx.instance),
        tokenName: TOKEN_DESCRIPTIONS.duo_user,
        onStatus: (status) => ctx.record.fact('gitlab_duo_http_status_code', status),
        onMessage: stream.onFrame,
        onClose: stream.onClose,
      });
      session = opened;
      await untilDeadline(opened.upgraded, ctx.signal, 'waiting for the WebSocket upgrade (101)');
      return opened;
    });
    await ctx.record.phase('welcome', () => untilDeadline(session!.welcomed, ctx.signal, "waiting for ActionCable's welcome"));
    const clientSubscriptionId = randomUUID();
    await ctx.record.phase('subscribe', () => subscribe(session!, stream, user.gid, help ? clientSubscriptionId : undefined, identifiers, ctx.signal));
    const question = help ? '/help' : '/reset';
    stream.stage = 'after the chat subscription was confirmed, before the mutation was accepted';
    const requestId = await askChat(api, token, question, clientSubscriptionId);
    await awaitAnswer(ctx, stream, requestId, help, user.version);
  } finally {
    for (const identifier of identifiers) session?.send(unsubscribeCommand(identifier));
    session?.close();
    connection.socket.destroy();
  }
}

async function subscribe(session: CableSession, stream: ChatStream, gid: string, clientSubscriptionId: string | undefined, identifiers: string[], signal: AbortSignal): Promise<void> {
  // Topic A carries the echo, topic B the chunks and the answer (ee/graphql_triggers.rb).
  const subscriptions = [chatSubscription(gid), ...(clientSubscriptionId ? [chatSubscription(gid, clientSubscriptionId)] : [])];
  for (const s of subscriptions) {
    identifiers.push(s.identifier);
    session.send(s.command);
  }
  // Only a confirmed subscription receives the trigger: the mutation waits for every confirmation.
  await untilDeadline(Promise.all(subscriptions.map((s) => stream.confirmed(s.identifier))), signal, 'waiting for ActionCable to confirm the chat subscription');
}

async function awaitAnswer(ctx: ProbeContext, stream: ChatStream, requestId: string, help: boolean, version: string | undefined): Promise<void> {
  const framesBefore = stream.frames;
  const acceptedAt = Date.now();
  stream.stage = 'after the mutation was accepted, before the stream started';
  const startBudget = budgetMs(ctx.deadline, STREAM_START_MS);
  const first = await ctx.record.phase('first_chunk', () =>
    within(stream.next((m) => m.requestId === requestId), startBudget, ctx.signal, () => silentStream(startBudget, stream.frames - framesBefore)),
  );
  const seconds = (Date.now() - acceptedAt) / 1000;
  if (!help) {
    ctx.record.note(`/reset echoed over the cable ${seconds.toFixed(2)} s after the mutation (GitLab ${version ?? 'of unknown version'} has no fixed /help answer: mutation and cable proven, Sidekiq not)`);
    return;
  }
  stream.stage = 'after the stream started, before the answer completed: something in front closed the idle WebSocket (a proxy read timeout shorter than the answer, e.g. nginx proxy_read_timeout or Apache Timeout)';
  const budget = budgetMs(ctx.deadline);
  const answer = isFinalAnswer(first, requestId)
    ? first
    : await ctx.record.phase('complete', () => within(stream.next((m) => isFinalAnswer(m, requestId)), budget, ctx.signal, () => noAnswer(budget)));
  if (answer.errors.length > 0) throw new ProbeError('unexpected_response', `Duo Chat answered with an error: ${answer.errors.join('; ').slice(0, 200)}`);
  const chunks = stream.count((m) => m.requestId === requestId && m.chunkId !== null);
  ctx.record.note(`/help answered over the cable: stream started ${seconds.toFixed(2)} s after the mutation, answer complete ${((Date.now() - acceptedAt) / 1000).toFixed(2)} s after (${answer.content.length} characters${chunks > 0 ? `, ${chunks} chunks` : ''}; no model call)`);
}

function silentStream(waitedMs: number, frames: number): ProbeError {
  const window = shownSeconds(waitedMs);
  if (frames === 0) {
    return new ProbeError('websocket_protocol', `no frame arrived within ${window} after the mutation was accepted (not even ActionCable's pings, sent every 3 s): a reverse proxy is buffering or dropping WebSocket frames`);
  }
  return new ProbeError('websocket_protocol', `pings arrived but no chat message within ${window} after the mutation was accepted: GitLab's ActionCable did not deliver the trigger (Redis pub/sub between Puma and ActionCable, or the cable runs on other Redis than Rails)`);
}

function noAnswer(waitedMs: number): ProbeError {
  return new ProbeError('timeout', `the question was echoed but no answer came within ${shownSeconds(waitedMs)}: Sidekiq is not processing the llm queue (Llm::CompletionWorker), or it is far behind`);
}

/** `work` within `ms` and the run's deadline; past `ms`, `onExpire`'s error. */
function within<T>(work: Promise<ChatMessage & T>, ms: number, signal: AbortSignal, onExpire: () => ProbeError): Promise<ChatMessage & T> {
  // The wait may end first: the stream's later failure (the socket closed by `finally`) is no one's.
  work.catch(() => undefined);
  const budget = shorterOf(signal, ms);
  return raceAbort(work, budget.signal, () => (signal.aborted ? new ProbeError('timeout', 'deadline reached while waiting for the chat answer') : onExpire())).finally(budget.release);
}

/** GraphQL's connection phases count in `api`, so dns..tls time the cable's path alone. */
function allInApi(record: Recorder): Recorder {
  const api = (_phase: Phase): Phase => 'api';
  return { ...record, phase: (phase, fn) => record.phase(api(phase), fn), addPhase: (phase, s) => record.addPhase(api(phase), s) };
}

function cableUrl(instance: InstanceConfig): URL {
  const url = instanceUrl(instance, '/-/cable');
  url.protocol = url.protocol === 'http:' ? 'ws:' : 'wss:';
  return url;
}
