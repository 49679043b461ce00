import { describe, expect, it } from 'vitest';
import type { FailureReason } from '../../src/core/errors.js';
import type { Capabilities } from '../../src/gitlab/capabilities.js';
import type { DeploymentSetting } from '../../src/gitlab/deployment.js';
import { parseVersion } from '../../src/gitlab/version.js';
import { license, licenseTypeLabel } from '../../src/probes/license.js';
import { ADMIN_TOKEN, graphqlHandler, json, startFakeGitLab } from '../helpers/fake-gitlab.js';
import { runInEnvironment, runInstanceProbe } from '../helpers/instance-probe.js';
import { fact, phaseSeconds, samples } from '../helpers/probe-harness.js';

/** license: GraphQL currentLicense (facts §2), judged against thresholds.license_sync_max_age. */

const HOUR = 3_600_000;
const iso = (ms: number): string => new Date(ms).toISOString();
const date = (ms: number): string => iso(ms).slice(0, 10);

function licence(overrides: Record<string, unknown> = {}) {
  return { type: 'online_cloud', plan: 'ultimate', lastSync: iso(Date.now() - 2 * HOUR), expiresAt: date(Date.now() + 200 * 24 * HOUR), ...overrides };
}

async function run(currentLicense: unknown, extra: { errors?: unknown[]; thresholds?: Record<string, string> } = {}) {
  const server = await startFakeGitLab(graphqlHandler(() => json(200, { data: { currentLicense }, ...(extra.errors ? { errors: extra.errors } : {}) })));
  const outcome = await runInstanceProbe('license', { port: server.port, thresholds: extra.thresholds });
  return { server, outcome };
}

