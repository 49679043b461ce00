import { describe, expect, it } from 'vitest';
import { fact, json, runInstanceProbe, startFakeGitLab, type FakeReply, type FakeRequest } from '../gitlab/helpers.js';

/** composite_identity: settings `duo_workflow_oauth_application_id` + the duo-developer account (facts §4). */

interface World {
  oauth?: number | null;
  user?: { state: string; compositeIdentityEnforced: boolean | null } | null;
  /** GitLab before the GraphQL field existed. */
  noEnforcedField?: boolean;
  restState?: string;
}

function gitlab(world: World): (req: FakeRequest) => FakeReply {
  return (req) => {
    if (req.path === '/api/v4/application/settings') {
      return json(200, { silent_mode_enabled: false, ...('oauth' in world ? { duo_workflow_oauth_application_id: world.oauth } : {}) });
    }
    if (req.path === '/api/graphql') {
      if (world.noEnforcedField) return json(200, { errors: [{ message: "Field 'compositeIdentityEnforced' doesn't exist on type 'UserCore'" }] });
      return json(200, { data: { user: world.user ? { id: 'gid://gitlab/User/3', ...world.user } : null } });
    }
    if (req.path === '/api/v4/users') {
      return json(200, world.restState && req.url.includes('username=duo-developer') ? [{ id: 3, username: 'duo-developer', state: world.restState }] : []);
    }
    return json(404, {});
  };
}

async function run(world: World) {
  const server = await startFakeGitLab(gitlab(world));
  const outcome = await runInstanceProbe('composite_identity', { port: server.port });
  return { server, outcome };
}

const ENFORCED = { state: 'active', compositeIdentityEnforced: true };

describe('composite_identity', () => {
  it('passes with the OAuth app and an active, enforced duo-developer', async () => {
    const { server, outcome } = await run({ oauth: 7, user: ENFORCED });
    expect(outcome.result?.success, outcome.result?.message).toBe(true);
    expect(await fact(outcome, 'gitlab_duo_composite_identity_enabled')).toBe(1);
    expect((server.requests[1]!.json as { variables: unknown }).variables).toEqual({ username: 'duo-developer' });
  });

  it.each<[string, World, RegExp]>([
    ['onboarding never ran', { oauth: null, user: null }, /duo_workflow_oauth_application_id is not set.*duo-developer does not exist/],
    ['the account is blocked', { oauth: 7, user: { state: 'blocked', compositeIdentityEnforced: true } }, /duo-developer is blocked, not active/],
    ['enforcement is off', { oauth: 7, user: { state: 'active', compositeIdentityEnforced: false } }, /does not have composite identity enforced/],
    ['GitLab too old for the setting', { user: null }, /needs GitLab 18\.3 or later/],
  ])('%s → requirement_not_met', async (_name, world, message) => {
    const { outcome } = await run(world);
    expect(outcome.result?.reason).toBe('requirement_not_met');
    expect(outcome.result?.message).toMatch(message);
    expect(await fact(outcome, 'gitlab_duo_composite_identity_enabled')).toBe(0);
  });

  it('falls back to REST for the state when GraphQL lacks compositeIdentityEnforced', async () => {
    const { server, outcome } = await run({ oauth: 7, noEnforcedField: true, restState: 'active' });
    expect(outcome.result?.success, outcome.result?.message).toBe(true);
    expect(outcome.result?.notes.join(' ')).toContain('enforcement not verified');
    expect(server.requests.map((r) => r.url)).toContain('/api/v4/users?username=duo-developer');
  });

  it('REST fallback: a deactivated account fails', async () => {
    const { outcome } = await run({ oauth: 7, noEnforcedField: true, restState: 'deactivated' });
    expect(outcome.result?.message).toMatch(/is deactivated, not active/);
  });
});
