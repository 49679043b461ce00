import { renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfigText } from '../../src/config/load.js';
import { withCurrentTokens } from '../../src/config/tokens.js';
import { ProbeError } from '../../src/core/errors.js';
import { credential } from '../../src/gitlab/availability.js';
import { newDetector } from '../../src/runner/detector.js';
import type { PlannedProbe } from '../../src/runner/plan.js';
import { HOST, json, pki, startFakeGitLab, type FakeGitLab } from '../helpers/fake-gitlab.js';
import { fifoAt } from '../helpers/hostile-files.js';
import { caFileIn, planProbe, runPlanned, silentLogger, testDir } from '../helpers/probe-harness.js';
import { LOOPBACK } from '../helpers/servers.js';

/**
 * Token files are read again at every run that uses them (docs/configuration.md, like Prometheus's
 * credentials_file): a rotated token is used by the next run without a reload, and a token file
 * that cannot be read fails, with reason `auth`, only the runs that use it. Tokens are compared as
 * booleans, never printed by a failing assertion.
 */

const FIRST = 'glpat-first-token-0123456789';
const SECOND = 'glpat-second-token-9876543210';
const DUO = 'glpat-duo-token-abcdef012345';

/** Writes a token file the way a secret manager does: a new file renamed over the old one. */
function writeToken(path: string, token: string): void {
  writeFileSync(`${path}.new`, `${token}\n`, { mode: 0o600 });
  renameSync(`${path}.new`, path);
}

/** A fake GitLab that answers the version probe's and the detector's calls. */
function metadataGitLab(): Promise<FakeGitLab> {
  return startFakeGitLab((req) => (req.path === '/api/v4/metadata' ? json(200, { version: '18.8.0-ee', revision: 'abc', enterprise: true }) : json(404, { message: '404 Not Found' })));
}

/** The `version` probe of one instance whose tokens come from files, planned as the exporter does. */
async function plannedVersion(gitlab: FakeGitLab, dir: string, tokens: { admin?: string; duo?: string }): Promise<PlannedProbe> {
  const instance: Record<string, unknown> = {
    url: gitlab.url,
    resolve: { [`${HOST}:${gitlab.port}`]: LOOPBACK },
    tls: { ca_file: caFileIn(dir, (await pki()).ca.certPem) },
    probes: { version: { timeout: '3s' } },
  };
  if (tokens.admin) instance.admin_token_file = tokens.admin;
  if (tokens.duo) instance.duo_user_token_file = tokens.duo;
  return (await planProbe({ probe: 'version', instance })).planned;
}

const sentBearer = (gitlab: FakeGitLab, token: string): boolean[] => gitlab.requests.map((r) => r.headers.authorization === `Bearer ${token}`);

describe('token files', () => {
  it('a token file rewritten between two runs is used by the next run, without a reload', async () => {
    const dir = testDir('gde-tokens-');
    const admin = join(dir, 'admin-token');
    writeToken(admin, FIRST);
    const gitlab = await metadataGitLab();
    const planned = await plannedVersion(gitlab, dir, { admin });
    expect((await runPlanned(planned)).success).toBe(true);
    writeToken(admin, SECOND);
    expect((await runPlanned(planned)).success).toBe(true);
    expect(sentBearer(gitlab, FIRST)).toEqual([true, false]);
    expect(sentBearer(gitlab, SECOND)).toEqual([false, true]);
  });

  it('a token file that cannot be read at a run fails that run with reason auth naming the file, and sends nothing', async () => {
    const dir = testDir('gde-tokens-');
    const admin = join(dir, 'admin-token');
    writeToken(admin, FIRST);
    const gitlab = await metadataGitLab();
    const planned = await plannedVersion(gitlab, dir, { admin });
    rmSync(admin);
    const missing = await runPlanned(planned);
    expect(missing).toMatchObject({ success: false, reason: 'auth', message: `admin_token_file: cannot read ${admin}: ENOENT (the token could not be read for this run)` });
    // A FIFO where the token file was: refused at once, nothing waits for a writer.
    fifoAt(admin);
    const blocked = await runPlanned(planned);
    expect(blocked).toMatchObject({ success: false, reason: 'auth', message: `admin_token_file: ${admin} is not a regular file (a FIFO) (the token could not be read for this run)` });
    expect(gitlab.requests).toHaveLength(0);
    for (const result of [missing, blocked]) expect(JSON.stringify(result).includes(FIRST)).toBe(false);
    // Back to a regular file: the next run works again.
    rmSync(admin);
    writeToken(admin, SECOND);
    expect((await runPlanned(planned)).success).toBe(true);
    expect(sentBearer(gitlab, SECOND)).toEqual([true]);
  });

  it('only the token that cannot be read is refused: the other one still works', async () => {
    const dir = testDir('gde-tokens-');
    const admin = join(dir, 'admin-token');
    const duo = join(dir, 'duo-token');
    writeToken(admin, FIRST);
    writeToken(duo, DUO);
    const gitlab = await metadataGitLab();
    const planned = await plannedVersion(gitlab, dir, { admin, duo });
    rmSync(admin);
    const current = await withCurrentTokens(planned.instance);
    expect(() => credential(current, 'admin')).toThrow(ProbeError);
    expect(credential(current, 'duo_user')?.secret.reveal() === DUO).toBe(true);
    // The plan's own instance (availability, the report) is not changed by a run.
    expect(credential(planned.instance, 'admin')?.secret.reveal() === FIRST).toBe(true);
  });

  it('the capability detection reads the token file again too', async () => {
    const dir = testDir('gde-tokens-');
    const admin = join(dir, 'admin-token');
    writeToken(admin, FIRST);
    const gitlab = await metadataGitLab();
    const planned = await plannedVersion(gitlab, dir, { admin });
    writeToken(admin, SECOND);
    await newDetector({}, silentLogger, 3000).detectAll({ ...(await parseConfigText('instances: [ { name: x } ]', 'x', { env: {} })), instances: [planned.instance] });
    expect(gitlab.requests.length).toBeGreaterThan(0);
    expect(sentBearer(gitlab, SECOND).every(Boolean)).toBe(true);
  });
});
