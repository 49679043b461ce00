import { describe, expect, it } from 'vitest';
import { configFromEnv, parseConfigText } from '../../src/config/load.js';
import { rawConfigSchema } from '../../src/config/schema.js';
import { editDistance, keysAt, nearestKey } from '../../src/config/suggest.js';
import { ConfigError } from '../../src/core/errors.js';
import { PROBE_NAMES } from '../../src/probes/index.js';

/** Issue 14, config frictions: what a user reads for the mistakes everyone makes once. */

async function issuesOf(text: string, env: Record<string, string> = {}): Promise<readonly string[]> {
  try {
    await parseConfigText(text, 'inline', { env });
  } catch (err) {
    if (err instanceof ConfigError) return err.issues;
    throw err;
  }
  throw new Error('the config loaded, but it should have been refused');
}

const instance = (lines: string): string => `instances:\n  - url: https://gitlab.example.com\n${lines}`;

describe('${VAR:-default}', () => {
  const load = (text: string, env: Record<string, string>) => parseConfigText(text, 'inline', { env });

  it('takes the variable when it is set, the default when it is unset or empty, as the shell does', async () => {
    const text = 'instances:\n  - url: ${GITLAB_URL:-https://gitlab.example.com}\n    name: ${NAME:-lab}\n';
    expect((await load(text, {})).instances[0]).toMatchObject({ url: 'https://gitlab.example.com', name: 'lab' });
    expect((await load(text, { GITLAB_URL: 'https://git.corp.example', NAME: '' })).instances[0]).toMatchObject({ url: 'https://git.corp.example', name: 'lab' });
  });

  it('a default may hold ":", "/", "-" and spaces, but not "}"; in the middle of a value it is text', async () => {
    const text = 'instances:\n  - url: https://${HOST:-gitlab.example.com:8443}/${ROOT:-}\n    probes:\n      license: { interval: "${CRON:-*/5 * * * *}" }\n';
    const config = await load(text, {});
    expect(config.instances[0]!.url).toBe('https://gitlab.example.com:8443/');
    expect(config.instances[0]!.probeSettings.license!.schedule).toEqual({ kind: 'cron', expression: '*/5 * * * *' });
  });

  it('${VAR:-} alone leaves the key out while VAR is unset or empty, so the token is simply not configured', async () => {
    const text = instance('    admin_token: ${GITLAB_ADMIN_TOKEN:-}\n    duo_user_token: ${GITLAB_DUO_TOKEN:-}\n');
    const none = (await load(text, { GITLAB_DUO_TOKEN: '' })).instances[0]!;
    expect([none.adminToken, none.duoUserToken]).toEqual([undefined, undefined]);
    const set = (await load(text, { GITLAB_ADMIN_TOKEN: 'sentinel-admin-token' })).instances[0]!;
    expect(set.adminToken?.reveal()).toBe('sentinel-admin-token');
    // A key left out takes its default like any unwritten key.
    expect((await load('log:\n  level: ${LEVEL:-}\ninstances: [ { name: x } ]\n', {})).log.level).toBe('info');
  });

  it('${VAR} keeps its meaning: unset is an error naming the variable, set-but-empty is the empty value', async () => {
    expect(await issuesOf(instance('    admin_token: ${GDE_UNSET}\n'))).toEqual(['instances[0].admin_token: environment variable GDE_UNSET is not set']);
    expect(await issuesOf(instance('    admin_token: ${GDE_EMPTY}\n'), { GDE_EMPTY: '' })).toEqual([expect.stringMatching(/^instances\[0\]\.admin_token: /)]);
  });

  it('anything else that looks like a reference stays as written', async () => {
    const config = await load('instances:\n  - name: lab\n    proxy_env: { rails_env_dir: "/x/${1}/${A-b}/${jndi:ldap://x}", workhorse_env_dir: /y }\n', {});
    expect(config.instances[0]!.proxy_env.rails_env_dir).toBe('/x/${1}/${A-b}/${jndi:ldap://x}');
  });

  it('a secret-named variable’s default is kept out of error messages, as its value is', async () => {
    const issues = await issuesOf(instance('    probes:\n      license: { interval: "${GITLAB_DUO_TOKEN:-sentinel-default-token}" }\n'));
    expect(issues).toHaveLength(1);
    expect(issues[0]).not.toContain('sentinel-default-token');
  });
});

