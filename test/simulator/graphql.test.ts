import { describe, expect, it } from 'vitest';
import { parseOperation } from '../../src/simulator/graphql-operation.js';
import { PERMISSION_DENIED } from '../../src/simulator/graphql.js';
import type { ScenarioName } from '../../src/simulator/index.js';
import { agentFor, graphql, useSimulator } from './helpers.js';

/** The admin UI's query, verbatim (facts §1). */
const HEALTH_QUERY = `query getCloudConnectorHealthStatus {
  cloudConnectorStatus { success probeResults { name success message errors details } }
}`;

interface ProbeResult {
  name: string;
  success: boolean;
  message: string;
  errors: string[];
  details: Record<string, unknown>;
}

async function healthCheck(scenario: ScenarioName) {
  const sim = await useSimulator({ scenario });
  const { body } = await graphql(agentFor(sim), sim, sim.adminToken, HEALTH_QUERY);
  return body.data?.cloudConnectorStatus as { success: boolean; probeResults: ProbeResult[] };
}

describe('cloudConnectorStatus', () => {
  it('runs GitLab 18.9 default probes in order, all green when healthy', async () => {
    const status = await healthCheck('healthy');
    expect(status.success).toBe(true);
    expect(status.probeResults.map((p) => p.name)).toEqual([
      'license_probe', 'host_probe', 'host_probe', 'access_probe', 'token_probe', 'end_to_end_probe', 'duo_agent_platform_probe',
    ]);
    const [license, customers, cloud, access, token] = status.probeResults;
    expect(customers!.message).toBe('customers.duo-sim.test reachable.');
    expect(cloud!.message).toBe('cloud.duo-sim.test reachable.');
    expect(license).toMatchObject({ success: true, message: 'Subscription can be synchronized.', errors: [] });
    expect(Date.now() - Date.parse(access!.details.updated_at as string)).toBeCloseTo(2 * 3_600_000, -5);
    expect(Date.parse(token!.details.expires_at as string) - Date.now()).toBeCloseTo(3 * 86_400_000, -5);
    expect(token!.details).toMatchObject({ expired: false, token: { gitlab_realm: 'self-managed' } });
  });

  it.each<[ScenarioName, string[]]>([
    ['silent_mode_on', ['end_to_end_probe']],
    ['offline_license', ['license_probe']],
    ['legacy_license', ['license_probe']],
    ['sync_stale', ['access_probe']],
    ['token_expired', ['access_probe', 'token_probe', 'end_to_end_probe', 'duo_agent_platform_probe']],
    ['duo_never_on', ['end_to_end_probe']],
    ['code_suggestions_slow', ['end_to_end_probe']],
    ['customers_portal_down', ['host_probe']],
    ['cloud_connector_down', ['host_probe', 'end_to_end_probe']],
    ['dws_no_h2', ['duo_agent_platform_probe']],
    ['health_check_failing', ['host_probe', 'end_to_end_probe']],
    ['code_suggestions_gateway_unreachable', []],
    ['composite_identity_off', []],
  ])('%s: GitLab itself reports %j failing', async (scenario, failing) => {
    const status = await healthCheck(scenario);
    const failed = status.probeResults.filter((p) => !p.success);
    expect(failed.map((p) => p.name)).toEqual(failing);
    expect(status.success).toBe(failing.length === 0);
    // ActiveModel full_messages; duo_agent_platform_probe puts the gRPC error there instead.
    for (const p of failed) expect(p.errors).toEqual(p.name === 'duo_agent_platform_probe' ? [expect.stringMatching(/^\d{1,2}:/)] : [p.message]);
  });

  it('says which host failed in host_probe messages', async () => {
    const status = await healthCheck('customers_portal_down');
    const failed = status.probeResults.find((p) => !p.success)!;
    expect(failed.message).toMatch(/^customers\.duo-sim\.test connection failed: .+\.\n\nIf you use firewalls or proxy servers/);
  });

  it('reports stale and expired timestamps relative to now', async () => {
    const stale = await healthCheck('sync_stale');
    const access = stale.probeResults.find((p) => p.name === 'access_probe')!;
    expect(Date.now() - Date.parse(access.details.updated_at as string)).toBeCloseTo(4 * 86_400_000, -5);
    const expired = await healthCheck('token_expired');
    const token = expired.probeResults.find((p) => p.name === 'token_probe')!;
    expect(Date.now() - Date.parse(token.details.expires_at as string)).toBeCloseTo(3_600_000, -5);
  });

  it('does not exist before 17.3 (version_too_old)', async () => {
    const sim = await useSimulator({ scenario: 'version_too_old' });
    const { status, body } = await graphql(agentFor(sim), sim, sim.adminToken, HEALTH_QUERY);
    expect(status).toBe(200);
    expect(body.data).toBeUndefined();
    expect(body.errors?.[0]?.message).toBe("Field 'cloudConnectorStatus' doesn't exist on type 'Query'");
  });
});

