import { describe, expect, it } from 'vitest';
import { HOST, json, startFakeGitLab, type FakeReply } from '../helpers/fake-gitlab.js';
import { runInstanceProbe } from '../helpers/instance-probe.js';

/**
 * agent_platform_client against a fake GitLab, for the answers the simulator does not give: a
 * service URL that speaks HTTP/1.1 only (the fake GitLab itself), a 404 where the profile is unknown, a quota 403.
 */

const TOKEN = 'sentinel-agent-platform-0a1b2c3d';
const PATH = '/api/v4/ai/duo_workflows/direct_access';

async function run(reply: (port: number) => FakeReply) {
  let port = 0;
  const server = await startFakeGitLab((req) => (req.method === 'POST' && req.path === PATH ? reply(port) : json(404, { message: '404 Not Found' })));
  port = server.port;
  const outcome = await runInstanceProbe('agent_platform_client', { port, agentPlatformToken: TOKEN });
  return { server, result: outcome.result! };
}

const credentials = (port: number): FakeReply =>
  json(201, { duo_workflow_service: { base_url: `${HOST}:${port}`, token: 'dws-sentinel-token-99', token_expires_at: Math.floor(Date.now() / 1000) + 3600, headers: { 'x-gitlab-realm': 'self-managed' }, secure: true } });

describe('agent_platform_client against a fake GitLab', () => {
  it('a service URL without HTTP/2: http2_not_negotiated, after sending direct_access with the api token', async () => {
    const { server, result } = await run(credentials);
    expect(result.reason, result.message).toBe('http2_not_negotiated');
    expect(result.message).toMatch(/h2/);
    expect(server.requests[0]!.headers.authorization).toBe(`Bearer ${TOKEN}`);
    expect(JSON.stringify(result)).not.toContain('dws-sentinel-token-99');
  });

  it('404 where nothing says whether the Agent Platform is in use: passes, noting that it is not enabled', async () => {
    const { result } = await run(() => json(404, { message: '404 Not Found' }));
    expect(result.success, result.message).toBe(true);
    expect(result.notes.join('\n')).toMatch(/answered 404: the Agent Platform is not enabled for this user/);
  });

  it('403 with a quota message: forbidden with GitLab\u2019s words', async () => {
    const { result } = await run(() => json(403, { message: '403 Forbidden - USAGE_QUOTA_EXCEEDED: quota spent' }));
    expect(result.reason).toBe('forbidden');
    expect(result.message).toMatch(/USAGE_QUOTA_EXCEEDED/);
  });

  it('201 without the service part: unexpected_response', async () => {
    const { result } = await run(() => json(201, { gitlab_rails: {} }));
    expect(result.reason).toBe('unexpected_response');
  });
});
