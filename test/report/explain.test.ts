import { describe, expect, it } from 'vitest';
import { FAILURE_REASONS } from '../../src/core/errors.js';
import { PROBES } from '../../src/probes/index.js';
import { enablingHint, explainReason, fixAdvice, REASON_SENTENCES, TOKEN_ADVICE } from '../../src/report/explain.js';
import { testPlan } from './helpers.js';

describe('explain', () => {
  it('has a plain sentence for every failure reason, and for nothing else', () => {
    expect(Object.keys(REASON_SENTENCES).sort()).toEqual([...FAILURE_REASONS].sort());
    for (const reason of FAILURE_REASONS) {
      const sentence = explainReason(reason);
      expect(sentence, reason).toMatch(/^[A-Z].{20,}\.$/);
    }
    expect(explainReason('tls')).toBe('The TLS handshake failed: certificate expired, untrusted or for another name (often a TLS-inspecting proxy).');
  });

  it('has fix advice and a docs link for every probe and reason, and a runbook link for every probe', () => {
    for (const probe of PROBES) {
      for (const reason of [undefined, ...FAILURE_REASONS]) {
        const fix = fixAdvice(probe.name, reason, probe.token);
        expect(fix.advice, `${probe.name} ${reason}`).toMatch(/^.{20,}\.$/s);
        expect(fix.docs.path).toBe(`docs/probes.md#${probe.name}`);
        expect(fix.docs.url).toMatch(new RegExp(`^https://.+/docs/probes\\.md#${probe.name}$`));
        expect(fix.runbook?.alert, probe.name).toMatch(/^GitLabDuo[A-Za-z0-9]+$/);
        expect(fix.runbook!.path).toBe(`docs/runbook.md#${fix.runbook!.alert.toLowerCase()}`);
      }
    }
  });

  it('gives the specific advice where one probe and reason call for it', () => {
    expect(fixAdvice('instance_http2', 'http2_not_negotiated').runbook?.alert).toBe('GitLabDuoHTTP2Downgraded');
    expect(fixAdvice('instance_http2', 'http2_not_negotiated').advice).toContain('HTTP/2');
    expect(fixAdvice('license', 'auth', 'admin').advice).toContain('admin_mode');
    expect(fixAdvice('code_suggestions', 'forbidden', 'duo_user').advice).toContain('GitLab Duo seat');
    expect(fixAdvice('code_suggestions', 'http_status', 'duo_user').advice).toContain('Workhorse');
    expect(fixAdvice('cloud_connector', 'connect').advice).toContain('TCP 443');
    expect(fixAdvice('proxy_env', 'requirement_not_met').runbook?.alert).toBe('GitLabDuoProxyEnvInconsistent');
  });

  it('says which token or setting enables a skipped probe', async () => {
    const plan = await testPlan();
    const hint = (instance: string, probe: string) => enablingHint(plan.probes.find((p) => p.instance.name === instance && p.probe.name === probe)!);
    expect(TOKEN_ADVICE).toEqual({
      admin: 'an admin token with read_api + admin_mode',
      duo_user: 'a Duo-seated user\u2019s token with ai_features + read_api',
      agent_platform: 'a token with the api scope of a user who may use the Duo Agent Platform (it may be the Duo user\u2019s token if that one has api)',
    });
    expect(hint('bare', 'agent_platform_client')).toBe(`Configure ${TOKEN_ADVICE.agent_platform} (agent_platform_token, agent_platform_token_file or GITLAB_AGENT_PLATFORM_TOKEN).`);
    expect(hint('bare', 'health_check')).toBe(`Configure ${TOKEN_ADVICE.admin} (admin_token, admin_token_file or GITLAB_ADMIN_TOKEN).`);
    expect(hint('bare', 'duo_workflow_tools')).toBe(`Configure ${TOKEN_ADVICE.duo_user} (duo_user_token, duo_user_token_file or GITLAB_DUO_TOKEN).`);
    expect(hint('lab', 'license')).toBeUndefined(); // not skipped
    expect(hint('lab', 'proxy_env')).toContain('Omnibus');
  });
});
