import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { configFromEnv, loadConfigFile, parseConfigText } from '../../src/config/load.js';
// As src/main.ts does: the probe catalog registers the probes' names and schedules the config reads.
import '../../src/probes/index.js';
import { ConfigError } from '../../src/core/errors.js';

const fixture = (name: string): string => new URL(`../fixtures/config/${name}`, import.meta.url).pathname;

async function issuesOf(load: () => Promise<unknown>): Promise<readonly string[]> {
  try {
    await load();
  } catch (err) {
    if (err instanceof ConfigError) return err.issues;
    throw err;
  }
  throw new Error('the config loaded, but it should have been refused');
}

// One fixture per way a config can be wrong, with the exact message a user reads.
const INVALID: Array<[file: string, issues: string[]]> = [
  ['invalid-unknown-key.yaml', [expect.stringMatching(/^instances\[0\]\.colour: unknown key \(known keys here: name, url, /) as unknown as string]],
  ['invalid-no-instances.yaml', ['instances: needs at least one instance']],
  ['invalid-url-scheme.yaml', ['instances[0].url: must be an http:// or https:// URL']],
  ['invalid-interval.yaml', ['instances[0].probes.customers_portal.interval: "often" is neither a duration (30s, 5m) nor a cron expression (*/5 * * * *)']],
  ['invalid-cron.yaml', ['instances[0].probes.customers_portal.interval: "61 * * * *" is neither a duration (30s, 5m) nor a cron expression (*/5 * * * *)']],
  ['invalid-timeout-not-shorter.yaml', ['instances[0].probes.customers_portal.timeout: 30s must be shorter than the interval 10s']],
  ['invalid-unknown-probe.yaml', ['instances[0].probes.licence: unknown key; did you mean "license"?']],
  ['invalid-unset-env.yaml', ['instances[0].admin_token: environment variable GDE_TEST_UNSET_VARIABLE is not set']],
  ['invalid-token-both.yaml', ['instances[0].admin_token: set either admin_token or admin_token_file, not both']],
  ['invalid-token-file-missing.yaml', ['instances[0].admin_token_file: cannot read /nonexistent/gitlab-duo-exporter/token: ENOENT']],
  ['invalid-duplicate-name.yaml', ['instances[1].name: "prod" is already the name of instances[0]']],
  ['invalid-dws-endpoint.yaml', ['instances[0].endpoints.duo_workflow_service: must be host:port (no scheme), e.g. duo-workflow-svc.runway.gitlab.net:443']],
  ['invalid-resolve.yaml', ['instances[0].resolve["cloud.gitlab.com:443"]: must be an IPv4 or IPv6 address']],
  ['invalid-min-version.yaml', ['instances[0].thresholds.min_version: must be a version such as "17.2" or "17.2.1"']],
  ['invalid-log-level.yaml', ['log.level: must be one of "debug", "info", "warn", "error"']],
  ['invalid-name.yaml', ['instances[0].name: must be 1-63 letters, digits, or _ . : - (it becomes the `gitlab` label)']],
  ['invalid-enabled-type.yaml', ['instances[0].probes.customers_portal.enabled: expected boolean, received string']],
  ['invalid-proxy-scheme.yaml', ['instances[0].proxy.url: must be an http:// or https:// proxy URL']],
  ['invalid-listen-address.yaml', ['web.listen_address: must be [host]:port']],
];

describe('invalid configs', () => {
  it.each(INVALID)('%s is refused with its path named', async (file, expected) => {
    expect(await issuesOf(() => loadConfigFile(fixture(file), { env: {} }))).toEqual(expected);
  });

  it('broken YAML names the line and shows it', async () => {
    const issues = await issuesOf(() => loadConfigFile(fixture('invalid-yaml.yaml'), { env: {} }));
    expect(issues[0]).toBe('YAML line 3: All mapping items must start at the same column\n    3 |   url: [\n      | ^');
  });

  it('lists every problem at once, not just the first', async () => {
    const text = 'instances:\n  - url: ftp://x\n    colour: blue\nlog:\n  level: loud\n';
    expect(await issuesOf(() => parseConfigText(text, 'inline', { env: {} }))).toHaveLength(3);
  });

  it('a missing file is an error naming the file', async () => {
    expect(await issuesOf(() => loadConfigFile('/nonexistent/config.yaml'))).toEqual(['cannot read /nonexistent/config.yaml: ENOENT']);
  });
});

describe('valid configs', () => {
  it('loads config.example.yaml, so the documented example cannot rot', async () => {
    const config = await loadConfigFile(new URL('../../config.example.yaml', import.meta.url).pathname, {
      env: { GITLAB_ADMIN_TOKEN: 'example-admin', GITLAB_DUO_TOKEN: 'example-duo' },
    });
    expect(config.instances.length).toBeGreaterThan(0);
    expect(config.instances[0]!.name).toBe('gitlab-prod');
    expect(config.instances[0]!.adminToken?.reveal()).toBe('example-admin');
    // With no variable set it loads too (its ${VAR:-} defaults): no tokens, the example URL.
    const bare = (await loadConfigFile(new URL('../../config.example.yaml', import.meta.url).pathname, { env: {} })).instances[0]!;
    expect([bare.url, bare.adminToken, bare.duoUserToken]).toEqual(['https://gitlab.example.com', undefined, undefined]);
  });

  it('substitutes ${VAR} and reads token files, warning when others can read them', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gde-token-'));
    const tokenFile = join(dir, 'duo-token');
    writeFileSync(tokenFile, 'sentinel-duo-token\n');
    chmodSync(tokenFile, 0o644);
    const warnings: string[] = [];
    const text = `instances:\n  - url: \${URL}\n    admin_token: \${ADMIN}\n    duo_user_token_file: ${tokenFile}\n`;
    const config = await parseConfigText(text, 'inline', { env: { URL: 'https://gitlab.example.com', ADMIN: 'sentinel-admin-token' }, warn: (m) => warnings.push(m) });
    const instance = config.instances[0]!;
    expect(instance.url).toBe('https://gitlab.example.com');
    expect(instance.name).toBe('gitlab.example.com');
    expect(instance.adminToken?.reveal()).toBe('sentinel-admin-token');
    expect(instance.duoUserToken?.reveal()).toBe('sentinel-duo-token');
    expect(warnings).toEqual([`instances[0].duo_user_token_file: ${tokenFile} is readable by every user; chmod 600 it`]);
    // The token never prints, whichever way the config is turned into text.
    expect(JSON.stringify(config)).not.toContain('sentinel');
    expect(`${String(instance.adminToken)}`).toBe('<redacted>');
  });

  it('applies defaults, then defaults.probes, then the instance override', async () => {
    const text = [
      'defaults:',
      '  probes:',
      '    customers_portal: { interval: 45s, timeout: 7s }',
      '    cloud_connector: { timeout: 4s }',
      'instances:',
      '  - url: https://gitlab.example.com',
      '    probes:',
      '      customers_portal: { interval: "*/5 * * * *" }',
      '      ai_gateway: { required: false }',
    ].join('\n');
    const settings = (await parseConfigText(text, 'inline', { env: {} })).instances[0]!.probeSettings;
    expect(settings.customers_portal).toEqual({ enabled: true, schedule: { kind: 'cron', expression: '*/5 * * * *' }, timeoutMs: 7000, required: undefined });
    expect(settings.cloud_connector).toEqual({ enabled: true, schedule: { kind: 'every', ms: 30_000 }, timeoutMs: 4000, required: undefined });
    expect(settings.ai_gateway?.required).toBe(false);
  });
});

describe('environment-only mode', () => {
  it('without GITLAB_URL yields one instance for the network probes', async () => {
    const config = await configFromEnv({ env: {} });
    expect(config.source).toBe('environment');
    expect(config.instances.map((i) => [i.name, i.url])).toEqual([['default', undefined]]);
  });

  it('reads the URL and tokens from the environment', async () => {
    const config = await configFromEnv({ env: { GITLAB_URL: 'https://gitlab.internal:8443', GITLAB_ADMIN_TOKEN: 'a-token', GITLAB_DUO_TOKEN: 'd-token' } });
    const instance = config.instances[0]!;
    expect(instance.name).toBe('gitlab.internal');
    expect(instance.adminToken?.reveal()).toBe('a-token');
    expect(instance.duoUserToken?.reveal()).toBe('d-token');
  });

  it('a bad GITLAB_URL is a config error naming the key', async () => {
    expect(await issuesOf(() => configFromEnv({ env: { GITLAB_URL: 'gitlab' } }))).toEqual(['GITLAB_URL: must be an http:// or https:// URL']);
  });
});