describe('license', () => {
  it('passes an online cloud licence synced recently, and exports its facts', async () => {
    const current = licence();
    const { server, outcome } = await run(current);
    expect(outcome.result?.success, outcome.result?.message).toBe(true);
    expect(server.requests[0]!.headers.authorization).toBe(`Bearer ${ADMIN_TOKEN}`);
    expect((server.requests[0]!.json as { query: string }).query).toContain('currentLicense { type plan lastSync expiresAt }');
    expect(await fact(outcome, 'gitlab_duo_license_info', { type: 'online_cloud', plan: 'ultimate' })).toBe(1);
    expect(await fact(outcome, 'gitlab_duo_license_last_sync_timestamp_seconds')).toBe(Date.parse(current.lastSync) / 1000);
    expect(await fact(outcome, 'gitlab_duo_license_expiry_timestamp_seconds')).toBe(Date.parse(current.expiresAt) / 1000);
    expect(await phaseSeconds(outcome, 'api')).toBeGreaterThan(0);
  });

  it.each<[string, Record<string, unknown>, RegExp]>([
    // The test default: nothing detected, no endpoints.ai_gateway → cloud (assumed).
    ['offline cloud licence', { type: 'offline_cloud', lastSync: null }, /offline_cloud.*activation code/],
    ['legacy licence', { type: 'legacy_license' }, /legacy_license/],
    ['never synchronised', { lastSync: null }, /never synchronised/],
    ['last sync older than 72h', { lastSync: iso(Date.now() - 80 * HOUR) }, /last synchronised 80h ago, more than 72h/],
    ['expired yesterday', { expiresAt: date(Date.now() - 24 * HOUR) }, /expired on/],
  ])('%s → requirement_not_met', async (_name, overrides, message) => {
    const { outcome } = await run(licence(overrides));
    expect(outcome.result?.reason).toBe('requirement_not_met');
    expect(outcome.result?.message).toMatch(message);
  });

  it('a licence expiring today is still valid (GitLab: expires_at < today)', async () => {
    const { outcome } = await run(licence({ expiresAt: date(Date.now()) }));
    expect(outcome.result?.success, outcome.result?.message).toBe(true);
  });

  it('honours a configured max age', async () => {
    const { outcome } = await run(licence({ lastSync: iso(Date.now() - 30 * HOUR) }), { thresholds: { license_sync_max_age: '26h' } });
    expect(outcome.result?.message).toMatch(/more than 26h/);
  });

  it('no licence at all: type none, requirement_not_met', async () => {
    const { outcome } = await run(null);
    expect(outcome.result?.reason).toBe('requirement_not_met');
    expect(outcome.result?.message).toMatch(/^no licence/);
    expect(await fact(outcome, 'gitlab_duo_license_info', { type: 'none', plan: 'none' })).toBe(1);
  });

  it('keeps the type label closed and the plan label bounded', async () => {
    const { outcome } = await run(licence({ type: 'future_kind', plan: 'Ultimate Plus (Trial) — 2026 edition with a long name' }));
    expect(outcome.result?.reason).toBe('requirement_not_met');
    expect(outcome.result?.message).toContain('("future_kind")');
    const info = await samples(outcome, 'gitlab_duo_license_info');
    expect(info).toHaveLength(1);
    expect(info[0]!.labels.type).toBe('legacy_license');
    expect(info[0]!.labels.plan).toMatch(/^[a-z0-9_.-]{1,32}$/);
  });

  it.each<[string, unknown, FailureReason]>([
    ['a permission error', { data: { currentLicense: null }, errors: [{ message: "The resource that you are attempting to access does not exist or you don't have permission to perform this action" }] }, 'forbidden'],
    ['a type mismatch', { data: { currentLicense: { type: 1, plan: 'x' } } }, 'unexpected_response'],
  ])('%s → %s', async (_name, body, reason) => {
    const server = await startFakeGitLab(graphqlHandler(() => json(200, body)));
    const outcome = await runInstanceProbe('license', { port: server.port });
    expect(outcome.result?.reason).toBe(reason);
  });

  it('is skipped without the admin token, saying which token would enable it', async () => {
    const outcome = await runInstanceProbe('license', { url: 'https://gitlab.test', adminToken: null });
    expect(outcome.planned.skippedBecause).toBe('needs admin_token (read_api + admin_mode), which is not configured');
  });

  it('maps licence types as GitLab falls back', () => {
    expect(licenseTypeLabel('online_cloud')).toBe('online_cloud');
    expect(licenseTypeLabel('offline_cloud')).toBe('offline_cloud');
    expect(licenseTypeLabel('legacy_license')).toBe('legacy_license');
    expect(licenseTypeLabel('something_new')).toBe('legacy_license');
  });

  describe('by deployment profile', () => {
    /**
     * Runs the probe with the environment of `deployment` in the config (`auto`: from `caps`),
     * the way the scheduler passes the plan's environment; runInstanceProbe has no profile.
     */
    async function runAs(currentLicense: unknown, deployment: DeploymentSetting, caps?: Capabilities) {
      const server = await startFakeGitLab(graphqlHandler(() => json(200, { data: { currentLicense } })));
      return runInEnvironment(license, server.port, caps, { deployment });
    }

    const OFFLINE = licence({ type: 'offline_cloud', lastSync: null });

    it('self_hosted: an offline cloud licence that never synchronised passes, accepted for Duo Self-Hosted', async () => {
      const { result, environment } = await runAs(OFFLINE, 'self_hosted');
      expect(environment.deployment).toBe('self_hosted');
      expect(result.success, result.message).toBe(true);
      expect(result.notes[0]).toMatch(/^offline_cloud licence \(ultimate\), accepted for Duo Self-Hosted, never synchronised/);
      expect(result.facts).toContainEqual({ name: 'gitlab_duo_license_info', value: 1, labels: { type: 'offline_cloud', plan: 'ultimate' } });
      expect(result.facts.some((f) => f.name === 'gitlab_duo_license_last_sync_timestamp_seconds')).toBe(false);
    });

    it('self_hosted, detected (GitLab has an AI gateway URL, offline licence): passes the same way', async () => {
      const caps: Capabilities = {
        detectedAt: Date.now(),
        version: parseVersion('18.6.0-ee'),
        fields: undefined,
        settings: { licenseType: 'offline_cloud', selfHostedAiGateway: true, selfHostedAgentPlatform: undefined, applicationSettings: undefined },
        problems: [],
      };
      const { result, environment } = await runAs(OFFLINE, 'auto', caps);
      expect(environment).toMatchObject({ deployment: 'self_hosted', deploymentSource: 'detected' });
      expect(result.success, result.message).toBe(true);
    });

    it('self_hosted: an offline licence that did sync long ago is not judged by its sync age', async () => {
      const { result } = await runAs(licence({ type: 'offline_cloud', lastSync: iso(Date.now() - 1000 * HOUR) }), 'self_hosted');
      expect(result.success, result.message).toBe(true);
    });

    it('self_hosted: an expired offline licence still fails', async () => {
      const { result } = await runAs(licence({ type: 'offline_cloud', lastSync: null, expiresAt: date(Date.now() - 24 * HOUR) }), 'self_hosted');
      expect(result.reason).toBe('requirement_not_met');
      expect(result.message).toMatch(/^the licence expired on/);
    });

    it('self_hosted: a legacy licence still fails, saying what Duo Self-Hosted accepts', async () => {
      const { result } = await runAs(licence({ type: 'legacy_license' }), 'self_hosted');
      expect(result.reason).toBe('requirement_not_met');
      expect(result.message).toMatch(/the licence is legacy_license, but Duo needs an online or offline cloud licence \(Duo Self-Hosted\)/);
    });

    it('self_hosted: an online cloud licence still has to synchronise', async () => {
      const { result } = await runAs(licence({ lastSync: null }), 'self_hosted');
      expect(result.reason).toBe('requirement_not_met');
      expect(result.message).toMatch(/never synchronised/);
    });

    it.each<DeploymentSetting>(['cloud', 'hybrid'])('%s: an offline cloud licence fails', async (deployment) => {
      const { result, environment } = await runAs(OFFLINE, deployment);
      expect(environment.deployment).toBe(deployment);
      expect(result.reason).toBe('requirement_not_met');
      expect(result.message).toMatch(/the licence is offline_cloud, but Duo needs an online cloud licence: activate the subscription with an activation code/);
      expect(result.message).toMatch(/never synchronised/);
    });
  });
});
