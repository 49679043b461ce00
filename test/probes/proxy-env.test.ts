import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { runInstanceProbe, type InstanceSpec } from '../helpers/instance-probe.js';
import { fact } from '../helpers/probe-harness.js';

/** proxy_env: Omnibus env folders (one file per variable) of Rails and Workhorse, and the exporter's proxy. */

type Files = Record<string, string>;

function folders(rails: Files, workhorse: Files): { rails_env_dir: string; workhorse_env_dir: string } {
  const root = mkdtempSync(join(tmpdir(), 'gde-proxy-env-'));
  onTestFinished(() => rmSync(root, { recursive: true, force: true }));
  const write = (dir: string, files: Files): string => {
    mkdirSync(dir);
    // Other variables sit in the same folder; the probe must not care about them.
    writeFileSync(join(dir, 'SSL_CERT_DIR'), '/opt/gitlab/embedded/ssl/certs/');
    for (const [name, value] of Object.entries(files)) writeFileSync(join(dir, name), value);
    return dir;
  };
  return { rails_env_dir: write(join(root, 'rails'), rails), workhorse_env_dir: write(join(root, 'workhorse'), workhorse) };
}

const PROXY = 'http://proxy.corp:3128';

async function run(rails: Files, workhorse: Files, spec: Partial<InstanceSpec> = {}) {
  return runInstanceProbe('proxy_env', { proxyEnv: folders(rails, workhorse), ...spec });
}

describe('proxy_env', () => {
  it.each<[string, Files, Files, Partial<InstanceSpec>]>([
    ['no proxy anywhere', {}, {}, {}],
    ['the same proxy everywhere', { HTTPS_PROXY: PROXY, NO_PROXY: 'localhost,.corp' }, { HTTPS_PROXY: PROXY, NO_PROXY: 'localhost,.corp' }, { proxy: { url: PROXY } }],
    ['upper and lower case alike, trailing newline', { https_proxy: `${PROXY}\n` }, { HTTPS_PROXY: PROXY }, { env: { HTTPS_PROXY: PROXY } }],
    ['NO_PROXY in another order and case', { HTTPS_PROXY: PROXY, NO_PROXY: 'Localhost, .corp' }, { HTTPS_PROXY: PROXY, no_proxy: '.corp,localhost' }, { proxy: { url: PROXY } }],
    ['an explicit default port', { HTTPS_PROXY: 'http://proxy.corp:80' }, { HTTPS_PROXY: 'http://proxy.corp' }, { proxy: { url: 'http://proxy.corp' } }],
  ])('%s → consistent', async (_name, rails, workhorse, spec) => {
    const outcome = await run(rails, workhorse, spec);
    expect(outcome.result?.success, outcome.result?.message).toBe(true);
    expect(await fact(outcome, 'gitlab_duo_proxy_env_consistent')).toBe(1);
  });

  it('Rails has the proxy, Workhorse does not (gitlab-org/gitlab#422001)', async () => {
    const outcome = await run({ HTTPS_PROXY: PROXY }, {}, { proxy: { url: PROXY } });
    expect(outcome.result?.reason).toBe('requirement_not_met');
    expect(outcome.result?.message).toBe(
      `proxy settings differ: HTTPS_PROXY (Rails ${PROXY}, Workhorse unset): set it in both gitlab_rails['env'] and gitlab_workhorse['env']`,
    );
    expect(await fact(outcome, 'gitlab_duo_proxy_env_consistent')).toBe(0);
  });

  it('names the exporter when it does not take the proxy Rails takes', async () => {
    const outcome = await run({ HTTPS_PROXY: PROXY }, { HTTPS_PROXY: PROXY });
    expect(outcome.result?.message).toMatch(/the exporter's proxy is not Rails' HTTPS_PROXY \(Rails http:\/\/proxy.corp:3128, exporter unset\)/);
  });

  it('never prints credentials of a proxy URL', async () => {
    const outcome = await run({ HTTPS_PROXY: 'http://alice:s3cret-pass@proxy.corp:3128' }, { HTTPS_PROXY: 'http://bob:other-pass@proxy.corp:3128' }, { proxy: { url: 'http://alice:s3cret-pass@proxy.corp:3128' } });
    expect(outcome.result?.reason).toBe('requirement_not_met');
    expect(outcome.result?.message).toContain('HTTPS_PROXY (credentials differ)');
    for (const secret of ['alice', 'bob', 's3cret-pass', 'other-pass']) expect(outcome.result?.message).not.toContain(secret);
  });

  it('lists every difference, and a variable set twice inside one component', async () => {
    const outcome = await run({ HTTP_PROXY: PROXY, https_proxy: PROXY, HTTPS_PROXY: 'http://other:8080', NO_PROXY: 'a' }, { NO_PROXY: 'b' });
    const message = outcome.result!.message;
    expect(message).toContain('Rails sets HTTPS_PROXY and https_proxy to different values');
    expect(message).toContain('HTTP_PROXY (Rails http://proxy.corp:3128, Workhorse unset)');
    expect(message).toContain('NO_PROXY (Rails a, Workhorse b)');
  });

  it('a file too large to be a proxy setting fails', async () => {
    const outcome = await run({ HTTPS_PROXY: 'x'.repeat(10_000) }, {});
    expect(outcome.result?.reason).toBe('requirement_not_met');
    expect(outcome.result?.message).toMatch(/larger than 8192 bytes/);
  });

  it('is off unless both folders exist', async () => {
    const outcome = await runInstanceProbe('proxy_env', {});
    expect(outcome.result).toBeUndefined();
    expect(outcome.planned.skippedBecause).toMatch(/^not an Omnibus GitLab node/);
  });
});
