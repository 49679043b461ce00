import { describe, expect, it } from 'vitest';
import type { FailureReason } from '../../src/core/errors.js';
import type { Capabilities } from '../../src/gitlab/capabilities.js';
import { resolveEnvironment, type InstanceEnvironment } from '../../src/gitlab/deployment.js';
import type { ApplicationSettings } from '../../src/gitlab/rest.js';
import { parseVersion } from '../../src/gitlab/version.js';
import { duoWorkflowTools } from '../../src/probes/duo-workflow-tools.js';
import { DUO_TOKEN, json, startFakeGitLab, type FakeReply } from '../helpers/fake-gitlab.js';
import { apiContext, runInEnvironment, runInstanceProbe } from '../helpers/instance-probe.js';
import { fact } from '../helpers/probe-harness.js';

/** duo_workflow_tools: Rails → Duo Workflow Service through GET list_tools (facts §6). */

const PATH = '/api/v4/ai/duo_workflows/list_tools';

async function run(reply: FakeReply) {
  const server = await startFakeGitLab((req) => (req.method === 'GET' && req.path === PATH ? reply : json(404, {})));
  const outcome = await runInstanceProbe('duo_workflow_tools', { port: server.port });
  return { server, outcome };
}

/** What detection would have found on a GitLab of `version` with these application settings. */
function capabilities(version: string, applicationSettings: ApplicationSettings | undefined): Capabilities {
  return {
    detectedAt: Date.now(),
    version: parseVersion(version),
    fields: undefined,
    settings: { licenseType: 'online_cloud', selfHostedAiGateway: false, selfHostedAgentPlatform: false, applicationSettings },
    problems: [],
  };
}

const IN_USE = { duo_features_enabled: true, duo_agent_platform_enabled: true, instance_level_ai_beta_features_enabled: true };

/** Runs the probe once against `reply` with the environment `caps` make (runInstanceProbe has none). */
async function runWith(reply: FakeReply, caps: Capabilities | undefined) {
  const server = await startFakeGitLab((req) => (req.method === 'GET' && req.path === PATH ? reply : json(404, {})));
  return { server, ...(await runInEnvironment(duoWorkflowTools, server.port, caps)) };
}

