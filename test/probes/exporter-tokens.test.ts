import { describe, expect, it } from 'vitest';
import type { Capabilities } from '../../src/gitlab/capabilities.js';
import { expiryOf } from '../../src/probes/exporter-tokens.js';
import { findProbe } from '../../src/probes/index.js';
import { ADMIN_TOKEN, DUO_TOKEN, json, startFakeGitLab, type FakeReply, type FakeRequest } from '../helpers/fake-gitlab.js';
import { runInEnvironment, runInstanceProbe } from '../helpers/instance-probe.js';
import { fact, samples } from '../helpers/probe-harness.js';

/**
 * exporter_tokens: GET /api/v4/personal_access_tokens/self with each configured token, against a
 * real HTTPS server answering as GitLab does (lib/api/personal_access_tokens/self_information.rb,
 * Entities::PersonalAccessToken; 401 bodies from lib/api/api_guard.rb).
 */

const SELF = '/api/v4/personal_access_tokens/self';
const SETTINGS = '/api/v4/application/settings';

interface TokenSpec {
  readonly scopes?: string[];
  readonly expires_at?: string | null;
  readonly reply?: FakeReply;
}

const details = (spec: TokenSpec) => ({
  id: 7,
  name: 'gitlab-duo-exporter',
  revoked: false,
  created_at: '2026-01-01T10:00:00.000Z',
  description: null,
  scopes: spec.scopes,
  user_id: 3,
  last_used_at: '2026-05-01T10:00:00.000Z',
  active: true,
  expires_at: spec.expires_at === undefined ? '2030-01-15' : spec.expires_at,
});

const EXPIRED = json(401, { error: 'invalid_token', error_description: 'Token is expired. You can either do re-authorization or token refresh.' });
const REVOKED = json(401, { error: 'invalid_token', error_description: 'Token was revoked. You have to re-authorize from the user.' });

/** A GitLab that knows the two tokens; `settings` answers the admin's application settings. */
async function gitlab(admin: TokenSpec, duo: TokenSpec, settings: FakeReply = json(200, { admin_mode: false })) {
  return startFakeGitLab((req: FakeRequest) => {
    const auth = req.headers.authorization;
    const spec = auth === `Bearer ${ADMIN_TOKEN}` ? admin : auth === `Bearer ${DUO_TOKEN}` ? duo : undefined;
    if (!spec) return json(401, { message: '401 Unauthorized' });
    if (req.path === SETTINGS) return settings;
    if (req.path !== SELF) return json(404, { error: '404 Not Found' });
    return spec.reply ?? json(200, details(spec));
  });
}

const ADMIN_OK: TokenSpec = { scopes: ['read_api', 'admin_mode'], expires_at: '2030-01-15' };
const DUO_OK: TokenSpec = { scopes: ['ai_features', 'read_api'], expires_at: null };

async function run(admin: TokenSpec, duo: TokenSpec, settings?: FakeReply) {
  const server = await gitlab(admin, duo, settings);
  const outcome = await runInstanceProbe('exporter_tokens', { port: server.port });
  return { server, outcome, result: outcome.result! };
}

