import { describe, expect, it } from 'vitest';
import type { ScenarioName } from '../../src/simulator/index.js';
import { agentFor, bearer, completionBody, httpRequest, useSimulator } from './helpers.js';

describe('GitLab REST API', () => {
  it('answers /api/v4/metadata to any valid token, by Bearer or PRIVATE-TOKEN', async () => {
    const sim = await useSimulator();
    const agent = agentFor(sim);
    const byBearer = await httpRequest(agent, `${sim.gitlabUrl}/api/v4/metadata`, { headers: bearer(sim.duoUserToken) });
    expect(byBearer.status).toBe(200);
    expect(JSON.parse(byBearer.text)).toMatchObject({ version: '18.9.0-ee', revision: 'abc1234', enterprise: true, kas: { enabled: true } });
    const byHeader = await httpRequest(agent, `${sim.gitlabUrl}/api/v4/version`, { headers: { 'private-token': sim.adminToken } });
    expect(byHeader.status).toBe(200);
  });

  it.each([
    ['no token', {}],
    ['a wrong token', { authorization: 'Bearer glpat-wrong' }],
    ['a wrong PRIVATE-TOKEN', { 'private-token': 'glpat-wrong' }],
  ])('refuses %s with 401 {"message":"401 Unauthorized"}', async (_name, headers) => {
    const sim = await useSimulator();
    const res = await httpRequest(agentFor(sim), `${sim.gitlabUrl}/api/v4/metadata`, { headers });
    expect(res.status).toBe(401);
    expect(JSON.parse(res.text)).toEqual({ message: '401 Unauthorized' });
  });

  it('serves application settings to the admin only', async () => {
    const sim = await useSimulator();
    const agent = agentFor(sim);
    const admin = await httpRequest(agent, `${sim.gitlabUrl}/api/v4/application/settings`, { headers: bearer(sim.adminToken) });
    expect(JSON.parse(admin.text)).toMatchObject({
      silent_mode_enabled: false,
      duo_features_enabled: true,
      lock_duo_features_enabled: false,
      duo_availability: 'default_on',
      instance_level_ai_beta_features_enabled: true,
      duo_agent_platform_enabled: true,
      // The non-composite OAuth app, set once anyone used the Agent Platform.
      duo_workflow_oauth_application_id: 9,
    });
    const user = await httpRequest(agent, `${sim.gitlabUrl}/api/v4/application/settings`, { headers: bearer(sim.duoUserToken) });
    expect(user.status).toBe(403);
  });

  it('reflects silent_mode_on and duo_never_on in the settings', async () => {
    const sim = await useSimulator({ scenario: 'silent_mode_on' });
    const agent = agentFor(sim);
    const get = async () => JSON.parse((await httpRequest(agent, `${sim.gitlabUrl}/api/v4/application/settings`, { headers: bearer(sim.adminToken) })).text);
    expect(await get()).toMatchObject({ silent_mode_enabled: true });
    sim.setScenario('duo_never_on');
    expect(await get()).toMatchObject({
      silent_mode_enabled: false,
      duo_features_enabled: false,
      lock_duo_features_enabled: true,
      duo_availability: 'never_on',
      instance_level_ai_beta_features_enabled: false,
    });
  });

  it('lists the duo-developer service account until composite identity is off', async () => {
    const sim = await useSimulator();
    const agent = agentFor(sim);
    const url = `${sim.gitlabUrl}/api/v4/users?username=duo-developer`;
    expect(JSON.parse((await httpRequest(agent, url, { headers: bearer(sim.adminToken) })).text)).toMatchObject([
      { username: 'duo-developer', name: 'Duo Developer', state: 'active' },
    ]);
    sim.setScenario('composite_identity_off');
    expect(JSON.parse((await httpRequest(agent, url, { headers: bearer(sim.adminToken) })).text)).toEqual([]);
  });
});

