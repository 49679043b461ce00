import { describe, expect, it } from 'vitest';
import { Secret } from '../../src/config/secret.js';
import { extractGitLabMessage, parseRetryAfter, statusError } from '../../src/gitlab/errors.js';

const NOW = Date.parse('2026-03-01T12:00:00Z');
const admin = { kind: 'admin' as const, secret: new Secret('sentinel-admin-0123456789abcdef') };

describe('parseRetryAfter', () => {
  it.each<[string | undefined, number | undefined]>([
    ['60', 60],
    [' 5 ', 5],
    ['0', 0],
    ['Sun, 01 Mar 2026 12:02:00 GMT', 120],
    ['Sun, 01 Mar 2026 11:00:00 GMT', 0],
    ['999999999', 86400],
    ['1.5', undefined],
    ['soon', undefined],
    ['-3', undefined],
    [undefined, undefined],
  ])('%j → %j', (value, expected) => {
    expect(parseRetryAfter(value, NOW)).toBe(expected);
  });
});

describe('statusError', () => {
  const base = { where: 'GET /api/v4/metadata', gitlabMessage: '', retryAfter: undefined, credential: admin };

  it.each([
    [401, 'auth'],
    [403, 'forbidden'],
    [429, 'rate_limited'],
    [404, 'http_status'],
    [500, 'http_status'],
    [502, 'http_status'],
  ] as const)('%d → %s', (status, reason) => {
    expect(statusError({ ...base, status }).reason).toBe(reason);
  });

  it('names the token by its role, never by its value', () => {
    const err = statusError({ ...base, status: 401, gitlabMessage: '401 Unauthorized' });
    expect(err.message).toContain('admin_token (read_api + admin_mode)');
    expect(err.message).toContain('401 Unauthorized');
    expect(err.message).not.toContain(admin.secret.reveal());
  });

  it('carries Retry-After into the error for the scheduler', () => {
    const err = statusError({ ...base, status: 429, retryAfter: '30' });
    expect(err.retryAfterSeconds).toBe(30);
    expect(err.message).toContain('retrying after 30s');
    expect(statusError({ ...base, status: 429 }).retryAfterSeconds).toBeUndefined();
  });
});

describe('extractGitLabMessage', () => {
  const secrets = [admin.secret.reveal()];
  it.each([
    [{ message: '403 Forbidden' }, '403 Forbidden'],
    [{ message: { base: ['is invalid'] } }, '{"base":["is invalid"]}'],
    [{ error: 'insufficient_scope', error_description: 'The request requires higher privileges' }, 'insufficient_scope; The request requires higher privileges'],
    [{ errors: [{ message: 'Invalid token' }] }, 'Invalid token'],
    [{ detail: 'Forbidden by auth provider' }, 'Forbidden by auth provider'],
    [{ message: `token ${admin.secret.reveal()} is revoked` }, 'token <redacted> is revoked'],
    ['plain', ''],
    [null, ''],
  ])('%j → %j', (body, expected) => {
    expect(extractGitLabMessage(body, secrets)).toBe(expected);
  });
});
