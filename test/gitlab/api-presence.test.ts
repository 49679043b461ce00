import { describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, HOST, json, startFakeGitLab, type FakeReply } from '../helpers/fake-gitlab.js';
import { runInstanceProbe } from '../helpers/instance-probe.js';
import { fact } from '../helpers/probe-harness.js';

/**
 * Issue 14: an instance URL that does not lead to GitLab's API (a wrong path or relative URL root,
 * http:// where GitLab redirects) is said to be the URL, by the version probe (and capability
 * detection, which shares getMetadata), not a misleading failure of what a probe checks.
 */

const page = (status: number, headers: Record<string, string> = {}): FakeReply => ({ status, text: '<!DOCTYPE html><html><body>Page not found</body></html>', headers: { 'content-type': 'text/html; charset=utf-8', ...headers } });

async function version(handler: (path: string) => FakeReply, urlPath = '') {
  const server = await startFakeGitLab((req) => handler(req.path));
  const outcome = await runInstanceProbe('version', { port: server.port, urlPath });
  return { server, outcome, api: `https://${HOST}:${server.port}${urlPath}/api/v4` };
}

describe('the version probe on a URL with no GitLab API', () => {
  it('404 pages for metadata and version: the URL, first, with the relative URL root hint', async () => {
    const { server, outcome, api } = await version(() => page(404));
    expect(outcome.result?.reason).toBe('http_status');
    expect(outcome.result?.message).toBe(
      `no GitLab API at ${api}: GET /api/v4/metadata and /api/v4/version answered 404 with a page, not JSON: check the instance URL (a GitLab served under a relative URL root needs it in the URL, e.g. https://${HOST}:${server.port}/gitlab)`,
    );
    expect(server.requests.map((r) => r.path)).toEqual(['/api/v4/metadata', '/api/v4/version']);
    expect(await fact(outcome, 'gitlab_duo_http_status_code', { probe: 'version' })).toBe(404);
  });

  it("GitLab's own 404 for a route it lacks (the URL's path puts the API elsewhere): the path is named", async () => {
    const { outcome, api } = await version(() => json(404, { error: '404 Not Found' }), '/gitlab');
    expect(outcome.result?.reason).toBe('http_status');
    expect(outcome.result?.message).toBe(
      `no GitLab API at ${api}: GET /gitlab/api/v4/metadata and /gitlab/api/v4/version answered 404: check the instance URL (the path /gitlab is right only when GitLab is served under that relative URL root)`,
    );
  });

  it('a redirect: where to, and the URL to use when it is the same API path elsewhere', async () => {
    const { outcome, api } = await version(() => page(301, { location: 'https://gitlab.example.com/api/v4/metadata?x=sentinel-query' }));
    expect(outcome.result?.reason).toBe('http_status');
    expect(outcome.result?.message).toBe(
      `no GitLab API at ${api}: GET /api/v4/metadata answered 301, a redirect to https://gitlab.example.com/api/v4/metadata; GitLab's external URL is likely https://gitlab.example.com: check the instance URL`,
    );
    expect(await fact(outcome, 'gitlab_duo_http_status_code', { probe: 'version' })).toBe(301);
  });

  it('a redirect elsewhere (a sign-in portal) is named without a suggestion', async () => {
    const { outcome } = await version(() => page(302, { location: '/sso/login' }));
    expect(outcome.result?.message).toMatch(/answered 302, a redirect to https:\/\/gitlab\.test:\d+\/sso\/login: check the instance URL$/);
  });

  it('a 200 page instead of JSON is unexpected_response, about the URL', async () => {
    const { outcome, api } = await version(() => page(200));
    expect(outcome.result?.reason).toBe('unexpected_response');
    expect(outcome.result?.message).toMatch(new RegExp(`^no GitLab API at ${api.replace(/[.]/g, '\\.')}: GET /api/v4/metadata answered 200 with text/html; charset=utf-8, not JSON: check the instance URL`));
    expect(await fact(outcome, 'gitlab_duo_http_status_code', { probe: 'version' })).toBe(200);
  });

  it('a GitLab that answers is judged as before: a 401 is the token, a 500 is a status', async () => {
    const refused = await version(() => json(401, { message: '401 Unauthorized' }));
    expect(refused.outcome.result?.reason).toBe('auth');
    expect(refused.outcome.result?.message).not.toContain('no GitLab API');
    const broken = await version(() => page(500));
    expect(broken.outcome.result).toMatchObject({ reason: 'http_status', message: 'GET /api/v4/metadata answered 500' });
    // GitLab before 15.2: no metadata, a version endpoint that answers.
    const old = await version((path) => (path === '/api/v4/version' ? json(200, { version: '17.2.0', revision: 'abc1234' }) : json(404, { error: '404 Not Found' })));
    expect(old.outcome.result?.success, old.outcome.result?.message).toBe(true);
    expect(old.server.requests[0]!.headers.authorization).toBe(`Bearer ${ADMIN_TOKEN}`);
  });
});

describe('duo_workflow_tools on a URL with no GitLab API', () => {
  it('a 404 page is not GitLab saying the Agent Platform is off: it fails, naming the URL', async () => {
    const server = await startFakeGitLab(() => page(404));
    const outcome = await runInstanceProbe('duo_workflow_tools', { port: server.port });
    expect(outcome.planned.environment.agentPlatform.inUse).toBeUndefined();
    expect(outcome.result?.success).toBe(false);
    expect(outcome.result?.reason).toBe('http_status');
    expect(outcome.result?.message).toMatch(/answered 404 \(a page, not GitLab's JSON: no GitLab API at this URL, check the instance URL\)/);
  });
});
