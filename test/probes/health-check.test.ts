import { describe, expect, it } from 'vitest';
import { hostOf } from '../../src/probes/health-check.js';
import { graphqlHandler, json, startFakeGitLab } from '../helpers/fake-gitlab.js';
import { runInstanceProbe } from '../helpers/instance-probe.js';
import { fact, samples } from '../helpers/probe-harness.js';

/** health_check: GitLab's own cloudConnectorStatus (facts §1), exported result by result. */

const UPDATED = '2026-02-27T10:00:00.000Z';
const EXPIRES = '2026-03-02T10:00:00.000Z';

type Result = { name: string | null; success: boolean | null; message: string | null; errors: string[]; details: unknown };
const ok = (name: string, message: string, details: unknown = {}): Result => ({ name, success: true, message, errors: [], details });
const bad = (name: string, message: string): Result => ({ name, success: false, message, errors: [message], details: {} });

function defaultResults(): Result[] {
  return [
    ok('license_probe', 'Subscription can be synchronized.'),
    ok('host_probe', 'customers.gitlab.com reachable.'),
    ok('host_probe', 'cloud.gitlab.com reachable.'),
    ok('access_probe', 'Subscription synchronized successfully.', { updated_at: UPDATED, catalog: {} }),
    ok('token_probe', 'Access credentials are valid.', { expires_at: EXPIRES, expired: false }),
    ok('end_to_end_probe', 'Authentication with the AI gateway services succeeded.'),
    ok('duo_agent_platform_probe', 'GitLab Duo Workflow Service at duo-workflow-svc.runway.gitlab.net:443 is operational.'),
  ];
}

async function run(body: unknown) {
  const server = await startFakeGitLab(graphqlHandler(() => json(200, body)));
  return runInstanceProbe('health_check', { port: server.port });
}

const status = (probeResults: Result[], success = probeResults.every((r) => r.success)) => ({ data: { cloudConnectorStatus: { success, probeResults } } });

