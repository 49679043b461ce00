import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { parseConfigText } from '../../../src/config/load.js';
import { loadCloudflareRanges } from '../../../src/net/cloudflare.js';
import { PROBE_NAMES } from '../../../src/probes/index.js';
import { buildPlan, type Plan } from '../../../src/runner/plan.js';
import { ADMIN_TOKEN, DUO_TOKEN, HOST, pki } from '../../helpers/fake-gitlab.js';
import { LOOPBACK } from '../../helpers/servers.js';

/**
 * One plan for the fake GitLab of test/helpers/fake-gitlab.ts (gitlab.test on `port`, its CA
 * trusted, both sentinel tokens), built once and reused for many runs: the API fuzz runs hundreds
 * of cases and must not re-plan, re-write the CA or create a metrics registry per case.
 */
export async function planFakeGitLab(port: number, timeout = '3s'): Promise<{ plan: Plan; dispose(): void }> {
  const dir = mkdtempSync(join(tmpdir(), 'gde-plan-'));
  const caFile = join(dir, 'ca.pem');
  writeFileSync(caFile, (await pki()).ca.certPem);
  const yaml = stringify({
    instances: [
      {
        name: 'fuzz',
        url: `https://${HOST}:${port}`,
        admin_token: ADMIN_TOKEN,
        duo_user_token: DUO_TOKEN,
        tls: { ca_file: caFile },
        resolve: { [`${HOST}:${port}`]: LOOPBACK },
        proxy_env: { rails_env_dir: join(dir, 'none'), workhorse_env_dir: join(dir, 'none') },
      },
    ],
    defaults: { probes: Object.fromEntries(PROBE_NAMES.map((p) => [p, { timeout }])) },
  });
  const plan = buildPlan(await parseConfigText(yaml, 'fuzz.yaml', { env: {} }), loadCloudflareRanges(), {});
  return { plan, dispose: () => rmSync(dir, { recursive: true, force: true }) };
}