describe('GraphQL auth', () => {
  it('denies admin-only fields to a non-admin with a GraphQL error and null data, HTTP 200', async () => {
    const sim = await useSimulator();
    const { status, body } = await graphql(agentFor(sim), sim, sim.duoUserToken, '{ cloudConnectorStatus { success } currentLicense { type } metadata { version } }');
    expect(status).toBe(200);
    expect(body.data).toEqual({ cloudConnectorStatus: null, currentLicense: null, metadata: { version: '18.9.0-ee' } });
    expect(body.errors).toEqual([
      expect.objectContaining({ message: PERMISSION_DENIED, path: ['cloudConnectorStatus'] }),
      expect.objectContaining({ message: PERMISSION_DENIED, path: ['currentLicense'] }),
    ]);
  });

  it('denies them to anonymous callers too, and refuses a wrong token with 401', async () => {
    const sim = await useSimulator();
    const agent = agentFor(sim);
    const anonymous = await graphql(agent, sim, undefined, '{ currentLicense { type } }');
    expect(anonymous.body).toMatchObject({ data: { currentLicense: null }, errors: [{ message: PERMISSION_DENIED }] });
    const wrong = await graphql(agent, sim, 'glpat-not-a-token', '{ metadata { version } }');
    expect(wrong.status).toBe(401);
  });
});

describe('GraphQL shapes', () => {
  it('answers currentLicense, metadata and user with the selected fields only', async () => {
    const sim = await useSimulator();
    const { body } = await graphql(
      agentFor(sim),
      sim,
      sim.adminToken,
      `query Q($name: String!) {
        currentLicense { type plan lastSync expiresAt }
        meta: metadata { version revision enterprise }
        sa: user(username: $name) { ...U }
      }
      fragment U on User { id state compositeIdentityEnforced }`,
      { name: 'duo-developer' },
    );
    expect(body.errors).toBeUndefined();
    expect(body.data).toEqual({
      currentLicense: { type: 'online_cloud', plan: 'ultimate', lastSync: expect.any(String), expiresAt: expect.stringMatching(/^\d{4}-\d\d-\d\d$/) },
      meta: { version: '18.9.0-ee', revision: 'abc1234', enterprise: true },
      sa: { id: 'gid://gitlab/User/3', state: 'active', compositeIdentityEnforced: true },
    });
    const lastSync = (body.data!.currentLicense as { lastSync: string }).lastSync;
    expect(Date.now() - Date.parse(lastSync)).toBeCloseTo(2 * 3_600_000, -5);
  });

  it.each<[ScenarioName, string, string | null]>([
    ['offline_license', 'offline_cloud', null],
    ['legacy_license', 'legacy_license', null],
  ])('%s: type %s, lastSync %s', async (scenario, type, lastSync) => {
    const sim = await useSimulator({ scenario });
    const { body } = await graphql(agentFor(sim), sim, sim.adminToken, '{ currentLicense { type lastSync } }');
    expect(body.data?.currentLicense).toEqual({ type, lastSync });
  });

  it('returns null for the service account when composite identity is off', async () => {
    const sim = await useSimulator({ scenario: 'composite_identity_off' });
    const { body } = await graphql(agentFor(sim), sim, sim.adminToken, '{ user(username: "duo-developer") { id state compositeIdentityEnforced } }');
    expect(body).toEqual({ data: { user: null } });
  });

  it('reports unknown root fields and syntax errors as GraphQL errors', async () => {
    const sim = await useSimulator();
    const agent = agentFor(sim);
    const unknown = await graphql(agent, sim, sim.adminToken, '{ nope }');
    expect(unknown.body.errors?.[0]?.message).toBe("Field 'nope' doesn't exist on type 'Query'");
    const inherited = await graphql(agent, sim, sim.adminToken, '{ toString metadata { constructor } }');
    expect(inherited.body.errors?.[0]?.message).toBe("Field 'toString' doesn't exist on type 'Query'");
    const broken = await graphql(agent, sim, sim.adminToken, '{ metadata { version }');
    expect(broken.status).toBe(200);
    expect(broken.body.errors?.length).toBe(1);
  });
});