describe('duo_workflow_tools', () => {
  it('passes on 200 with a tools array', async () => {
    const { server, outcome } = await run(json(200, { tools: [{ name: 'read_file' }, { name: 'grep' }], evalDataset: [] }));
    expect(outcome.result?.success, outcome.result?.message).toBe(true);
    expect(outcome.result?.notes).toContain('the Duo Workflow Service listed 2 tools');
    expect(server.requests[0]!.headers.authorization).toBe(`Bearer ${DUO_TOKEN}`);
    expect(await fact(outcome, 'gitlab_duo_http_status_code')).toBe(200);
  });

  it('passes on 200 {} (protobuf JSON leaves out an empty tools list): 0 tools', async () => {
    const { outcome } = await run(json(200, {}));
    expect(outcome.result?.success, outcome.result?.message).toBe(true);
    expect(outcome.result?.notes).toContain('the Duo Workflow Service listed 0 tools');
  });

  it.each<[string, FakeReply, RegExp]>([
    ['14 (unavailable)', json(400, { message: '400 Bad request - 14:failed to connect to all addresses' }), /could not reach the Duo Workflow Service.*14:failed to connect to all addresses/],
    ['4 (deadline exceeded)', json(400, { message: '400 Bad request - 4:Deadline Exceeded' }), /could not reach the Duo Workflow Service/],
    ['16 (unauthenticated)', json(400, { message: '400 Bad request - 16:invalid token' }), /refused GitLab's Cloud Connector token.*16:invalid token/],
    ['16 without the Grape prefix', json(400, { message: '16:unauthenticated' }), /refused GitLab's Cloud Connector token/],
    ['7 (permission denied)', json(400, { message: '400 Bad request - 7:forbidden' }), /refused GitLab's Cloud Connector token/],
    ['13 (internal)', json(400, { message: '400 Bad request - 13:boom' }), /answered GitLab with an error.*13:boom/],
  ])('400 with gRPC code %s → grpc, explained', async (_name, reply, message) => {
    const { outcome } = await run(reply);
    expect(outcome.result?.reason).toBe('grpc');
    expect(outcome.result?.message).toMatch(/^GET \/api\/v4\/ai\/duo_workflows\/list_tools answered 400: /);
    expect(outcome.result?.message).toMatch(message);
    expect(await fact(outcome, 'gitlab_duo_http_status_code')).toBe(400);
  });

  it('14 and 16 get different explanations', async () => {
    const unreachable = (await run(json(400, { message: '400 Bad request - 14:failed to connect' }))).outcome.result!.message;
    const refused = (await run(json(400, { message: '400 Bad request - 16:unauthenticated' }))).outcome.result!.message;
    expect(unreachable).toContain('could not reach');
    expect(unreachable).not.toContain('refused');
    expect(refused).toContain("refused GitLab's Cloud Connector token");
    expect(refused).not.toContain('could not reach');
  });

  it('403 insufficient_scope → forbidden, naming the scopes GitLab accepts', async () => {
    const body = { error: 'insufficient_scope', error_description: 'The request requires higher privileges than provided by the access token.', scope: 'api read_api' };
    const { outcome } = await run(json(403, body));
    expect(outcome.result?.reason).toBe('forbidden');
    expect(outcome.result?.message).toMatch(/lacks a scope this endpoint needs/);
    expect(outcome.result?.message).toContain('scopes accepted: api read_api');
    expect(outcome.result?.message).toContain('duo_user_token');
  });

  it.each<[string, FakeReply, FailureReason, RegExp]>([
    ['403 (no scope named)', json(403, { message: '403 Forbidden' }), 'forbidden', /read_api or api scope besides ai_features/],
    ['401', json(401, { message: '401 Unauthorized' }), 'auth', /duo_user_token/],
    ['429', json(429, {}, { 'retry-after': '5' }), 'rate_limited', /429/],
    ['502', { status: 502, text: 'Bad Gateway' }, 'http_status', /502/],
    ['200 with tools of the wrong type', json(200, { tools: 'read_file' }), 'unexpected_response', /tool list/],
    ['200 without a JSON body', { status: 200, text: 'ok' }, 'unexpected_response', /without a JSON body/],
  ])('%s → %s', async (_name, reply, reason, message) => {
    const { outcome } = await run(reply);
    expect(outcome.result?.reason).toBe(reason);
    expect(outcome.result?.message).toMatch(message);
  });

  describe('404, by whether the Agent Platform is in use', () => {
    const notFound = json(404, { error: '404 Not Found' });

    it('unknown (the test default: nothing detected) → passes with a note: feature flags off', async () => {
      const { outcome } = await run(notFound);
      expect(outcome.planned.environment.agentPlatform.inUse).toBeUndefined();
      expect(outcome.result?.success, outcome.result?.message).toBe(true);
      expect(outcome.result?.notes.join(' ')).toMatch(/answered 404: the Agent Platform is not enabled for this user/);
      expect(await fact(outcome, 'gitlab_duo_http_status_code')).toBe(404);
    });

    it('unknown on 18.5 (flags no API shows) → passes too', async () => {
      const { result, environment } = await runWith(notFound, capabilities('18.5.2-ee', IN_USE));
      expect(environment.agentPlatform.inUse).toBeUndefined();
      expect(result.success, result.message).toBe(true);
    });

    it('in use → requirement_not_met', async () => {
      const { result, environment } = await runWith(notFound, capabilities('18.8.0-ee', IN_USE));
      expect(environment.agentPlatform.inUse).toBe(true);
      expect(result.reason).toBe('requirement_not_met');
      expect(result.message).toMatch(/answered 404: this GitLab has no list_tools endpoint.*404 Not Found/);
      expect(result.facts).toContainEqual({ name: 'gitlab_duo_http_status_code', value: 404 });
    });

    it('in use, 200 → passes', async () => {
      const { result } = await runWith(json(200, { tools: [{ name: 'grep' }] }), capabilities('18.8.0-ee', IN_USE));
      expect(result.success, result.message).toBe(true);
      expect(result.notes).toContain('the Duo Workflow Service listed 1 tool');
    });
  });

  describe('relevance', () => {
    const instance = async () => (await apiContext({ port: 1 })).ctx.instance;
    const relevance = async (caps: Capabilities | undefined) => {
      const inst = await instance();
      const env: InstanceEnvironment = resolveEnvironment(inst, caps);
      return duoWorkflowTools.relevance!(env, inst);
    };

    it('required where the Agent Platform is in use', async () => {
      expect(await relevance(capabilities('18.8.0', IN_USE))).toEqual({ use: 'required' });
    });

    it('skipped where it is not in use', async () => {
      expect(await relevance(capabilities('18.8.0', { ...IN_USE, duo_agent_platform_enabled: false }))).toMatchObject({ use: 'skip', why: expect.stringMatching(/not in use/) });
      expect(await relevance(capabilities('18.2.0', undefined))).toMatchObject({ use: 'skip' });
    });

    it('optional where GitLab cannot say', async () => {
      expect(await relevance(undefined)).toMatchObject({ use: 'optional', why: expect.stringMatching(/unknown/) });
    });
  });
});
