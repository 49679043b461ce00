import { describe, expect, it } from 'vitest';
import { HELP_ANSWER, NO_CHAT_ACCESS, RATE_LIMITED } from '../../src/simulator/chat.js';
import { chatOnce } from './chat-client.js';
import { agentFor, useSimulator } from './helpers.js';

/**
 * The simulated Duo Chat against a client written from GitLab's wire protocol (chat-client.ts):
 * the mutation, the two subscription topics, the echo, the answer per release, and the refusals.
 */
describe('simulated Duo Chat', () => {
  it('18.9: the echo on the echo topic, then /help\u2019s fixed answer on both topics, no chunks', async () => {
    const sim = await useSimulator();
    const chat = await chatOnce(sim, agentFor(sim), { until: (m) => m.role === 'ASSISTANT' && m.identifier === 'stream' });
    const id = chat.mutation?.requestId;
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    const mine = chat.messages.filter((m) => m.requestId === id);
    expect(mine[0]).toMatchObject({ role: 'USER', content: '/help', identifier: 'echo', chunkId: null });
    expect(mine.filter((m) => m.role === 'ASSISTANT').map((m) => [m.identifier, m.content, m.chunkId])).toEqual([
      ['echo', HELP_ANSWER, null],
      ['stream', HELP_ANSWER, null],
    ]);
    // Each subscription gets its null first result before its confirmation.
    const firstOf = (type: string) => chat.frames.findIndex((f) => f.type === type);
    expect(chat.frames.findIndex((f) => f.message !== undefined)).toBeLessThan(firstOf('confirm_subscription'));
  });

  it('17.4: /help goes to the model (chunks, then the whole text); /reset is echoed only', async () => {
    const sim = await useSimulator({ base: { version: '17.4.1-ee' } });
    const help = await chatOnce(sim, agentFor(sim), { until: (m) => m.role === 'ASSISTANT' && m.chunkId === null && m.identifier === 'stream' });
    const answer = help.messages.filter((m) => m.role === 'ASSISTANT' && m.identifier === 'stream');
    expect(answer.map((m) => m.chunkId)).toEqual([1, 2, 3, null]);
    expect(answer.at(-1)!.content).not.toBe(HELP_ANSWER);
    const reset = await chatOnce(sim, agentFor(sim), { content: '/reset', waitMs: 500 });
    expect(reset.messages.map((m) => [m.role, m.identifier])).toEqual([['USER', 'echo']]);
  });

  it('refuses a user without Chat, and the rate-limited user, in the mutation', async () => {
    const sim = await useSimulator({ scenario: 'chat_no_seat' });
    const refused = await chatOnce(sim, agentFor(sim), { waitMs: 300 });
    expect(refused.mutation).toEqual({ requestId: null, errors: [NO_CHAT_ACCESS] });
    expect(refused.messages).toEqual([]);
    sim.setScenario('healthy');
    sim.setBase({ chatRateLimited: true });
    const limited = await chatOnce(sim, agentFor(sim), { waitMs: 300 });
    expect(limited.mutation).toBeNull();
    expect(limited.topErrors).toEqual([RATE_LIMITED]);
  });

  it('answers another user\u2019s subscription with "Unauthorized subscription", and rejects a token without an accepted scope', async () => {
    const sim = await useSimulator();
    const other = await chatOnce(sim, agentFor(sim), { userGid: 'gid://gitlab/User/1', waitMs: 300 });
    const errors = other.frames.flatMap((f) => ((f.message as { result?: { errors?: { message: string }[] } } | undefined)?.result?.errors ?? []).map((e) => e.message));
    expect(errors).toContain('Unauthorized subscription');
    sim.setBase({ duoUserTokenScopes: ['read_user'] });
    const scopeless = await chatOnce(sim, agentFor(sim), { waitMs: 300 });
    expect(scopeless.frames.filter((f) => f.type === 'reject_subscription')).toHaveLength(2);
  });

  it('chat_stream_buffered: confirmations pass, then nothing at all reaches the client', async () => {
    const sim = await useSimulator({ scenario: 'chat_stream_buffered' });
    const chat = await chatOnce(sim, agentFor(sim), { waitMs: 3500 });
    expect(chat.mutation?.requestId).toBeTruthy();
    expect(chat.frames.filter((f) => f.type === 'confirm_subscription')).toHaveLength(2);
    const afterConfirm = chat.frames.slice(chat.frames.findLastIndex((f) => f.type === 'confirm_subscription') + 1);
    // Not the echo, not the answer, not even the 3-second ping.
    expect(afterConfirm).toEqual([]);
  });
});