describe('exporter_tokens', () => {
  it('exports when each token stops working, absent for one that never expires, and passes', async () => {
    const { server, outcome, result } = await run(ADMIN_OK, DUO_OK);
    expect(result.success, result.message).toBe(true);
    // 00:00 UTC of expires_at: GitLab's `expires_at <= Time.current`.
    expect(await fact(outcome, 'gitlab_duo_token_expiry_timestamp_seconds', { token: 'admin' })).toBe(Date.UTC(2030, 0, 15) / 1000);
    expect(await fact(outcome, 'gitlab_duo_token_expiry_timestamp_seconds', { token: 'duo_user' })).toBeUndefined();
    expect(await fact(outcome, 'gitlab_duo_token_scopes_ok', { token: 'admin' })).toBe(1);
    expect(await fact(outcome, 'gitlab_duo_token_scopes_ok', { token: 'duo_user' })).toBe(1);
    expect(result.message).toMatch(/^admin_token and duo_user_token: accepted, with the scopes the probes need; admin_token expires first, on 2030-01-15 \(in \d+ days\)$/);
    expect(result.notes).toContain('duo_user_token: never expires; scopes ai_features, read_api: what the probes need');
    // One request per token, each with its own token; admin_mode present, so no settings read.
    expect(server.requests.map((r) => [r.path, r.headers.authorization])).toEqual([
      [SELF, `Bearer ${ADMIN_TOKEN}`],
      [SELF, `Bearer ${DUO_TOKEN}`],
    ]);
  });

  it.each([
    ['expired', EXPIRED, /Token is expired/],
    ['revoked', REVOKED, /Token was revoked/],
  ])('a %s token (401) fails with auth, naming it; the other token is still checked', async (_name, reply, said) => {
    const { outcome, result } = await run(ADMIN_OK, { ...DUO_OK, reply });
    expect(result.reason).toBe('auth');
    expect(result.message).toMatch(/answered 401; GitLab did not accept the duo_user_token/);
    expect(result.message).toMatch(said);
    expect(result.message).not.toMatch(/admin_token/);
    expect(await fact(outcome, 'gitlab_duo_token_expiry_timestamp_seconds', { token: 'admin' })).toBe(Date.UTC(2030, 0, 15) / 1000);
    expect(await fact(outcome, 'gitlab_duo_token_scopes_ok', { token: 'duo_user' })).toBeUndefined();
  });

  it('a token GitLab reports inactive fails with auth', async () => {
    const { result } = await run({ ...ADMIN_OK, reply: json(200, { ...details(ADMIN_OK), active: false, revoked: true }) }, DUO_OK);
    expect(result.reason).toBe('auth');
    expect(result.message).toMatch(/^admin_token is revoked/);
  });

  it('a missing scope fails with requirement_not_met, names it and who needs it, and exports scopes_ok 0', async () => {
    const { outcome, result } = await run(ADMIN_OK, { ...DUO_OK, scopes: ['read_api'] });
    expect(result.reason).toBe('requirement_not_met');
    expect(result.message).toBe('duo_user_token lacks ai_features (or api) for duo_chat, code_suggestions');
    expect(await fact(outcome, 'gitlab_duo_token_scopes_ok', { token: 'duo_user' })).toBe(0);
    expect(await fact(outcome, 'gitlab_duo_token_scopes_ok', { token: 'admin' })).toBe(1);
  });

  it('a refused token outweighs a missing scope, and both are in the message', async () => {
    const { result } = await run({ ...ADMIN_OK, reply: EXPIRED }, { ...DUO_OK, scopes: ['ai_features'] });
    expect(result.reason).toBe('auth');
    expect(result.message).toMatch(/admin_token .*Token is expired.*; duo_user_token lacks read_api \(or api\) for duo_chat, duo_workflow_tools/);
  });

  it('api covers read_api and ai_features', async () => {
    const { result } = await run(ADMIN_OK, { ...DUO_OK, scopes: ['api'] });
    expect(result.success, result.message).toBe(true);
  });

  describe('admin_mode is needed only where GitLab refuses administrator rights without it', () => {
    const READ_ONLY: TokenSpec = { scopes: ['read_api'], expires_at: '2030-01-15' };

    it('the settings answer (Admin Mode off): not needed, and said so', async () => {
      const { server, outcome, result } = await run(READ_ONLY, DUO_OK, json(200, { admin_mode: false, silent_mode_enabled: false }));
      expect(result.success, result.message).toBe(true);
      expect(result.notes.join('\n')).toMatch(/admin_token: expires 2030-01-15; scopes read_api: what the probes need \(admin_mode not needed: .*Admin Mode is off\)/);
      expect(await fact(outcome, 'gitlab_duo_token_scopes_ok', { token: 'admin' })).toBe(1);
      expect(server.requests.filter((r) => r.path === SETTINGS)).toHaveLength(1);
    });

    it('a bare 403 (Admin Mode on): missing, with both explanations', async () => {
      const { outcome, result } = await run(READ_ONLY, DUO_OK, json(403, { message: '403 Forbidden' }));
      expect(result.reason).toBe('requirement_not_met');
      expect(result.message).toMatch(/^admin_token lacks admin_mode for the admin REST endpoints: .*Admin Mode is on and the token lacks admin_mode, or its user is not an administrator/);
      expect(await fact(outcome, 'gitlab_duo_token_scopes_ok', { token: 'admin' })).toBe(0);
    });

    it('an answer that says nothing (500): unknown, not reported as missing', async () => {
      const { outcome, result } = await run(READ_ONLY, DUO_OK, json(500, { message: '500 Internal Server Error' }));
      expect(result.success, result.message).toBe(true);
      expect(result.notes.join('\n')).toMatch(/whether admin_mode is needed is unknown: the application settings answered 500/);
      expect(await fact(outcome, 'gitlab_duo_token_scopes_ok', { token: 'admin' })).toBe(1);
    });
  });

  it('a token that is not a personal access token (400) is not checked, not failed', async () => {
    const reply = json(400, { message: '400 Bad request - This endpoint requires token type to be a personal access token' });
    const { outcome, result } = await run(ADMIN_OK, { ...DUO_OK, reply });
    expect(result.success, result.message).toBe(true);
    expect(result.message).toMatch(/^admin_token: accepted, with the scopes the probes need; it expires on 2030-01-15 \(in \d+ days\); duo_user_token: not checked, GitLab shows no details for it$/);
    expect(result.notes.join('\n')).toMatch(/duo_user_token: GitLab shows no details for it .*not a personal access token/);
    expect(await fact(outcome, 'gitlab_duo_token_scopes_ok', { token: 'duo_user' })).toBeUndefined();
  });

  it('a 404 is no GitLab API at that URL: http_status', async () => {
    const { result } = await run({ ...ADMIN_OK, reply: json(404, { message: '404 Not Found' }) }, DUO_OK);
    expect(result.reason).toBe('http_status');
  });

  it('a granular token has permissions, not scopes: not judged', async () => {
    const { outcome, result } = await run(ADMIN_OK, { ...DUO_OK, scopes: ['granular'] });
    expect(result.success, result.message).toBe(true);
    expect(result.message).toMatch(/^admin_token and duo_user_token: accepted, scopes as noted; /);
    expect(await fact(outcome, 'gitlab_duo_token_scopes_ok', { token: 'duo_user' })).toBeUndefined();
  });

  it('before the Agent Platform (GitLab 18.3) only duo_chat needs read_api of the Duo user', async () => {
    const server = await gitlab(ADMIN_OK, { ...DUO_OK, scopes: ['ai_features'] });
    const caps: Capabilities = { detectedAt: Date.now(), version: { major: 18, minor: 3, patch: 0, suffix: '' }, fields: undefined, settings: undefined, problems: [] };
    const { result } = await runInEnvironment(findProbe('exporter_tokens')!, server.port, caps);
    expect(result.reason).toBe('requirement_not_met');
    // duo_workflow_tools is skipped there: only duo_chat (currentUser) asks for read_api.
    expect(result.message).toBe('duo_user_token lacks read_api (or api) for duo_chat');
  });

  it('checks only the configured token, and is skipped without any', async () => {
    const server = await gitlab(ADMIN_OK, DUO_OK);
    const outcome = await runInstanceProbe('exporter_tokens', { port: server.port, adminToken: null });
    expect(outcome.result?.success, outcome.result?.message).toBe(true);
    expect(server.requests.map((r) => r.headers.authorization)).toEqual([`Bearer ${DUO_TOKEN}`]);
    expect((await samples(outcome, 'gitlab_duo_token_scopes_ok')).map((s) => s.labels.token)).toEqual(['duo_user']);
    const none = await runInstanceProbe('exporter_tokens', { url: 'https://gitlab.test', adminToken: null, duoUserToken: null });
    expect(none.result).toBeUndefined();
    expect(none.planned.skippedBecause).toMatch(/neither is configured/);
    expect(none.planned.required).toBe(false);
  });

  it('never shows a token, even one GitLab echoes back', async () => {
    const echo = json(401, { error: 'invalid_token', error_description: `Token ${DUO_TOKEN} is expired.` });
    const { outcome, result } = await run(ADMIN_OK, { ...DUO_OK, reply: echo });
    const text = [result.message, ...result.notes, await outcome.exposition()].join('\n');
    expect(text).not.toContain(DUO_TOKEN);
    expect(text).not.toContain(ADMIN_TOKEN);
  });
});

describe('expiryOf', () => {
  it('reads a date as 00:00 UTC of that day (the token works through the day before)', () => {
    expect(expiryOf('2026-08-15')).toBe(Date.UTC(2026, 7, 15));
    expect(expiryOf('2026-08-15T12:00:00Z')).toBe(Date.UTC(2026, 7, 15, 12));
    expect(expiryOf(null)).toBeUndefined();
    expect(expiryOf('soon')).toBeUndefined();
  });
});
