import { describe, expect, it } from 'vitest';
import { ProbeError } from '../../src/core/errors.js';
import { ChatStream, MAX_CHAT_MESSAGES } from '../../src/gitlab/chat-stream.js';

/** The chat side of the cable: frames in, waits resolved or failed; bounded whatever the server sends. */

const IDENTIFIER = '{"channel":"GraphqlChannel"}';
const frame = (payload: Record<string, unknown>) => ({ identifier: IDENTIFIER, message: { result: { data: { aiCompletionResponse: payload } } } });
const answer = (requestId: string, chunkId: number | null = null) => frame({ requestId, role: 'ASSISTANT', chunkId, content: 'x', errors: [] });

describe('ChatStream', () => {
  it('resolves a wait with a message that came before it or after it', async () => {
    const stream = new ChatStream([]);
    stream.onFrame(answer('early'));
    await expect(stream.next((m) => m.requestId === 'early')).resolves.toMatchObject({ role: 'ASSISTANT' });
    const later = stream.next((m) => m.requestId === 'late');
    stream.onFrame({ type: 'ping', message: 1 });
    stream.onFrame(answer('late', 1));
    await expect(later).resolves.toMatchObject({ chunkId: 1 });
    expect(stream.frames).toBe(3);
    expect(stream.count((m) => m.chunkId !== null)).toBe(1);
  });

  it('a close fails present and future waits, naming the stage', async () => {
    const stream = new ChatStream([]);
    const waiting = stream.next(() => true);
    stream.stage = 'after the mutation was accepted';
    stream.onClose(1006);
    await expect(waiting).rejects.toThrow('the WebSocket closed (code 1006) after the mutation was accepted');
    await expect(stream.next(() => true)).rejects.toBeInstanceOf(ProbeError);
    await expect(stream.confirmed('other')).rejects.toThrow(/code 1006/);
  });

  it('a rejected subscription fails the wait for its confirmation as forbidden', async () => {
    const stream = new ChatStream([]);
    const confirmation = stream.confirmed(IDENTIFIER);
    stream.onFrame({ type: 'reject_subscription', identifier: IDENTIFIER });
    await expect(confirmation).rejects.toMatchObject({ reason: 'forbidden' });
  });

  it(`keeps at most ${MAX_CHAT_MESSAGES} messages: a flood fails the run instead of growing`, async () => {
    const stream = new ChatStream([]);
    const waiting = stream.next((m) => m.requestId === 'never');
    for (let i = 0; i <= MAX_CHAT_MESSAGES + 10; i += 1) stream.onFrame(answer('other', i));
    await expect(waiting).rejects.toMatchObject({ reason: 'unexpected_response', message: expect.stringMatching(/more than 2000 chat messages/) });
    expect(stream.count(() => true)).toBe(MAX_CHAT_MESSAGES);
  });
});
