import { describe, expect, it } from 'vitest';
import { json, startFakeGitLab } from '../helpers/fake-gitlab.js';
import { runInstanceProbe } from '../helpers/instance-probe.js';
import { fact, samples } from '../helpers/probe-harness.js';

/** instance_settings: GET /api/v4/application/settings (facts §4). */

const HEALTHY = {
  silent_mode_enabled: false,
  duo_features_enabled: true,
  lock_duo_features_enabled: false,
  duo_availability: 'default_on',
  instance_level_ai_beta_features_enabled: true,
  duo_agent_platform_enabled: true,
  signup_enabled: false,
};

async function run(settings: Record<string, unknown>, status = 200) {
  const server = await startFakeGitLab((req) => (req.path === '/api/v4/application/settings' ? json(status, settings) : json(404, {})));
  return runInstanceProbe('instance_settings', { port: server.port });
}

describe('instance_settings', () => {
  it('passes and exports every switch', async () => {
    const outcome = await run(HEALTHY);
    expect(outcome.result?.success, outcome.result?.message).toBe(true);
    expect(await fact(outcome, 'gitlab_duo_silent_mode_enabled')).toBe(0);
    expect(await fact(outcome, 'gitlab_duo_features_enabled')).toBe(1);
    expect(await fact(outcome, 'gitlab_duo_beta_features_enabled')).toBe(1);
    expect(await fact(outcome, 'gitlab_duo_agent_platform_enabled')).toBe(1);
    const availability = await samples(outcome, 'gitlab_duo_availability');
    expect(Object.fromEntries(availability.map((s) => [s.labels.availability, s.value]))).toEqual({ default_on: 1, default_off: 0, never_on: 0 });
    expect(outcome.result?.notes).toContain('Silent Mode off, Duo default_on, beta features on');
    expect(await fact(outcome, 'gitlab_duo_probe_required', { probe: 'instance_settings' })).toBe(1);
  });

  it('default_off (off, unlocked) passes: groups and projects can still turn Duo on', async () => {
    const outcome = await run({ ...HEALTHY, duo_features_enabled: false, lock_duo_features_enabled: false, duo_availability: 'default_off' });
    expect(outcome.result?.success, outcome.result?.message).toBe(true);
    expect(outcome.result?.notes.join(' ')).toContain('off by default; groups and projects can turn it on');
    expect(await fact(outcome, 'gitlab_duo_features_enabled')).toBe(0);
    const availability = await samples(outcome, 'gitlab_duo_availability');
    expect(Object.fromEntries(availability.map((s) => [s.labels.availability, s.value]))).toEqual({ default_on: 0, default_off: 1, never_on: 0 });
  });

  it('on and locked passes, although GitLab reports it as never_on', async () => {
    const outcome = await run({ ...HEALTHY, duo_features_enabled: true, lock_duo_features_enabled: true, duo_availability: 'never_on' });
    expect(outcome.result?.success, outcome.result?.message).toBe(true);
    expect(outcome.result?.notes.join(' ')).toContain('on and locked (GitLab reports this as never_on)');
    expect(await fact(outcome, 'gitlab_duo_features_enabled')).toBe(1);
    expect(await fact(outcome, 'gitlab_duo_availability', { availability: 'never_on' })).toBe(1);
  });

  it('the raw pair wins over duo_availability: off but unlocked passes even if never_on is reported', async () => {
    const outcome = await run({ ...HEALTHY, duo_features_enabled: false, lock_duo_features_enabled: false, duo_availability: 'never_on' });
    expect(outcome.result?.success, outcome.result?.message).toBe(true);
  });

  it('Duo off with neither the lock nor duo_availability exposed is not a failure', async () => {
    const outcome = await run({ silent_mode_enabled: false, duo_features_enabled: false });
    expect(outcome.result?.success, outcome.result?.message).toBe(true);
    expect(await fact(outcome, 'gitlab_duo_features_enabled')).toBe(0);
  });

  it.each<[string, Record<string, unknown>, RegExp]>([
    ['Silent Mode on', { silent_mode_enabled: true }, /^Silent Mode is on: GitLab blocks outbound POST requests/],
    ['Duo off and locked', { duo_availability: 'never_on', duo_features_enabled: false, lock_duo_features_enabled: true }, /^GitLab Duo is turned off and locked for every group and project/],
    // The lock may decide even when duo_availability says otherwise: the pair is what GitLab stores.
    ['Duo off and locked (duo_availability disagreeing)', { duo_availability: 'default_off', duo_features_enabled: false, lock_duo_features_enabled: true }, /off and locked/],
  ])('%s → requirement_not_met', async (_name, overrides, message) => {
    const outcome = await run({ ...HEALTHY, ...overrides });
    expect(outcome.result?.reason).toBe('requirement_not_met');
    expect(outcome.result?.message).toMatch(message);
  });

  it('where the pair is absent, duo_availability never_on means off and locked', async () => {
    const outcome = await run({ silent_mode_enabled: false, duo_availability: 'never_on' });
    expect(outcome.result?.reason).toBe('requirement_not_met');
    expect(outcome.result?.message).toMatch(/turned off and locked/);
    expect(await fact(outcome, 'gitlab_duo_availability', { availability: 'never_on' })).toBe(1);
    expect(await fact(outcome, 'gitlab_duo_features_enabled')).toBeUndefined();
  });

  it('where only one of the pair is exposed, duo_availability decides', async () => {
    const outcome = await run({ silent_mode_enabled: false, duo_features_enabled: false, duo_availability: 'never_on' });
    expect(outcome.result?.reason).toBe('requirement_not_met');
    expect(outcome.result?.message).toMatch(/off and locked/);
  });

  it('lists every problem at once', async () => {
    const outcome = await run({ ...HEALTHY, silent_mode_enabled: true, duo_availability: 'never_on', duo_features_enabled: false, lock_duo_features_enabled: true });
    expect(outcome.result?.reason).toBe('requirement_not_met');
    expect(outcome.result?.message).toMatch(/^Silent Mode is on.*; GitLab Duo is turned off and locked/);
    expect(await fact(outcome, 'gitlab_duo_silent_mode_enabled')).toBe(1);
  });

  it('keys an older GitLab lacks: no sample, no failure', async () => {
    const outcome = await run({ silent_mode_enabled: false, duo_features_enabled: true });
    expect(outcome.result?.success, outcome.result?.message).toBe(true);
    expect(await samples(outcome, 'gitlab_duo_availability')).toEqual([]);
    expect(await fact(outcome, 'gitlab_duo_beta_features_enabled')).toBeUndefined();
    expect(await fact(outcome, 'gitlab_duo_agent_platform_enabled')).toBeUndefined();
  });

  it.each([
    [403, 'forbidden'],
    [401, 'auth'],
  ])('%d → %s (admin token without admin_mode, or revoked)', async (status, reason) => {
    const outcome = await run({ message: `${status}` }, status);
    expect(outcome.result?.reason).toBe(reason);
    expect(outcome.result?.message).toContain('admin_token (read_api + admin_mode)');
  });

  it('a settings value of the wrong type is unexpected_response', async () => {
    const outcome = await run({ ...HEALTHY, silent_mode_enabled: 'no' });
    expect(outcome.result?.reason).toBe('unexpected_response');
  });
});