describe('a duration written as a bare number', () => {
  it.each([
    ['    probes:\n      license: { timeout: 30 }\n', 'instances[0].probes.license.timeout: 30 is a number; write a duration with a unit, e.g. "30s"'],
    ['    probes:\n      license: { interval: 300 }\n', 'instances[0].probes.license.interval: 300 is a number; write a duration with a unit, e.g. "300s"'],
    ['    recheck_after: 0\n', 'instances[0].recheck_after: 0 is a number; write a duration with a unit, e.g. "0s"'],
    ['    thresholds: { license_sync_max_age: 1.5 }\n', 'instances[0].thresholds.license_sync_max_age: 1.5 is a number; write a duration with a unit, e.g. "30s"'],
  ])('%j says to add a unit', async (lines, expected) => {
    expect(await issuesOf(instance(lines))).toEqual([expected]);
  });

  it('in scheduler too, and zero stays allowed where it means off', async () => {
    expect(await issuesOf('instances: [ { name: x } ]\nscheduler: { max_start_jitter: 10 }\n')).toEqual(['scheduler.max_start_jitter: 10 is a number; write a duration with a unit, e.g. "10s"']);
    const config = await parseConfigText('instances: [ { name: x, recheck_after: 0s } ]\nscheduler: { max_start_jitter: 0m }\n', 'inline', { env: {} });
    expect([config.instances[0]!.recheck_after, config.scheduler.max_start_jitter]).toEqual([0, 0]);
    expect(await issuesOf(instance('    probes:\n      license: { timeout: 0s }\n'))).toEqual(['instances[0].probes.license.timeout: "0s" is not a duration (use e.g. 500ms, 30s, 5m, 1h)']);
  });

  it('another type still gets the type error', async () => {
    expect(await issuesOf(instance('    probes:\n      license: { timeout: true }\n'))).toEqual(['instances[0].probes.license.timeout: expected string, received boolean']);
  });
});

