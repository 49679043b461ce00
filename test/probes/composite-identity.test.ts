import { describe, expect, it } from 'vitest';
import { parseConfigText } from '../../src/config/load.js';
import type { Config, InstanceConfig } from '../../src/config/schema.js';
import type { Capabilities } from '../../src/gitlab/capabilities.js';
import { resolveEnvironment } from '../../src/gitlab/deployment.js';
import type { ApplicationSettings } from '../../src/gitlab/rest.js';
import { parseVersion } from '../../src/gitlab/version.js';
import { loadCloudflareRanges } from '../../src/net/cloudflare.js';
import { compositeIdentity } from '../../src/probes/composite-identity.js';
import { buildPlan } from '../../src/runner/plan.js';
import { ADMIN_TOKEN, json, startFakeGitLab, type FakeReply, type FakeRequest } from '../helpers/fake-gitlab.js';
import { apiContext, runInEnvironment, runInstanceProbe } from '../helpers/instance-probe.js';

/**
 * composite_identity: the Agent Platform's service account from GET /api/v4/service_accounts,
 * then GraphQL `user { state compositeIdentityEnforced }` for each. Application settings are
 * never read (Ai::Setting, where GitLab keeps the switch, is not in the API).
 */

interface Account {
  readonly id: number;
  readonly username: string;
  readonly name: string;
}

interface World {
  /** The service accounts list; a number answers that status instead. */
  readonly accounts: readonly Account[] | number;
  /** GraphQL `user(username:)` per username; a username not here answers null. */
  readonly users?: Readonly<Record<string, { state: string; compositeIdentityEnforced: boolean | null }>>;
}

const DUO_DEVELOPER: Account = { id: 3, username: 'duo-developer', name: 'Duo Developer' };
const LEGACY: Account = { id: 6, username: 'service_account_6f1c2a', name: 'Duo Workflow Service' };
const OTHER: Account = { id: 9, username: 'ci-bot', name: 'CI bot' };
const ENFORCED = { state: 'active', compositeIdentityEnforced: true };

function gitlab(world: World): (req: FakeRequest) => FakeReply {
  return (req) => {
    if (req.method === 'GET' && req.path === '/api/v4/service_accounts') {
      if (typeof world.accounts === 'number') return json(world.accounts, { message: `${world.accounts} Forbidden` });
      // Paged like GitLab: per_page and page.
      const query = new URLSearchParams(req.url.split('?')[1] ?? '');
      const perPage = Number(query.get('per_page') ?? 20);
      const page = Number(query.get('page') ?? 1);
      return json(200, world.accounts.slice((page - 1) * perPage, page * perPage));
    }
    if (req.method === 'POST' && req.path === '/api/graphql') {
      const username = (req.json as { variables?: { username?: string } }).variables?.username ?? '';
      const user = world.users?.[username];
      return json(200, { data: { user: user ? { id: `gid://gitlab/User/${username.length}`, ...user } : null } });
    }
    return json(404, { message: '404 Not Found' });
  };
}

/** Capabilities as detection finds them: `UserCore` with or without compositeIdentityEnforced. */
function capabilities(version: string, opts: { enforcedField?: boolean; introspected?: boolean; applicationSettings?: ApplicationSettings } = {}): Capabilities {
  const userFields = new Set(['id', 'username', 'state', ...(opts.enforcedField ? ['compositeIdentityEnforced'] : [])]);
  return {
    detectedAt: Date.now(),
    version: parseVersion(version),
    fields: opts.introspected === false ? undefined : new Map([['Query', new Set(['user', 'currentLicense'])], ['UserCore', userFields]]),
    settings: { licenseType: 'online_cloud', selfHostedAiGateway: false, selfHostedAgentPlatform: undefined, applicationSettings: opts.applicationSettings },
    problems: [],
  };
}

const AGENT_PLATFORM_ON: ApplicationSettings = { duo_features_enabled: true, duo_agent_platform_enabled: true };
const IN_USE = capabilities('18.8.0-ee', { enforcedField: true, applicationSettings: AGENT_PLATFORM_ON });

/** Runs the probe with an environment where it applies (the plan skips it when nothing is detected). */
async function run(world: World) {
  const server = await startFakeGitLab(gitlab(world));
  const { result } = await runInEnvironment(compositeIdentity, server.port, IN_USE);
  const graphqlUsernames = server.requests.filter((r) => r.path === '/api/graphql').map((r) => (r.json as { variables: { username: string } }).variables.username);
  const enabled = result.facts.filter((f) => f.name === 'gitlab_duo_composite_identity_enabled').map((f) => f.value);
  return { server, result, graphqlUsernames, enabled };
}

