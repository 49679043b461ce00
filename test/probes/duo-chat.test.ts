import { writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { PlannedProbe } from '../../src/runner/plan.js';
import type { ProbeResult } from '../../src/runner/result.js';
import { exporterInstanceConfig, startSimulator, type Conditions } from '../../src/simulator/index.js';
import { planProbe, runPlanned } from '../helpers/probe-harness.js';
import { simulatorProbeHarness, type Shape } from '../helpers/sim-probe.js';

/**
 * duo_chat against the simulator, as `check` runs it (detection, plan, one run): GraphQL for the
 * user and the question, ActionCable's GraphqlChannel for the answer, on every modelled release.
 */

// Short, so that the buffered stream's wait (the timeout less 1 s) keeps the test quick.
const TIMEOUT = '4s';
const harness = simulatorProbeHarness('chat');

function withTimeout(withToken = true, timeout = TIMEOUT): Shape {
  return ({ duo_user_token: _token, ...rest }) => ({ ...rest, ...(withToken && { duo_user_token: harness.sim.duoUserToken }), probes: { duo_chat: { timeout } } });
}

const plan = (withToken = true): Promise<PlannedProbe> => harness.plan('duo_chat', withTimeout(withToken));
const run = (base: Partial<Conditions>, scenario: Parameters<typeof harness.run>[2] = 'healthy'): Promise<ProbeResult> => harness.run('duo_chat', base, scenario, withTimeout());

const phases = (r: ProbeResult) => Object.keys(r.phases).sort();

describe('duo_chat against the simulator', () => {
  it.each(['17.5.0-ee', '18.0.0-ee', '18.9.0-ee'])('%s: /help is answered over the cable, timed as first_chunk and complete', async (version) => {
    const result = await run({ version });
    expect(result.success, result.message).toBe(true);
    expect(result.notes.join('\n')).toMatch(/\/help answered over the cable: stream started [\d.]+ s after the mutation, answer complete [\d.]+ s after \(\d+ characters; no model call\)/);
    expect(result.facts.find((f) => f.name === 'gitlab_duo_http_status_code')?.value).toBe(101);
    expect(phases(result)).toEqual(['api', 'complete', 'connect', 'dns', 'first_chunk', 'proxy_connect', 'subscribe', 'tls', 'upgrade', 'welcome']);
    // The echo starts the stream; the answer comes from "Sidekiq" after it.
    expect(result.phases.first_chunk).toBeGreaterThan(0);
    expect(result.phases.complete).toBeGreaterThan(0);
  });

  it.each(['17.2.0-ee', '17.4.1-ee'])('%s: /reset is echoed, and the note says Sidekiq is not proven', async (version) => {
    const result = await run({ version });
    expect(result.success, result.message).toBe(true);
    expect(result.notes.join('\n')).toMatch(/\/reset echoed over the cable .* mutation and cable proven, Sidekiq not/);
    expect(result.phases.complete ?? 0).toBe(0);
  });

  it('chat_stream_buffered: websocket_protocol, no frame after the accepted mutation', async () => {
    const result = await run({}, 'chat_stream_buffered');
    expect(result.reason, result.message).toBe('websocket_protocol');
    expect(result.message).toMatch(/^no frame arrived within 3s after the mutation was accepted \(not even ActionCable's pings, sent every 3 s\): a reverse proxy is buffering or dropping WebSocket frames$/);
  });

  it('pings but no chat message (ActionCable without the triggers): websocket_protocol, naming Redis', async () => {
    // 6 s: the 5 s window is sure to hold one of the simulator's pings (every 3 s).
    const result = await harness.run('duo_chat', { cableStream: 'no_trigger' }, 'healthy', withTimeout(true, '6s'));
    expect(result.reason, result.message).toBe('websocket_protocol');
    expect(result.message).toMatch(/^pings arrived but no chat message within 5s after the mutation was accepted: GitLab's ActionCable did not deliver the trigger \(Redis pub\/sub/);
  });

  it('chat_no_seat: forbidden with GitLab\u2019s message', async () => {
    const result = await run({}, 'chat_no_seat');
    expect(result.reason).toBe('forbidden');
    expect(result.message).toContain('AI features are not enabled or resource is not permitted to be sent.');
    expect(result.message).toMatch(/may not use Duo Chat/);
  });

  it('the user spent its ai_action budget: rate_limited', async () => {
    const result = await run({ chatRateLimited: true });
    expect(result.reason).toBe('rate_limited');
    expect(result.message).toMatch(/requested too many times.*160 per 8 hours/);
  });

  it('a token without ai_features or api: forbidden at the mutation', async () => {
    const result = await run({}, 'token_scope_missing');
    expect(result.reason).toBe('forbidden');
    expect(result.message).toMatch(/may not send chat questions \(it needs the ai_features or api scope\)/);
  });

  it('a token without read_api (ai_features only): GraphQL shows no current user, forbidden naming read_api', async () => {
    const result = await run({ duoUserTokenScopes: ['ai_features'] });
    expect(result.reason).toBe('forbidden');
    expect(result.message).toMatch(/^GraphQL shows no current user for the duo_user_token: it lacks read_api \(or api\)/);
  });

  it('a proxy that strips the upgrade: websocket_upgrade, as websocket_cable', async () => {
    const result = await run({}, 'cable_upgrade_stripped');
    expect(result.reason).toBe('websocket_upgrade');
  });

  it('skipped before 17.2 and where Duo is off, with the reason', async () => {
    harness.sim.setBase({ version: '17.1.2-ee' });
    harness.sim.setScenario('healthy');
    expect((await plan()).skippedBecause).toMatch(/older than 17\.2/);
    harness.sim.setBase({});
    harness.sim.setScenario('duo_never_on');
    expect((await plan()).skippedBecause).toMatch(/Duo is turned off for the instance/);
  });

  it('no token: skipped, naming duo_user_token', async () => {
    harness.sim.setBase({});
    harness.sim.setScenario('healthy');
    expect((await plan(false)).skippedBecause).toBe('needs duo_user_token (ai_features), which is not configured');
  });

  it('Sidekiq does not answer: timeout, after the echo, saying so (and nothing left unhandled)', async () => {
    const slow = await startSimulator({ chatAnswerDelayMs: 60_000 });
    try {
      const { duo_user_token: _t, ...rest } = exporterInstanceConfig(slow, harness.caFile, 'slow');
      writeFileSync(harness.caFile, slow.caPem);
      const instance = { ...rest, duo_user_token: slow.duoUserToken, probes: { duo_chat: { timeout: '1500ms' } } };
      const { planned } = await planProbe({ probe: 'duo_chat', instance });
      const result = await runPlanned(planned);
      expect(result.reason, result.message).toBe('timeout');
      expect(result.message).toMatch(/^the question was echoed but no answer came within [\d.]+s: Sidekiq is not processing the llm queue/);
      expect(result.phases.first_chunk).toBeGreaterThan(0);
    } finally {
      writeFileSync(harness.caFile, harness.sim.caPem);
      await slow.close();
    }
  });

  it('no token reaches the result', async () => {
    const results = [await run({}), await run({}, 'chat_no_seat'), await run({ chatRateLimited: true })];
    const text = JSON.stringify(results);
    for (const token of [harness.sim.agentPlatformToken, harness.sim.adminToken, harness.sim.duoUserToken]) expect(text).not.toContain(token);
  });
});
