import { describe, expect, it } from 'vitest';
import { detectCapabilities, hasField, type Capabilities, type INTROSPECTED_TYPES } from '../../src/gitlab/capabilities.js';
import { CAPABILITIES_QUERY } from '../../src/gitlab/graphql.js';
import { failure } from '../helpers/failure.js';
import { ADMIN_TOKEN, DUO_TOKEN, json, startFakeGitLab, type FakeReply, type FakeRequest } from '../helpers/fake-gitlab.js';
import { apiContext, type InstanceSpec } from '../helpers/instance-probe.js';

/**
 * detectCapabilities against a fake GitLab: the version (REST metadata), the GraphQL fields
 * (introspection, aliased query/probeResult/user/duoSettings), and with the admin token the
 * licence type, the Duo Self-Hosted URLs (GraphQL) and the application settings (REST).
 */

type Introspection = Record<keyof typeof INTROSPECTED_TYPES, unknown>;

const typeOf = (...names: string[]) => ({ fields: names.map((name) => ({ name })) });

const FULL_INTROSPECTION: Introspection = {
  query: typeOf('currentLicense', 'cloudConnectorStatus', 'duoSettings', 'user', 'metadata'),
  probeResult: typeOf('name', 'success', 'message', 'errors', 'details'),
  user: typeOf('id', 'username', 'state', 'compositeIdentityEnforced'),
  duoSettings: typeOf('aiGatewayUrl', 'duoAgentPlatformServiceUrl', 'updatedAt'),
};

const APPLICATION_SETTINGS = {
  silent_mode_enabled: false,
  duo_features_enabled: true,
  lock_duo_features_enabled: false,
  duo_availability: 'default_on',
  instance_level_ai_beta_features_enabled: false,
  duo_agent_platform_enabled: true,
  signup_enabled: false,
};

interface World {
  readonly metadata?: FakeReply;
  /** The answer to the introspection document (CAPABILITIES_QUERY). */
  readonly introspection?: FakeReply;
  /** The answer to the deployment document (currentLicense / duoSettings). */
  readonly deployment?: FakeReply;
  readonly settings?: FakeReply;
}

const FULL: Required<World> = {
  metadata: json(200, { version: '18.8.1-ee', revision: 'abc1234', enterprise: true }),
  introspection: json(200, { data: FULL_INTROSPECTION }),
  deployment: json(200, { data: { currentLicense: { type: 'offline_cloud' }, duoSettings: { aiGatewayUrl: 'https://aigw.example.com', duoAgentPlatformServiceUrl: null } } }),
  settings: json(200, APPLICATION_SETTINGS),
};

function gitlab(world: World): (req: FakeRequest) => FakeReply {
  const w = { ...FULL, ...world };
  return (req) => {
    if (req.method === 'GET' && req.path === '/api/v4/metadata') return w.metadata;
    if (req.method === 'GET' && req.path === '/api/v4/application/settings') return w.settings;
    if (req.method === 'POST' && req.path === '/api/graphql') {
      const query = (req.json as { query?: string } | undefined)?.query ?? '';
      if (query === CAPABILITIES_QUERY) return w.introspection;
      if (query.includes('gitlabDuoExporterDeployment')) return answerOnly(w.deployment, query);
      return json(200, { errors: [{ message: 'unexpected document' }] });
    }
    return json(404, { message: '404 Not Found' });
  };
}

/** Like GraphQL, the deployment answer carries only the top-level fields the document selected. */
function answerOnly(reply: FakeReply, query: string): FakeReply {
  const data = (reply.json as { data?: unknown } | undefined)?.data;
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return reply;
  const asked = Object.fromEntries(Object.entries(data).filter(([key]) => query.includes(`${key} {`)));
  return { ...reply, json: { ...(reply.json as object), data: asked } };
}

async function detect(world: World, spec: Omit<InstanceSpec, 'port'> = {}) {
  const server = await startFakeGitLab(gitlab(world));
  const { ctx } = await apiContext({ port: server.port, ...spec });
  const graphql = () => server.requests.filter((r) => r.path === '/api/graphql').map((r) => (r.json as { query: string }).query);
  return { server, ctx, graphql };
}

async function detected(world: World, spec: Omit<InstanceSpec, 'port'> = {}): Promise<Capabilities & { requests: FakeRequest[]; queries: string[] }> {
  const { server, ctx, graphql } = await detect(world, spec);
  const caps = await detectCapabilities(ctx);
  return { ...caps, requests: server.requests, queries: graphql() };
}

const fieldsOf = (caps: Capabilities) => (caps.fields ? Object.fromEntries([...caps.fields].map(([type, set]) => [type, [...set].sort()])) : undefined);

