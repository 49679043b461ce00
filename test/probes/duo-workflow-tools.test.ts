import { describe, expect, it } from 'vitest';
import type { FailureReason } from '../../src/errors.js';
import { DUO_TOKEN, fact, json, runInstanceProbe, startFakeGitLab, type FakeReply } from '../gitlab/helpers.js';

/** duo_workflow_tools: Rails → Duo Workflow Service through GET list_tools (facts §6). */

async function run(reply: FakeReply) {
  const server = await startFakeGitLab((req) => (req.method === 'GET' && req.path === '/api/v4/ai/duo_workflows/list_tools' ? reply : json(404, {})));
  const outcome = await runInstanceProbe('duo_workflow_tools', { port: server.port });
  return { server, outcome };
}

describe('duo_workflow_tools', () => {
  it('passes on 200 with a tools array', async () => {
    const { server, outcome } = await run(json(200, { tools: [{ name: 'read_file' }, { name: 'grep' }], evalDataset: [] }));
    expect(outcome.result?.success, outcome.result?.message).toBe(true);
    expect(outcome.result?.notes).toContain('the Duo Workflow Service listed 2 tools');
    expect(server.requests[0]!.headers.authorization).toBe(`Bearer ${DUO_TOKEN}`);
    expect(await fact(outcome, 'gitlab_duo_http_status_code')).toBe(200);
  });

  it.each<[string, FakeReply, FailureReason, RegExp]>([
    ['400 with the gRPC error', json(400, { message: '400 Bad request - 14:failed to connect to all addresses' }), 'grpc', /could not reach the Duo Workflow Service.*14:failed to connect to all addresses/],
    ['404 (older GitLab)', json(404, { error: '404 Not Found' }), 'requirement_not_met', /no list_tools endpoint/],
    ['403 insufficient scope', json(403, { error: 'insufficient_scope' }), 'forbidden', /read_api or api scope/],
    ['401', json(401, { message: '401 Unauthorized' }), 'auth', /duo_user_token/],
    ['429', json(429, {}, { 'retry-after': '5' }), 'rate_limited', /429/],
    ['502', { status: 502, text: 'Bad Gateway' }, 'http_status', /502/],
    ['200 without tools', json(200, { flows: [] }), 'unexpected_response', /tool list/],
  ])('%s → %s', async (_name, reply, reason, message) => {
    const { outcome } = await run(reply);
    expect(outcome.result?.reason).toBe(reason);
    expect(outcome.result?.message).toMatch(message);
  });
});