describe('composite_identity', () => {
  it('finds the account past the first page of 100 service accounts', async () => {
    const many = Array.from({ length: 150 }, (_, i) => ({ id: 100 + i, username: `bot-${i}`, name: `Bot ${i}` }));
    const { server, result } = await run({ accounts: [...many, DUO_DEVELOPER], users: { 'duo-developer': ENFORCED } });
    expect(result.success, result.message).toBe(true);
    expect(server.requests.filter((r) => r.path === '/api/v4/service_accounts').map((r) => r.url)).toEqual([
      '/api/v4/service_accounts?per_page=100&page=1',
      '/api/v4/service_accounts?per_page=100&page=2',
    ]);
  });

  it('passes with an active duo-developer that has composite identity enforced', async () => {
    const { server, result, graphqlUsernames, enabled } = await run({ accounts: [OTHER, DUO_DEVELOPER], users: { 'duo-developer': ENFORCED, 'ci-bot': ENFORCED } });
    expect(result.success, result.message).toBe(true);
    expect(enabled).toEqual([1]);
    expect(result.notes[0]).toMatch(/^service account duo-developer is active with composite identity enforced/);
    const list = server.requests[0]!;
    expect(`${list.method} ${list.url}`).toBe('GET /api/v4/service_accounts?per_page=100&page=1');
    expect(list.headers.authorization).toBe(`Bearer ${ADMIN_TOKEN}`);
    // Only the Agent Platform's account is looked up; other service accounts are not its concern.
    expect(graphqlUsernames).toEqual(['duo-developer']);
    expect((server.requests[1]!.json as { query: string }).query).toContain('user(username: $username) { id state compositeIdentityEnforced }');
    expect(server.requests.some((r) => r.path.startsWith('/api/v4/application/settings'))).toBe(false);
  });

  it('passes with the account onboarding created before 18.5: service_account_… named "Duo Workflow Service"', async () => {
    const { result, graphqlUsernames, enabled } = await run({ accounts: [LEGACY], users: { [LEGACY.username]: ENFORCED } });
    expect(result.success, result.message).toBe(true);
    expect(enabled).toEqual([1]);
    expect(graphqlUsernames).toEqual(['service_account_6f1c2a']);
    expect(result.notes[0]).toContain('service_account_6f1c2a');
  });

  it('passes when any one of several candidates is active and enforced', async () => {
    const { result, graphqlUsernames, enabled } = await run({
      accounts: [LEGACY, DUO_DEVELOPER],
      users: { [LEGACY.username]: { state: 'blocked', compositeIdentityEnforced: false }, 'duo-developer': ENFORCED },
    });
    expect(result.success, result.message).toBe(true);
    expect(enabled).toEqual([1]);
    expect(graphqlUsernames.sort()).toEqual(['duo-developer', 'service_account_6f1c2a']);
    expect(result.notes[0]).toContain('duo-developer');
  });

  it.each<[string, readonly Account[]]>([
    ['no service account at all', []],
    ['only unrelated service accounts', [OTHER]],
    // "Duo Workflow Service" alone is not enough: the legacy account is a generated service_account_….
    ['"Duo Workflow Service" under a username onboarding never generates', [{ id: 5, username: 'duo-workflow', name: 'Duo Workflow Service' }]],
  ])('%s → requirement_not_met: onboarding has not run', async (_name, accounts) => {
    const { result, graphqlUsernames, enabled } = await run({ accounts, users: { 'duo-workflow': ENFORCED, 'ci-bot': ENFORCED } });
    expect(result.reason).toBe('requirement_not_met');
    expect(result.message).toMatch(/^no Duo Agent Platform service account exists, so onboarding has not run: turn it on in Admin > GitLab Duo/);
    expect(enabled).toEqual([0]);
    expect(graphqlUsernames).toEqual([]);
  });

  it('matches the account by its name "Duo Developer" too', async () => {
    const { result, graphqlUsernames } = await run({ accounts: [{ id: 4, username: 'duo-developer-1', name: 'Duo Developer' }], users: { 'duo-developer-1': ENFORCED } });
    expect(result.success, result.message).toBe(true);
    expect(graphqlUsernames).toEqual(['duo-developer-1']);
  });

  it('the account is blocked (composite identity turned off) → requirement_not_met', async () => {
    const { result, enabled } = await run({ accounts: [DUO_DEVELOPER], users: { 'duo-developer': { state: 'blocked', compositeIdentityEnforced: true } } });
    expect(result.reason).toBe('requirement_not_met');
    expect(result.message).toMatch(/^composite identity is not on: the service account duo-developer is blocked \(turning composite identity off blocks it\)/);
    expect(enabled).toEqual([0]);
  });

  it.each<[string, boolean | null]>([
    ['false', false],
    ['null', null],
  ])('compositeIdentityEnforced %s on an active account → requirement_not_met', async (_name, enforced) => {
    const { result, enabled } = await run({ accounts: [DUO_DEVELOPER], users: { 'duo-developer': { state: 'active', compositeIdentityEnforced: enforced } } });
    expect(result.reason).toBe('requirement_not_met');
    expect(result.message).toMatch(/^composite identity is not on: the service account duo-developer does not have composite identity enforced/);
    expect(enabled).toEqual([0]);
  });

  it('a listed account GraphQL does not know → requirement_not_met, state missing', async () => {
    const { result, enabled } = await run({ accounts: [DUO_DEVELOPER], users: {} });
    expect(result.reason).toBe('requirement_not_met');
    expect(result.message).toMatch(/duo-developer is not visible over GraphQL/);
    expect(enabled).toEqual([0]);
  });

  it('403 from the service accounts list → forbidden, saying an administrator token is needed', async () => {
    const { result, graphqlUsernames, enabled } = await run({ accounts: 403 });
    expect(result.reason).toBe('forbidden');
    expect(result.message).toMatch(/^GET \/api\/v4\/service_accounts answered 403/);
    expect(result.message).toContain("the service accounts list needs an administrator's token");
    expect(graphqlUsernames).toEqual([]);
    expect(enabled).toEqual([]);
  });

  it('401 → auth', async () => {
    const { result } = await run({ accounts: 401 });
    expect(result.reason).toBe('auth');
  });

  describe('relevance', () => {
    const instance = async (): Promise<InstanceConfig> => (await apiContext({ port: 1 })).ctx.instance;
    const relevanceFor = async (caps: Capabilities | undefined) => {
      const inst = await instance();
      return compositeIdentity.relevance!(resolveEnvironment(inst, caps), inst);
    };

    it('GitLab without UserCore.compositeIdentityEnforced → skip: cannot be determined from the API', async () => {
      const relevance = await relevanceFor(capabilities('18.7.2-ee', { enforcedField: false, applicationSettings: AGENT_PLATFORM_ON }));
      expect(relevance).toEqual({ use: 'skip', why: expect.stringMatching(/^cannot be determined from the API: GitLab 18\.7\.2.*compositeIdentityEnforced came in 18\.8/) });
    });

    it('schema not read (introspection refused) → skip: cannot be determined from the API', async () => {
      const relevance = await relevanceFor(capabilities('18.8.0', { introspected: false, applicationSettings: AGENT_PLATFORM_ON }));
      expect(relevance).toEqual({ use: 'skip', why: expect.stringMatching(/^cannot be determined from the API: GitLab's GraphQL schema could not be read/) });
    });

    it('nothing detected → skip: cannot be determined from the API', async () => {
      expect(await relevanceFor(undefined)).toMatchObject({ use: 'skip', why: expect.stringMatching(/^cannot be determined from the API/) });
    });

    it('field present, Agent Platform in use → required', async () => {
      expect(await relevanceFor(IN_USE)).toEqual({ use: 'required' });
    });

    it('field present, Agent Platform turned off → skip: not in use', async () => {
      const relevance = await relevanceFor(capabilities('18.8.0', { enforcedField: true, applicationSettings: { duo_features_enabled: true, duo_agent_platform_enabled: false } }));
      expect(relevance).toMatchObject({ use: 'skip', why: expect.stringMatching(/Agent Platform is not in use here/) });
    });

    it('field present, whether the Agent Platform is in use unknown → optional', async () => {
      const relevance = await relevanceFor(capabilities('18.8.0', { enforcedField: true }));
      expect(relevance).toMatchObject({ use: 'optional', why: expect.stringMatching(/unknown/) });
    });
  });

  describe('in the plan', () => {
    const config = (): Promise<Config> =>
      parseConfigText(`instances:\n  - name: test\n    url: https://gitlab.test\n    admin_token: ${ADMIN_TOKEN}\n`, 'test.yaml', { env: {} });

    it('is skipped where nothing was detected (the test default), so it never runs', async () => {
      const outcome = await runInstanceProbe('composite_identity', { url: 'https://gitlab.test' });
      expect(outcome.result).toBeUndefined();
      expect(outcome.planned.skippedBecause).toMatch(/^cannot be determined from the API/);
    });

    it('is scheduled and required with the field detected and the Agent Platform in use', async () => {
      const plan = buildPlan(await config(), loadCloudflareRanges(), {}, new Map([['test', IN_USE]]));
      const planned = plan.probes.find((p) => p.probe.name === 'composite_identity')!;
      expect(planned.skippedBecause).toBeUndefined();
      expect(planned.required).toBe(true);
    });
  });
});
