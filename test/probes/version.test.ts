import { describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, DUO_TOKEN, json, startFakeGitLab } from '../helpers/fake-gitlab.js';
import { runInstanceProbe } from '../helpers/instance-probe.js';
import { fact, samples } from '../helpers/probe-harness.js';

/** version: GET /api/v4/metadata against thresholds.min_version (a warning by default). */

async function run(metadata: unknown, spec: { adminToken?: string | null; thresholds?: Record<string, string> } = {}) {
  const server = await startFakeGitLab((req) => (req.path === '/api/v4/metadata' ? json(200, metadata) : json(404, {})));
  const outcome = await runInstanceProbe('version', { port: server.port, ...spec });
  return { server, outcome };
}

describe('version', () => {
  it.each([
    ['18.9.0-pre', true, 'ee', '18.9.0-pre'],
    ['17.2.1-ee', undefined, 'ee', '17.2.1-ee'],
    ['17.10.0', false, 'ce', '17.10.0'],
  ])('%s passes and is exported', async (version, enterprise, edition, label) => {
    const { outcome } = await run({ version, revision: 'ceb07b24cb0', ...(enterprise === undefined ? {} : { enterprise }) });
    expect(outcome.result?.success, outcome.result?.message).toBe(true);
    expect(await fact(outcome, 'gitlab_duo_gitlab_info', { version: label, revision: 'ceb07b24cb0', edition })).toBe(1);
    expect(await fact(outcome, 'gitlab_duo_gitlab_version_supported')).toBe(1);
  });

  it('below the minimum → requirement_not_met, supported 0', async () => {
    const { outcome } = await run({ version: '17.1.2-ee', revision: 'abc1234', enterprise: true });
    expect(outcome.result?.reason).toBe('requirement_not_met');
    expect(outcome.result?.message).toMatch(/17\.1\.2-ee is older than 17\.2/);
    expect(await fact(outcome, 'gitlab_duo_gitlab_version_supported')).toBe(0);
  });

  it('honours a configured minimum', async () => {
    const { outcome } = await run({ version: '18.2.0', revision: 'abc1234' }, { thresholds: { min_version: '18.3' } });
    expect(outcome.result?.reason).toBe('requirement_not_met');
  });

  it('an unparsable version is unexpected_response, with no label made of it', async () => {
    const { outcome } = await run({ version: 'nightly', revision: 'abc1234' });
    expect(outcome.result?.reason).toBe('unexpected_response');
    expect(await samples(outcome, 'gitlab_duo_gitlab_info')).toEqual([]);
  });

  it('prefers the admin token, uses the Duo token when it is the only one', async () => {
    const both = await run({ version: '18.0.0', revision: 'abc1234' });
    expect(both.server.requests[0]!.headers.authorization).toBe(`Bearer ${ADMIN_TOKEN}`);
    const duoOnly = await run({ version: '18.0.0', revision: 'abc1234' }, { adminToken: null });
    expect(duoOnly.server.requests[0]!.headers.authorization).toBe(`Bearer ${DUO_TOKEN}`);
  });

  it('is not required by default: it runs, but the plan does not count it in readiness', async () => {
    const { outcome } = await run({ version: '18.0.0', revision: 'abc1234' });
    expect(outcome.planned.skippedBecause).toBeUndefined();
    expect(outcome.result?.success, outcome.result?.message).toBe(true);
    expect(outcome.planned.required).toBe(false);
    expect(outcome.planned.requiredWhy).toBe('a warning, not counted in readiness');
    // Nothing in the config: the plan decides, the settings leave it open.
    expect(outcome.planned.settings.required).toBeUndefined();
    expect(await fact(outcome, 'gitlab_duo_probe_required', { probe: 'version' })).toBe(0);
  });

  it('is skipped without any token', async () => {
    const outcome = await runInstanceProbe('version', { url: 'https://gitlab.test', adminToken: null, duoUserToken: null });
    expect(outcome.result).toBeUndefined();
    expect(outcome.planned.required).toBe(false);
    expect(outcome.planned.skippedBecause).toMatch(/admin_token \(read_api \+ admin_mode\) or duo_user_token \(ai_features\)/);
  });
});