describe('the query reader', () => {
  it('reads aliases, arguments, variables, inline fragments and comments', () => {
    const op = parseOperation(
      `# comment
      query Named($u: String) @dir { a: user(username: $u, n: [1, 2], o: {k: "v"}) { ... on User { id } name } __typename }`,
      { u: 'root' },
    );
    expect(op.kind).toBe('query');
    expect(op.selections.map((s) => [s.alias, s.name])).toEqual([['a', 'user'], [undefined, '__typename']]);
    expect(op.selections[0]!.args).toEqual({ username: 'root', n: [1, 2], o: { k: 'v' } });
    expect(op.selections[0]!.selections.map((s) => s.name)).toEqual(['id', 'name']);
  });

  it('picks the operation by name and rejects fragment cycles', () => {
    const source = 'query A { a: metadata { version } } query B { b: metadata { version } }';
    expect(parseOperation(source, {}, 'B').selections[0]!.alias).toBe('b');
    expect(() => parseOperation('{ ...F } fragment F on Query { ...F }')).toThrow('Fragment F contains an infinite loop');
    expect(() => parseOperation('{ ...G }')).toThrow('Fragment G was used, but not defined');
    expect(() => parseOperation(source, {}, 'C')).toThrow('No operation named "C"');
  });

  it('refuses type definitions, which graphql-js parses but a server never runs', () => {
    expect(() => parseOperation('type T { a: Int } { metadata { version } }')).toThrow('Unexpected "type"');
  });

  it('refuses too deep a selection, and a huge document without overflowing the stack', () => {
    const nested = (depth: number) => `{ ${'a { '.repeat(depth)}b${' }'.repeat(depth)} }`;
    expect(parseOperation(nested(24)).selections).toHaveLength(1);
    expect(() => parseOperation(nested(25))).toThrow('Query is too deep');
    expect(() => parseOperation(nested(100_000))).toThrow(/^Syntax Error: Document contains more/);
    expect(() => parseOperation(`{ user(n: ${'['.repeat(100_000)}) { id } }`)).toThrow(/^Syntax Error: Document contains more/);
  });
});

describe('GraphQL syntax errors', () => {
  it("answer HTTP 200 with one error and where the parser stopped, as graphql-ruby's ParseError does", async () => {
    const sim = await useSimulator();
    const { status, body } = await graphql(agentFor(sim), sim, sim.adminToken, '{\n  metadata { version }');
    expect(status).toBe(200);
    expect(body.data).toBeUndefined();
    expect(body.errors).toEqual([{ message: expect.stringMatching(/^Syntax Error: /), locations: [{ line: 2, column: 23 }] }]);
  });
});
