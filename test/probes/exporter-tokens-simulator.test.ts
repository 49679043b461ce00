import { describe, expect, it } from 'vitest';
import { renderStatusPage } from '../../src/http/status-page.js';
import { renderReport } from '../../src/report/render.js';
import { buildReport } from '../../src/report/report.js';
import type { Plan } from '../../src/runner/plan.js';
import { ResultStore } from '../../src/runner/store.js';
import { runPlanned } from '../helpers/probe-harness.js';
import { simulatorProbeHarness } from '../helpers/sim-probe.js';

/**
 * exporter_tokens against the simulator's GitLab, as `check` runs it (detection, plan, one run),
 * and what the report, `check`'s formats and the status page show of the tokens.
 */

const DAY_MS = 86_400_000;
const harness = simulatorProbeHarness('tokens');

/** Detects, plans and runs exporter_tokens once; the store holds its result. */
async function runTokens(): Promise<{ plan: Plan; store: ResultStore }> {
  const plan = await harness.planAll();
  const p = plan.probes.find((x) => x.probe.name === 'exporter_tokens')!;
  const store = new ResultStore();
  store.record(await runPlanned(p));
  return { plan, store };
}

const lastRun = (store: ResultStore) => store.get('sim', 'exporter_tokens')!.last!;
const expiryFact = (store: ResultStore, token: string) => lastRun(store).facts.find((f) => f.name === 'gitlab_duo_token_expiry_timestamp_seconds' && f.labels?.token === token)?.value;

describe('exporter_tokens against the simulator', () => {
  it('token_expiring: passes, exports the admin token ending within 5 days, and every output shows it', async () => {
    harness.sim.setBase({});
    harness.sim.setScenario('token_expiring');
    const before = Date.now();
    const { plan, store } = await runTokens();
    const now = new Date();
    expect(lastRun(store).success, lastRun(store).message).toBe(true);
    // GitLab's date 5 days from the request, read as 00:00 UTC of that day.
    const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);
    const expiresAt = day(expiryFact(store, 'admin')! * 1000);
    expect([day(before + 5 * DAY_MS), day(now.getTime() + 5 * DAY_MS)]).toContain(expiresAt);
    expect(expiryFact(store, 'admin')! * 1000).toBe(Date.parse(`${expiresAt}T00:00:00Z`));

    const report = buildReport(plan, store, now);
    const admin = report.instances[0]!.tokens.find((t) => t.token === 'admin')!;
    const daysLeft = Math.floor((Date.parse(`${expiresAt}T00:00:00Z`) - now.getTime()) / DAY_MS);
    expect(daysLeft).toBeLessThanOrEqual(5);
    expect(admin).toEqual({ token: 'admin', setting: 'admin_token', expiresAt, daysLeft, scopesOk: true, detail: `expires ${expiresAt}; scopes read_api, admin_mode: what the probes need` });
    const line = `admin_token: expires ${expiresAt} (${daysLeft} days left); scopes read_api, admin_mode: what the probes need`;
    expect(renderReport(report, 'text')).toContain(`exporter token ${line}`);
    expect(renderReport(report, 'markdown')).toContain(`- \`exporter token ${line}\``);
    expect(JSON.parse(renderReport(report, 'json')).instances[0].tokens).toHaveLength(3);
    // Red on the status page: GitLabDuoExporterTokenExpiresSoon fires 14 days ahead.
    expect(renderStatusPage(plan, store, now)).toContain(`<b>Exporter token:</b> <span class="t-fail">${line}</span>`);
    for (const text of [renderReport(report, 'json'), renderStatusPage(plan, store, now)]) {
      expect(text).not.toContain(harness.sim.adminToken);
      expect(text).not.toContain(harness.sim.duoUserToken);
    }
  });

  it('a token that never expires exports no expiry and says so', async () => {
    harness.sim.setScenario('healthy');
    harness.sim.setBase({ duoUserTokenExpiresInDays: null });
    const { plan, store } = await runTokens();
    expect(lastRun(store).success, lastRun(store).message).toBe(true);
    expect(expiryFact(store, 'duo_user')).toBeUndefined();
    expect(expiryFact(store, 'admin')).toBeDefined();
    const duo = buildReport(plan, store).instances[0]!.tokens.find((t) => t.token === 'duo_user')!;
    expect(duo).toEqual({ token: 'duo_user', setting: 'duo_user_token', scopesOk: true, detail: 'never expires; scopes ai_features, read_api: what the probes need' });
  });

  it('token_scope_missing: requirement_not_met naming ai_features, shown as missing', async () => {
    harness.sim.setBase({});
    harness.sim.setScenario('token_scope_missing');
    const { plan, store } = await runTokens();
    expect(lastRun(store).reason).toBe('requirement_not_met');
    expect(lastRun(store).message).toBe('duo_user_token lacks ai_features (or api) for duo_chat, code_suggestions');
    const report = buildReport(plan, store);
    const probe = report.instances[0]!.probes.find((p) => p.name === 'exporter_tokens')!;
    expect(probe.fix?.runbook?.alert).toBe('GitLabDuoExporterTokenScopeMissing');
    expect(report.instances[0]!.tokens.find((t) => t.token === 'duo_user')).toMatchObject({ scopesOk: false });
    expect(renderStatusPage(plan, store)).toMatch(/<b>Exporter token:<\/b> <span class="t-fail">duo_user_token: expires [\d-]+ \(\d+ days left\); scopes read_api: missing ai_features \(or api\) for duo_chat, code_suggestions<\/span>/);
  });
});