describe('an unknown key', () => {
  it.each([
    [instance('    admin_tokn_file: /run/secrets/t\n'), 'instances[0].admin_tokn_file: unknown key; did you mean "admin_token_file"?'],
    [instance('    tls: { ca_fil: /etc/ca.pem }\n'), 'instances[0].tls.ca_fil: unknown key; did you mean "ca_file"?'],
    [instance('    probes:\n      licence: { enabled: false }\n'), 'instances[0].probes.licence: unknown key; did you mean "license"?'],
    [instance('    probes:\n      license: { enabeld: false }\n'), 'instances[0].probes.license.enabeld: unknown key; did you mean "enabled"?'],
    [instance('    URL: https://x\n'), 'instances[0].URL: unknown key; did you mean "url"?'],
    [instance('    recheck-after: 1m\n'), 'instances[0]["recheck-after"]: unknown key; did you mean "recheck_after"?'],
    ['instance:\n  - url: https://gitlab.example.com\ninstances: [ { name: x } ]\n', 'instance: unknown key; did you mean "instances"?'],
    ['instances: [ { name: x } ]\nscheduler: { max_concurency: 4 }\n', 'scheduler.max_concurency: unknown key; did you mean "max_concurrency"?'],
  ])('%j suggests the nearest known key', async (text, expected) => {
    expect(await issuesOf(text)).toEqual([expected]);
  });

  it('suggests nothing that is not close, and lists the keys of the place instead', async () => {
    expect(await issuesOf('instances: [ { name: x } ]\nlog: { colour: blue }\n')).toEqual(['log.colour: unknown key (known keys here: level, format)']);
    expect(await issuesOf(instance('    probes:\n      everything: { enabled: false }\n'))).toEqual([`instances[0].probes.everything: unknown key (probes are: ${PROBE_NAMES.join(', ')})`]);
  });

  it('names each of several unknown keys on its own line', async () => {
    expect(await issuesOf(instance('    colour: blue\n    nmae: prod\n'))).toEqual([
      expect.stringMatching(/^instances\[0\]\.colour: unknown key \(known keys here: name, url, /),
      'instances[0].nmae: unknown key; did you mean "name"?',
    ]);
  });

  it('the distance counts a swap of two letters as one edit, and only close keys are suggested', () => {
    expect(editDistance('licnese', 'license')).toBe(1);
    expect(editDistance('admin_tokn_file', 'admin_token_file')).toBe(1);
    expect(editDistance('', 'abc')).toBe(3);
    expect(nearestKey('color', ['url', 'name'])).toBeUndefined();
    expect(nearestKey('x'.repeat(300), ['x'])).toBeUndefined();
    expect(nearestKey('tsl', ['url', 'tls'])).toBe('tls');
  });

  it('reads the allowed keys through defaults, arrays and records from the schema itself', () => {
    expect(keysAt(rawConfigSchema, ['instances', 0, 'tls'])).toEqual(['ca_file', 'insecure_skip_verify']);
    expect(keysAt(rawConfigSchema, ['defaults', 'probes'])).toEqual([...PROBE_NAMES]);
    expect(keysAt(rawConfigSchema, ['instances', 0, 'probes', 'license'])).toEqual(['enabled', 'interval', 'timeout', 'required']);
    expect(keysAt(rawConfigSchema, ['nowhere', 'at', 'all'])).toEqual([]);
  });
});

describe('a YAML syntax error', () => {
  it('shows the offending line whole, with its number and a caret under the column', async () => {
    const text = 'instances:\n  - url: https://gitlab.example.com\n    name: "lab\n    colour: x: y\n';
    const issues = await issuesOf(text);
    // yaml points at the end of the file; the line shown is where the quote opened.
    expect(issues[0]).toBe('YAML line 5: Missing closing "quote\n    3 |     name: "lab\n      |           ^');
  });

  it('points into the line where yaml says the error is', async () => {
    const issues = await issuesOf('instances:\n  - url: https://gitlab.example.com\n    probes: { license: { interval: 5m }\n');
    expect(issues).toContain('YAML line 4: Flow map in block collection must be sufficiently indented and end with a }\n    3 |     probes: { license: { interval: 5m }\n      |                                        ^');
    // A tab is shown escaped, and the caret stays under the column.
    expect(await issuesOf('instances:\n\t- name: x\n')).toEqual(['YAML line 2: Tabs are not allowed as indentation\n    2 | \\t- name: x\n      | ^']);
  });

  it('never shows a token: a secret key’s value, URL credentials and GitLab-shaped tokens are cut out', async () => {
    const text = 'instances:\n  - url: https://gitlab.example.com\n    admin_token: "sentinel-plain-token\n';
    const shown = (await issuesOf(text)).join('\n');
    expect(shown).toContain('admin_token: <redacted>');
    expect(shown).not.toContain('sentinel-plain-token');
    const proxy = (await issuesOf('instances:\n  - proxy: { url: http://user:sentinel-pass@proxy:3128 }\n   x: [\n')).join('\n');
    expect(proxy).not.toContain('sentinel-pass');
    const token = (await issuesOf('instances:\n  - name: x\n  glpat-abcdefghij0123456789: [\n')).join('\n');
    expect(token).not.toContain('glpat-abcdefghij0123456789');
  });

  it('shows a long line around the column, not whole', async () => {
    const issues = await issuesOf(`instances:\n  - name: x\n    note: ${'a'.repeat(300)}: [\n`);
    const line = issues[0]!.split('\n')[1]!;
    expect(line.length).toBeLessThan(140);
    expect(line).toContain('…');
  });
});

describe('the instance URL', () => {
  const warningsOf = async (url: string): Promise<string[]> => {
    const warnings: string[] = [];
    await parseConfigText(`instances:\n  - url: ${url}\n`, 'inline', { env: {}, warn: (w) => warnings.push(w) });
    return warnings;
  };

  it.each([
    ['https://gitlab.example.com/users/sign_in', "a GitLab page, not GitLab's external URL; use https://gitlab.example.com "],
    ['https://gitlab.example.com/api/v4', "GitLab's API path, not GitLab's external URL; use https://gitlab.example.com "],
    ['https://gitlab.example.com/gitlab/api/v4/metadata', "GitLab's API path, not GitLab's external URL; use https://gitlab.example.com/gitlab "],
    ['https://gitlab.example.com/-/profile', 'a GitLab page'],
    ['https://gitlab.example.com/admin/gitlab_duo', 'a GitLab page'],
  ])('%s is refused: it is one of GitLab’s own routes', async (url, words) => {
    const issues = await issuesOf(`instances:\n  - url: ${url}\n`);
    expect(issues).toHaveLength(1);
    expect(issues[0]).toContain(`instances[0].url: ${url} is ${words}`);
  });

  it('a relative URL root is fine, even a deep one, and says nothing', async () => {
    expect(await warningsOf('https://example.com/gitlab')).toEqual([]);
    expect(await warningsOf('https://example.com/foo/bar/gitlab/git/')).toEqual([]);
  });

  it('http:// is a warning (GitLab Duo wants wss:// and HTTP/2 over TLS), except on loopback', async () => {
    expect(await warningsOf('http://gitlab.example.com')).toEqual([
      "instances[0].url: http://gitlab.example.com/ is plain HTTP: GitLab Duo's clients need https (wss:// to /-/cable on port 443, HTTP/2 over TLS); use GitLab's https:// external URL, or the probes fail on GitLab's redirect to it",
    ]);
    for (const url of ['http://127.0.0.1:8080', 'http://localhost', 'http://[::1]:3000', 'http://gitlab.localhost']) expect(await warningsOf(url), url).toEqual([]);
  });

  it('names GITLAB_URL in environment-only mode, and never quotes credentials in the URL', async () => {
    const warnings: string[] = [];
    await configFromEnv({ env: { GITLAB_URL: 'http://sentinel-user:sentinel-pass@gitlab.example.com' }, warn: (w) => warnings.push(w) });
    expect(warnings).toEqual([expect.stringMatching(/^GITLAB_URL: http:\/\/gitlab\.example\.com\/ is plain HTTP/)]);
    let refused: unknown;
    await configFromEnv({ env: { GITLAB_URL: 'https://sentinel-user@gitlab.example.com/users/sign_in' } }).catch((err: unknown) => (refused = err));
    expect((refused as ConfigError).issues).toEqual([expect.stringMatching(/^GITLAB_URL: https:\/\/gitlab\.example\.com\/users\/sign_in is a GitLab page/)]);
    expect(JSON.stringify([warnings, (refused as ConfigError).issues])).not.toContain('sentinel');
  });
});