describe('POST /api/v4/code_suggestions/completions', () => {
  const post = (sim: Awaited<ReturnType<typeof useSimulator>>, body = completionBody, token = sim.duoUserToken) =>
    httpRequest(agentFor(sim), `${sim.gitlabUrl}/api/v4/code_suggestions/completions`, {
      method: 'POST',
      headers: { ...bearer(token), 'content-type': 'application/json' },
      body,
    });

  it('answers 200 with the AI gateway shape', async () => {
    const sim = await useSimulator();
    const res = await post(sim);
    expect(res.status).toBe(200);
    const answer = JSON.parse(res.text);
    expect(answer).toMatchObject({ id: expect.any(String), object: 'text_completion', experiments: [], model: { lang: 'python' } });
    expect(Number.isInteger(answer.created)).toBe(true);
    expect(answer.choices[0]).toMatchObject({ index: 0, finish_reason: 'length' });
    expect(answer.choices[0].text.length).toBeGreaterThan(0);
  });

  it.each<[ScenarioName, number, string | undefined, Record<string, unknown> | string]>([
    ['code_suggestions_unauthorized', 401, 'monolith', { message: '401 Unauthorized' }],
    ['duo_never_on', 401, 'monolith', { message: '401 Unauthorized' }],
    ['code_suggestions_no_default_group', 422, 'monolith', { error: 'missing_default_duo_group' }],
    ['code_suggestions_rate_limited', 429, 'monolith', { message: expect.stringContaining('too many times') }],
    ['code_suggestions_gateway_unreachable', 500, undefined, 'Internal Server Error\n'],
    ['cloud_connector_down', 500, undefined, 'Internal Server Error\n'],
    ['token_expired', 401, undefined, { error: 'Forbidden by auth provider' }],
  ])('%s: %i, error origin %s', async (scenario, status, origin, body) => {
    const sim = await useSimulator({ scenario });
    const res = await post(sim);
    expect(res.status).toBe(status);
    expect(res.headers['x-gitlab-error-origin']).toBe(origin);
    if (typeof body === 'string') expect(res.text).toBe(body);
    else expect(JSON.parse(res.text)).toMatchObject(body);
    if (status === 429) expect(res.headers['retry-after']).toBe('60');
  });

  it('answers after slowDelayMs in code_suggestions_slow', async () => {
    const sim = await useSimulator({ scenario: 'code_suggestions_slow', slowDelayMs: 300 });
    const started = Date.now();
    const res = await post(sim);
    expect(res.status).toBe(200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
  });

  it('refuses a body without current_file (400) and a body over 1 MiB (413)', async () => {
    const sim = await useSimulator();
    expect((await post(sim, '{"intent":"completion"}')).status).toBe(400);
    expect((await post(sim, `{"x":"${'a'.repeat(1024 * 1024)}"}`)).status).toBe(413);
  });

  it('refuses an oversized body over HTTP/2 too, and keeps serving', async () => {
    const sim = await useSimulator();
    const agent = agentFor(sim, { allowH2: true });
    const url = `${sim.gitlabUrl}/api/graphql`;
    const big = await httpRequest(agent, url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: 'x'.repeat(2 * 1024 * 1024) }).catch(
      (err: unknown) => err,
    );
    // The server answers 413 before reading it all; the client sees the answer or a reset stream.
    if (!(big instanceof Error)) expect((big as { status: number }).status).toBe(413);
    const after = await httpRequest(agentFor(sim, { allowH2: true }), `${sim.gitlabUrl}/-/health`);
    expect(after.status).toBe(200);
  });
});

describe('GET /api/v4/ai/duo_workflows/list_tools', () => {
  it('lists tools, fails with 400 and the gRPC error when DWS has no h2, and is 404 on 17.1', async () => {
    const sim = await useSimulator();
    const agent = agentFor(sim);
    const get = () => httpRequest(agent, `${sim.gitlabUrl}/api/v4/ai/duo_workflows/list_tools`, { headers: bearer(sim.duoUserToken) });
    const ok = await get();
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.text).tools.length).toBeGreaterThan(0);
    sim.setScenario('dws_no_h2');
    const failed = await get();
    expect(failed.status).toBe(400);
    expect(JSON.parse(failed.text).message).toMatch(/^400 Bad request - 14:.*ALPN/);
    sim.setScenario('version_too_old');
    expect((await get()).status).toBe(404);
  });
});