describe('detectCapabilities', () => {
  it('reads everything from a GitLab that answers it all', async () => {
    const before = Date.now();
    const caps = await detected({});
    expect(caps.version).toEqual({ major: 18, minor: 8, patch: 1, suffix: 'ee' });
    expect(fieldsOf(caps)).toEqual({
      Query: ['cloudConnectorStatus', 'currentLicense', 'duoSettings', 'metadata', 'user'],
      CloudConnectorProbeResult: ['details', 'errors', 'message', 'name', 'success'],
      UserCore: ['compositeIdentityEnforced', 'id', 'state', 'username'],
      DuoSettings: ['aiGatewayUrl', 'duoAgentPlatformServiceUrl', 'updatedAt'],
    });
    expect(caps.settings).toEqual({
      licenseType: 'offline_cloud',
      selfHostedAiGateway: true,
      selfHostedAgentPlatform: false,
      applicationSettings: expect.objectContaining({ duo_features_enabled: true, duo_agent_platform_enabled: true, duo_availability: 'default_on' }),
    });
    expect(caps.problems).toEqual([]);
    expect(caps.detectedAt).toBeGreaterThanOrEqual(before);
    expect(hasField(caps, 'UserCore', 'compositeIdentityEnforced')).toBe(true);
    expect(hasField(caps, 'CloudConnectorProbeResult', 'nope')).toBe(false);
    // The deployment query asks only for fields the introspection found.
    const deployment = caps.queries.find((q) => q.includes('gitlabDuoExporterDeployment'))!;
    expect(deployment).toContain('currentLicense { type }');
    expect(deployment).toContain('duoSettings { aiGatewayUrl duoAgentPlatformServiceUrl }');
    // The admin token is preferred for every call.
    expect(caps.requests.every((r) => r.headers.authorization === `Bearer ${ADMIN_TOKEN}`)).toBe(true);
  });

  it.each<[string, boolean, unknown]>([
    ['a URL', true, 'https://aigw.internal:5052'],
    ['null', false, null],
    ['an empty string', false, ''],
  ])('duoSettings.aiGatewayUrl %s → selfHostedAiGateway %s', async (_name, expected, aiGatewayUrl) => {
    const caps = await detected({ deployment: json(200, { data: { currentLicense: { type: 'online_cloud' }, duoSettings: { aiGatewayUrl, duoAgentPlatformServiceUrl: 'grpcs://dws.internal' } } }) });
    expect(caps.settings?.selfHostedAiGateway).toBe(expected);
    expect(caps.settings?.selfHostedAgentPlatform).toBe(true);
    expect(caps.settings?.licenseType).toBe('online_cloud');
  });

  it('no licence: licenseType null (not undefined)', async () => {
    const caps = await detected({ deployment: json(200, { data: { currentLicense: null, duoSettings: null } }) });
    expect(caps.settings?.licenseType).toBeNull();
    expect(caps.settings?.selfHostedAiGateway).toBeUndefined();
    expect(caps.problems).toEqual([]);
  });

  it('a GitLab without DuoSettings (type null): an empty field set, and duoSettings is not asked', async () => {
    const caps = await detected({
      introspection: json(200, { data: { ...FULL_INTROSPECTION, query: typeOf('currentLicense', 'user'), duoSettings: null } }),
      deployment: json(200, { data: { currentLicense: { type: 'online_cloud' } } }),
    });
    expect(caps.fields?.get('DuoSettings')).toEqual(new Set());
    expect(hasField(caps, 'Query', 'duoSettings')).toBe(false);
    const deployment = caps.queries.find((q) => q.includes('gitlabDuoExporterDeployment'))!;
    expect(deployment).toContain('currentLicense { type }');
    expect(deployment).not.toContain('duoSettings');
    expect(caps.settings).toMatchObject({ licenseType: 'online_cloud', selfHostedAiGateway: undefined, selfHostedAgentPlatform: undefined });
  });

  it('introspection refused (a GraphQL error): fields undefined with a problem, the rest still detected', async () => {
    const caps = await detected({ introspection: json(200, { errors: [{ message: 'Introspection is disabled for this schema' }] }) });
    expect(caps.fields).toBeUndefined();
    expect(caps.problems).toHaveLength(1);
    expect(caps.problems[0]).toMatch(/^GraphQL schema: .*Introspection is disabled/);
    expect(caps.version).toEqual({ major: 18, minor: 8, patch: 1, suffix: 'ee' });
    expect(caps.settings?.licenseType).toBe('offline_cloud');
    expect(caps.settings?.applicationSettings?.duo_agent_platform_enabled).toBe(true);
    // Without introspection only what every release has is asked: the licence, no duoSettings.
    const deployment = caps.queries.find((q) => q.includes('gitlabDuoExporterDeployment'))!;
    expect(deployment).toContain('currentLicense { type }');
    expect(deployment).not.toContain('duoSettings');
    expect(caps.settings?.selfHostedAiGateway).toBeUndefined();
  });

  it('no admin token: settings undefined with a problem, nothing admin-only asked, the Duo token used', async () => {
    const caps = await detected({}, { adminToken: null });
    expect(caps.settings).toBeUndefined();
    expect(caps.problems).toEqual([expect.stringMatching(/^deployment settings: no admin token/)]);
    expect(caps.version?.major).toBe(18);
    expect(caps.fields?.get('UserCore')?.has('compositeIdentityEnforced')).toBe(true);
    expect(caps.requests.map((r) => r.path)).not.toContain('/api/v4/application/settings');
    expect(caps.queries.some((q) => q.includes('gitlabDuoExporterDeployment'))).toBe(false);
    expect(caps.requests.every((r) => r.headers.authorization === `Bearer ${DUO_TOKEN}`)).toBe(true);
  });

  it('no token at all → requirement_not_met, nothing sent', async () => {
    const { server, ctx } = await detect({}, { adminToken: null, duoUserToken: null });
    const err = await failure(detectCapabilities(ctx));
    expect(err.reason).toBe('requirement_not_met');
    expect(server.requests).toEqual([]);
  });

  it('application settings refused (403): that part undefined with a problem, the licence still read', async () => {
    const caps = await detected({ settings: json(403, { message: '403 Forbidden' }) });
    expect(caps.settings?.applicationSettings).toBeUndefined();
    expect(caps.settings?.licenseType).toBe('offline_cloud');
    expect(caps.problems).toEqual([expect.stringMatching(/^application settings: .*403/)]);
  });

  it('the version unavailable: version undefined with a problem, the schema still read', async () => {
    const caps = await detected({ metadata: json(500, { message: '500 Internal Server Error' }) });
    expect(caps.version).toBeUndefined();
    expect(caps.problems).toEqual([expect.stringMatching(/^version: .*500/)]);
    expect(caps.fields?.get('Query')?.has('currentLicense')).toBe(true);
  });

  it('a version that is not major.minor: undefined, the text quoted in the problem', async () => {
    const caps = await detected({ metadata: json(200, { version: 'nightly-build' }) });
    expect(caps.version).toBeUndefined();
    expect(caps.problems).toEqual(['version: "nightly-build" is not major.minor[.patch]']);
  });

  it('GitLab answering 500 everywhere → throws a ProbeError naming both failures', async () => {
    const down = json(500, { message: '500 Internal Server Error' });
    const { ctx } = await detect({ metadata: down, introspection: down, deployment: down, settings: down });
    const err = await failure(detectCapabilities(ctx));
    expect(err.reason).toBe('unexpected_response');
    expect(err.message).toMatch(/^version: .*500.*; GraphQL schema: .*500/);
  });

  describe('hostile answers: no crash, no throw beyond ProbeError', () => {
    const many = (n: number) => ({ fields: Array.from({ length: n }, (_, i) => ({ name: `f${i}` })) });

    it.each<[string, FakeReply]>([
      ['more than 5000 fields on a type', json(200, { data: { ...FULL_INTROSPECTION, user: many(5001) } })],
      ['a body over 1 MiB', json(200, { data: { ...FULL_INTROSPECTION, query: { fields: [{ name: 'x'.repeat(1_100_000) }] } } })],
      ['fields that are not a list', json(200, { data: { ...FULL_INTROSPECTION, query: { fields: 'currentLicense' } } })],
      ['field names that are not strings', json(200, { data: { ...FULL_INTROSPECTION, user: { fields: [{ name: 1 }, { name: null }] } } })],
      ['a type that is a string', json(200, { data: { ...FULL_INTROSPECTION, probeResult: 'CloudConnectorProbeResult' } })],
      ['every __type null', json(200, { data: { query: null, probeResult: null, user: null, duoSettings: null } })],
      ['every __type with fields null', json(200, { data: { query: { fields: null }, probeResult: { fields: null }, user: { fields: null }, duoSettings: { fields: null } } })],
      ['a Query type without fields', json(200, { data: { ...FULL_INTROSPECTION, query: { fields: [] } } })],
      ['data null', json(200, { data: null })],
      ['data a list', json(200, { data: [1, 2, 3] })],
      ['not JSON', { status: 200, text: '<html>maintenance</html>' }],
      ['a JSON string', json(200, 'ok')],
    ])('introspection: %s → fields undefined with a problem, the rest detected', async (_name, introspection) => {
      const caps = await detected({ introspection });
      expect(caps.fields).toBeUndefined();
      expect(caps.problems).toEqual([expect.stringMatching(/^GraphQL schema: /)]);
      expect(caps.version?.major).toBe(18);
      expect(caps.settings?.licenseType).toBe('offline_cloud');
    });

    it('5000 fields on a type is still accepted', async () => {
      const caps = await detected({ introspection: json(200, { data: { ...FULL_INTROSPECTION, user: many(5000) } }) });
      expect(caps.fields?.get('UserCore')?.size).toBe(5000);
      expect(caps.problems).toEqual([]);
    });

    it('a type with fields null is an empty set, not a failure, when Query is there', async () => {
      const caps = await detected({ introspection: json(200, { data: { ...FULL_INTROSPECTION, user: { fields: null } } }) });
      expect(caps.fields?.get('UserCore')).toEqual(new Set());
      expect(hasField(caps, 'UserCore', 'compositeIdentityEnforced')).toBe(false);
      expect(caps.problems).toEqual([]);
    });

    it.each<[string, FakeReply]>([
      ['a licence type that is a number', json(200, { data: { currentLicense: { type: 5 }, duoSettings: null } })],
      ['aiGatewayUrl an object', json(200, { data: { currentLicense: { type: 'online_cloud' }, duoSettings: { aiGatewayUrl: { href: 'x' } } } })],
      ['a GraphQL error', json(200, { errors: [{ message: 'boom' }] })],
      ['a 502', { status: 502, text: 'Bad Gateway' }],
    ])('deployment settings: %s → licence and Duo settings undefined with a problem', async (_name, deployment) => {
      const caps = await detected({ deployment });
      expect(caps.settings).toMatchObject({ licenseType: undefined, selfHostedAiGateway: undefined, selfHostedAgentPlatform: undefined });
      expect(caps.settings?.applicationSettings?.duo_features_enabled).toBe(true);
      expect(caps.problems).toEqual([expect.stringMatching(/^licence and Duo settings: /)]);
    });

    it.each<[string, FakeReply]>([
      ['settings of the wrong types', json(200, { duo_features_enabled: 'yes', duo_agent_platform_enabled: [] })],
      ['settings that are a list', json(200, [APPLICATION_SETTINGS])],
    ])('application settings: %s → undefined with a problem', async (_name, settings) => {
      const caps = await detected({ settings });
      expect(caps.settings?.applicationSettings).toBeUndefined();
      expect(caps.settings?.licenseType).toBe('offline_cloud');
      expect(caps.problems).toEqual([expect.stringMatching(/^application settings: /)]);
    });

    it.each<[string, World]>([
      ['a version that is a number, a schema that is a string', { metadata: json(200, { version: 18 }), introspection: json(200, { data: 'x' }) }],
      ['HTML everywhere', { metadata: { status: 200, text: '<html/>' }, introspection: { status: 200, text: '<html/>' } }],
      ['an empty version, no Query type', { metadata: json(200, { version: '' }), introspection: json(200, { data: { query: null } }) }],
    ])('everything hostile (%s) → ProbeError unexpected_response', async (_name, world) => {
      const { ctx } = await detect(world);
      const err = await failure(detectCapabilities(ctx));
      expect(err.reason).toBe('unexpected_response');
      expect(err.message).toMatch(/^version: .*; GraphQL schema: /);
    });

    it('a 100 000-character version and no Query type: an answer all the same, quoted short', async () => {
      const caps = await detected({ metadata: json(200, { version: '1'.repeat(100_000) }), introspection: json(200, { data: { ...FULL_INTROSPECTION, query: null } }) });
      expect(caps.version).toBeUndefined();
      expect(caps.fields).toBeUndefined();
      expect(caps.problems).toHaveLength(2);
      expect(caps.problems[0]).toMatch(/^version: "1{39}…" is not major\.minor\[\.patch\]$/);
      expect(caps.problems[1]).toBe('GraphQL schema: the introspection answer has no Query type');
    });

    it('aliases missing from the introspection answer: a shape problem, not a crash', async () => {
      const caps = await detected({ introspection: json(200, { data: { query: FULL_INTROSPECTION.query } }) });
      expect(caps.fields).toBeUndefined();
      expect(caps.problems).toEqual([expect.stringMatching(/^GraphQL schema: .*unexpected shape \(probeResult: /)]);
    });
  });
});
