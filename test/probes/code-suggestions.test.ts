import { describe, expect, it } from 'vitest';
import type { FailureReason } from '../../src/core/errors.js';
import { DUO_TOKEN, json, startFakeGitLab, type FakeReply } from '../helpers/fake-gitlab.js';
import { runInstanceProbe } from '../helpers/instance-probe.js';
import { fact, phaseSeconds } from '../helpers/probe-harness.js';

/** code_suggestions: a real completion as the Duo user (facts §3); each status has its meaning. */

const COMPLETION = { id: 'id', object: 'text_completion', created: 1, model: { engine: 'vertex-ai', name: 'codestral', lang: 'python' }, choices: [{ text: '\n    return 1\n', index: 0, finish_reason: 'length' }] };
const MONOLITH = { 'x-gitlab-error-origin': 'monolith' };

async function run(reply: FakeReply, timeout?: string) {
  const server = await startFakeGitLab((req) => (req.method === 'POST' && req.path === '/api/v4/code_suggestions/completions' ? reply : json(404, {})));
  const outcome = await runInstanceProbe('code_suggestions', { port: server.port, timeout });
  return { server, outcome };
}

describe('code_suggestions', () => {
  it('passes on 200 with a completion, sending the minimal body as the Duo user', async () => {
    const { server, outcome } = await run(json(200, COMPLETION));
    expect(outcome.result?.success, outcome.result?.message).toBe(true);
    const req = server.requests[0]!;
    expect(req.headers.authorization).toBe(`Bearer ${DUO_TOKEN}`);
    expect(req.headers['content-type']).toBe('application/json');
    expect(req.json).toEqual({ current_file: { file_name: 'x.py', content_above_cursor: 'def hello', content_below_cursor: '' }, intent: 'completion' });
    expect(await fact(outcome, 'gitlab_duo_http_status_code')).toBe(200);
    expect(await phaseSeconds(outcome, 'api')).toBeGreaterThan(0);
  });

  it.each<[string, FakeReply, FailureReason, RegExp]>([
    ['200 without text', json(200, { ...COMPLETION, choices: [{ text: '  ', index: 0 }] }), 'unexpected_response', /without text/],
    ['200 with no choices', json(200, { ...COMPLETION, choices: [] }), 'unexpected_response', /without text/],
    ['200 of another shape', json(200, { completion: 'x' }), 'unexpected_response', /not a completion/],
    ['500 from Workhorse', { status: 500, text: 'Internal Server Error\n' }, 'http_status', /Workhorse could not reach the AI gateway.*gitlab_workhorse\['env'\]/],
    ['401 from the monolith', json(401, { message: '401 Unauthorized' }, MONOLITH), 'auth', /no Duo seat, token lacks ai_features, or Duo is off for this user: 401 Unauthorized$/],
    ['401 from the AI gateway', json(401, { error: 'Forbidden by auth provider' }), 'auth', /Cloud Connector token: synchronise the subscription/],
    ['422 missing_default_duo_group', json(422, { error: 'missing_default_duo_group', message: 'No default namespace' }, MONOLITH), 'requirement_not_met', /default GitLab Duo group/],
    ['422 otherwise', json(422, { error: 'unprocessable' }), 'http_status', /answered 422/],
    ['429 with Retry-After', json(429, { message: 'Too many requests' }, { ...MONOLITH, 'retry-after': '60' }), 'rate_limited', /retrying after 60s/],
    ['403 from the AI gateway', json(403, { detail: 'Unauthorized to access code suggestions' }), 'forbidden', /Unauthorized to access code suggestions/],
    ['404 flag off', json(404, { message: '404 Not Found' }), 'http_status', /ai_duo_code_suggestions_switch/],
  ])('%s → %s', async (_name, reply, reason, message) => {
    const { outcome } = await run(reply);
    expect(outcome.result?.reason).toBe(reason);
    expect(outcome.result?.message).toMatch(message);
    expect(outcome.result?.message).not.toContain(DUO_TOKEN);
    if (reason === 'rate_limited') expect(outcome.result?.retryAfterSeconds).toBe(60);
  });

  it('a slow gateway past the deadline is a timeout', async () => {
    const { outcome } = await run({ status: 200, hang: true }, '500ms');
    expect(outcome.result?.reason).toBe('timeout');
    expect(outcome.result?.durationSeconds).toBeLessThan(1);
  });

  it('is skipped without the Duo user token, saying which token would enable it', async () => {
    const outcome = await runInstanceProbe('code_suggestions', { url: 'https://gitlab.test', duoUserToken: null });
    expect(outcome.planned.skippedBecause).toBe('needs duo_user_token (ai_features), which is not configured');
  });
});