describe('health_check', () => {
  it('passes when GitLab says so, and exports every result with its target', async () => {
    const outcome = await run(status(defaultResults()));
    expect(outcome.result?.success, outcome.result?.message).toBe(true);
    expect(await fact(outcome, 'gitlab_duo_health_check_success')).toBe(1);
    const results = await samples(outcome, 'gitlab_duo_health_check_probe_success');
    expect(results.map((s) => `${s.labels.check}/${s.labels.target}=${s.value}`).sort()).toEqual([
      'access_probe/=1',
      'duo_agent_platform_probe/=1',
      'end_to_end_probe/=1',
      'host_probe/cloud.gitlab.com=1',
      'host_probe/customers.gitlab.com=1',
      'license_probe/=1',
      'token_probe/=1',
    ]);
    expect(await fact(outcome, 'gitlab_duo_access_catalog_updated_timestamp_seconds')).toBe(Date.parse(UPDATED) / 1000);
    expect(await fact(outcome, 'gitlab_duo_access_token_expiry_timestamp_seconds')).toBe(Date.parse(EXPIRES) / 1000);
  });

  it('fails with requirement_not_met listing the failed probes and their messages', async () => {
    const results = defaultResults();
    results[2] = bad('host_probe', 'cloud.gitlab.com connection failed: Connection reset by peer.\n\nIf you use firewalls or proxy servers, they must allow traffic to this host.');
    results[5] = bad('end_to_end_probe', `Authentication with the AI gateway services failed: ${'x'.repeat(500)}`);
    const outcome = await run(status(results));
    expect(outcome.result?.reason).toBe('requirement_not_met');
    const message = outcome.result!.message;
    expect(message).toMatch(/^GitLab's health check failed: host_probe \(cloud.gitlab.com\): cloud.gitlab.com connection failed: Connection reset by peer\. If you use/);
    expect(message).toContain('end_to_end_probe: Authentication with the AI gateway services failed');
    expect(message.length).toBeLessThan(1300);
    expect(await fact(outcome, 'gitlab_duo_health_check_success')).toBe(0);
    expect(await fact(outcome, 'gitlab_duo_health_check_probe_success', { check: 'host_probe', target: 'cloud.gitlab.com' })).toBe(0);
    expect(await fact(outcome, 'gitlab_duo_health_check_probe_success', { check: 'host_probe', target: 'customers.gitlab.com' })).toBe(1);
  });

  it('passes unknown probe names through, bounded in count and shape', async () => {
    const extra = Array.from({ length: 40 }, (_, i) => ok(`future_probe_${i}`, 'ok'));
    const weird = [ok('Not A Name!', 'x'), ok('x'.repeat(65), 'x'), { ...ok('y', 'x'), name: null }];
    const outcome = await run(status([...defaultResults(), ...weird, ...extra]));
    const results = await samples(outcome, 'gitlab_duo_health_check_probe_success');
    expect(results.length).toBeLessThanOrEqual(32);
    for (const s of results) expect(s.labels.check).toMatch(/^[a-z0-9_]{1,64}$/);
    expect(results.some((s) => s.labels.check === 'future_probe_0')).toBe(true);
  });

  it.each([
    ['numeric Unix seconds', { expires_at: 1772445600 }, 1772445600],
    ['missing', {}, undefined],
    ['not a time', { expires_at: 'soon' }, undefined],
  ])('token expiry given as %s', async (_name, details, expected) => {
    const results = defaultResults();
    results[4] = ok('token_probe', 'valid', details);
    expect(await fact(await run(status(results)), 'gitlab_duo_access_token_expiry_timestamp_seconds')).toBe(expected);
  });

  it('a permission error with a null status is forbidden', async () => {
    const outcome = await run({
      data: { cloudConnectorStatus: null },
      errors: [{ message: "The resource that you are attempting to access does not exist or you don't have permission to perform this action", path: ['cloudConnectorStatus'] }],
    });
    expect(outcome.result?.reason).toBe('forbidden');
  });

  it('GitLab before 17.3 has no such field: unexpected_response naming the version', async () => {
    const outcome = await run({ errors: [{ message: "Field 'cloudConnectorStatus' doesn't exist on type 'Query'", extensions: { code: 'undefinedField', typeName: 'Query', fieldName: 'cloudConnectorStatus' } }] });
    expect(outcome.result?.reason).toBe('unexpected_response');
    expect(outcome.result?.message).toMatch(/needs GitLab 17\.3 or later/);
  });

  it('success null is not a pass', async () => {
    const outcome = await run(status(defaultResults(), null as unknown as boolean));
    expect(outcome.result?.reason).toBe('requirement_not_met');
  });

  it('has a 30 min default interval and a 60 s timeout (each run costs a completion)', async () => {
    const outcome = await runInstanceProbe('health_check', { url: 'https://gitlab.test' });
    expect(outcome.planned.probe.defaultInterval).toBe('30m');
    expect(outcome.planned.probe.defaultTimeout).toBe('60s');
  });
});

describe('hostOf', () => {
  it.each([
    ['customers.gitlab.com reachable.', 'customers.gitlab.com'],
    ['cloud.gitlab.com connection failed: Connection refused.', 'cloud.gitlab.com'],
    ['Cloud.GitLab.com:443 reachable.', 'cloud.gitlab.com'],
    ['Something else entirely', ''],
    // The first 17.3 builds; 17.3-17.5's raw-socket failure; hosts from overridden URLs.
    ['customers.gitlab.com reachable', 'customers.gitlab.com'],
    ['cloud.gitlab.com unreachable', 'cloud.gitlab.com'],
    ['cloud.gitlab.com could not be reached. If you use firewalls or proxy servers, they must allow traffic to this host.', 'cloud.gitlab.com'],
    ['localhost reachable.', 'localhost'],
    ['aigw connection failed: URL is blocked: Requests to the local network are not allowed.', 'aigw'],
    ['10.0.0.7 reachable.', '10.0.0.7'],
    ['[2001:db8::7] connection failed: Connection refused.', '[2001:db8::7]'],
    ['host_with_underscore reachable.', ''],
    ['a reachable-looking sentence that is not a message', ''],
    [`${'a'.repeat(70)}.com reachable.`, ''],
    [null, ''],
  ])('%j → %j', (message, host) => {
    expect(hostOf(message)).toBe(host);
  });

  it('never takes a host out of text that carries a token', () => {
    const token = 'sentinel-admin-0123456789abcdef';
    expect(hostOf(`${token} connection failed: x`, [token])).toBe('');
  });
});
