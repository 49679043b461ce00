import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { startApp, type App } from '../../src/app.js';
import {
  FileReadError,
  formatBytes,
  MAX_CONFIG_FILE_BYTES,
  MAX_PEM_FILE_BYTES,
  MAX_TOKEN_FILE_BYTES,
  readBoundedFile,
  readBoundedFileSync,
} from '../../src/core/files.js';
import { configFromEnv, loadConfigFile, parseConfigText } from '../../src/config/load.js';
import { readableByOthers } from '../../src/config/tokens.js';
import { ConfigError } from '../../src/core/errors.js';
import { loadWebConfig } from '../../src/http/web/config.js';
import { loadCloudflareRanges } from '../../src/net/cloudflare.js';
import { silentLogger } from '../helpers/fake-probe.js';
import { capturingLogger, createCa, fingerprint, httpsCall, serverCert, startServer, write, writeServerCert, type Running, type TestCa, type TestCert } from '../http/certs.js';
import { fifo, issuesOf, settle } from '../helpers/hostile-files.js';

/**
 * Issue #12: token, CA, config and web-config files are read asynchronously, only when they are
 * regular files, up to a size cap (src/core/files.ts). A FIFO named in a config used to freeze
 * the process (readFileSync waits for a writer), `/dev/zero` to grow it until it died.
 */

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'gde-files-'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A sparse file of `bytes`: refused by its size, so never read (reading it would take gigabytes). */
function sparse(dir: string, bytes: number): string {
  const path = join(dir, 'huge');
  writeFileSync(path, '');
  truncateSync(path, bytes);
  return path;
}

const GIB = 1024 ** 3;

async function problemOf(promise: Promise<unknown>): Promise<FileReadError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof FileReadError) return err;
    throw err;
  }
  throw new Error('the file was read, but it should have been refused');
}

describe('readBoundedFile', () => {
  it('reads a regular file, and gives its mode', async () => {
    const path = join(tempDir(), 'token');
    writeFileSync(path, 'hello\n', { mode: 0o640 });
    const { text, mode } = await readBoundedFile(path, { maxBytes: 100 });
    expect(text).toBe('hello\n');
    expect(mode & 0o777).toBe(0o640);
  });

  it('refuses a FIFO at once, without waiting for a writer, and lets the event loop turn meanwhile', async () => {
    const path = fifo();
    const settled = await settle(() => readBoundedFile(path, { maxBytes: MAX_TOKEN_FILE_BYTES }));
    expect(settled.error).toBeInstanceOf(FileReadError);
    expect(settled.error).toMatchObject({ problem: 'not_regular', message: `${path} is not a regular file (a FIFO)` });
    expect(settled.loopTurned).toBe(true);
  });

  it('refuses /dev/zero as a character device, reading nothing', async () => {
    expect(await problemOf(readBoundedFile('/dev/zero', { maxBytes: MAX_PEM_FILE_BYTES }))).toMatchObject({
      problem: 'not_regular',
      message: '/dev/zero is not a regular file (a character device)',
    });
  });

  it('refuses a file larger than the cap by its size, before reading it', async () => {
    const path = sparse(tempDir(), 10 * GIB);
    expect(await problemOf(readBoundedFile(path, { maxBytes: MAX_PEM_FILE_BYTES }))).toMatchObject({ problem: 'too_large', message: `${path} is larger than 1 MiB` });
  });

  it('reads a file of exactly the cap; one byte more is refused', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'at'), 'x'.repeat(1000));
    writeFileSync(join(dir, 'over'), 'x'.repeat(1001));
    expect((await readBoundedFile(join(dir, 'at'), { maxBytes: 1000 })).text).toHaveLength(1000);
    expect(await problemOf(readBoundedFile(join(dir, 'over'), { maxBytes: 1000 }))).toMatchObject({ problem: 'too_large', message: `${join(dir, 'over')} is larger than 1000 bytes` });
  });

  it('names a directory, a missing file and an unreadable one', async () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'sub'));
    expect(await problemOf(readBoundedFile(join(dir, 'sub'), { maxBytes: 10 }))).toMatchObject({ problem: 'not_regular', message: `${join(dir, 'sub')} is not a regular file (a directory)` });
    expect(await problemOf(readBoundedFile(join(dir, 'nope'), { maxBytes: 10 }))).toMatchObject({ problem: 'missing', code: 'ENOENT', message: `cannot read ${join(dir, 'nope')}: ENOENT` });
    if (process.getuid?.() !== 0) {
      writeFileSync(join(dir, 'locked'), 'x', { mode: 0o000 });
      expect(await problemOf(readBoundedFile(join(dir, 'locked'), { maxBytes: 10 }))).toMatchObject({ problem: 'unreadable', code: 'EACCES' });
    }
  });

  it('gives up when its signal fires (a run whose deadline passed)', async () => {
    const path = join(tempDir(), 'token');
    writeFileSync(path, 'x');
    expect(await problemOf(readBoundedFile(path, { maxBytes: 10, signal: AbortSignal.abort() }))).toMatchObject({ problem: 'timeout' });
  });

  it('the synchronous twin (the Cloudflare table at plan time) keeps the same rules', () => {
    const dir = tempDir();
    const path = fifo();
    expect(() => readBoundedFileSync(path, 100)).toThrow(`${path} is not a regular file (a FIFO)`);
    expect(() => readBoundedFileSync('/dev/zero', 100)).toThrow('/dev/zero is not a regular file (a character device)');
    expect(() => readBoundedFileSync(sparse(dir, GIB), 100)).toThrow('is larger than 100 bytes');
    writeFileSync(join(dir, 'ranges'), '10.0.0.0/8\n');
    expect(readBoundedFileSync(join(dir, 'ranges'), 100).text).toBe('10.0.0.0/8\n');
    expect(() => loadCloudflareRanges(path)).toThrow(`${path} is not a regular file (a FIFO)`);
  });

  it('the caps are named in binary units', () => {
    expect([MAX_TOKEN_FILE_BYTES, MAX_PEM_FILE_BYTES, MAX_CONFIG_FILE_BYTES].map(formatBytes)).toEqual(['16 KiB', '1 MiB', '1 MiB']);
  });
});

const NETWORK_ONLY = 'instances:\n  - name: lab\n    endpoints: { customers_portal: "https://127.0.0.1:9", cloud_connector: "https://127.0.0.1:9", duo_workflow_service: "127.0.0.1:9" }\n';

describe('the config loader', () => {
  it('a FIFO as admin_token_file is a config error naming the key and the file, and never blocks', async () => {
    const path = fifo('admin-token');
    const settled = await settle(() => parseConfigText(`instances:\n  - admin_token_file: ${path}\n`, 'inline', { env: {} }));
    expect(issuesOf(settled)).toEqual([`instances[0].admin_token_file: ${path} is not a regular file (a FIFO)`]);
    expect(settled.loopTurned).toBe(true);
  });

  it('a FIFO as tls.ca_file, or as the config file itself, likewise', async () => {
    const ca = fifo('ca.pem');
    const caLoad = await settle(() => parseConfigText(`instances:\n  - tls: { ca_file: ${ca} }\n`, 'inline', { env: {} }));
    expect(issuesOf(caLoad)).toEqual([`instances[0].tls.ca_file: ${ca} is not a regular file (a FIFO)`]);
    expect(caLoad.loopTurned).toBe(true);
    const config = fifo('config.yaml');
    const fileLoad = await settle(() => loadConfigFile(config, { env: {} }));
    expect(issuesOf(fileLoad)).toEqual([`${config} is not a regular file (a FIFO)`]);
    expect(fileLoad.loopTurned).toBe(true);
  });

  it('/dev/zero as tls.ca_file is refused without being read; so is a CA file over 1 MiB', async () => {
    const dir = tempDir();
    const big = sparse(dir, 10 * GIB);
    const settled = await settle(() => parseConfigText(`instances:\n  - name: a\n    tls: { ca_file: /dev/zero }\n  - name: b\n    tls: { ca_file: ${big} }\n`, 'inline', { env: {} }));
    expect(issuesOf(settled)).toEqual([
      'instances[0].tls.ca_file: /dev/zero is not a regular file (a character device)',
      `instances[1].tls.ca_file: ${big} is larger than 1 MiB`,
    ]);
  });

  it('lists every bad file at once, in the order of the config', async () => {
    const dir = tempDir();
    const admin = fifo('admin');
    const duo = join(dir, 'duo');
    writeFileSync(duo, 'x'.repeat(MAX_TOKEN_FILE_BYTES + 1));
    const ranges = fifo('ranges');
    const text = `instances:\n  - admin_token_file: ${admin}\n    duo_user_token_file: ${duo}\n    tls: { ca_file: /dev/zero }\ncloudflare_ranges_file: ${ranges}\n`;
    expect(issuesOf(await settle(() => parseConfigText(text, 'inline', { env: {} })))).toEqual([
      `instances[0].admin_token_file: ${admin} is not a regular file (a FIFO)`,
      `instances[0].duo_user_token_file: ${duo} is larger than 16 KiB`,
      'instances[0].tls.ca_file: /dev/zero is not a regular file (a character device)',
      `cloudflare_ranges_file: ${ranges} is not a regular file (a FIFO)`,
    ]);
  });

  it('in environment-only mode the variable is named', async () => {
    const path = fifo('admin');
    expect(issuesOf(await settle(() => configFromEnv({ env: { GITLAB_URL: 'https://gitlab.example.com', GITLAB_ADMIN_TOKEN_FILE: path } })))).toEqual([
      `GITLAB_ADMIN_TOKEN_FILE: ${path} is not a regular file (a FIFO)`,
    ]);
  });

  it('warns when a token file is readable by its group or by every user, not when it is 0600 or 0400', async () => {
    const dir = tempDir();
    const files = { group: join(dir, 'group'), world: join(dir, 'world'), owner: join(dir, 'owner'), readonly: join(dir, 'readonly'), ownGroup: join(dir, 'own-group') };
    for (const [name, mode] of [['group', 0o640], ['world', 0o604], ['owner', 0o600], ['readonly', 0o400], ['ownGroup', 0o440]] as const) {
      writeFileSync(files[name], `token-${name}\n`);
      chmodSync(files[name], mode);
    }
    // Another group than the exporter's own (root can give it; the pure rule is tested below).
    const root = process.getuid?.() === 0;
    if (root) chownSync(files.group, 0, 65534);
    const warnings: string[] = [];
    const text = [
      'instances:',
      `  - { name: a, admin_token_file: ${files.group}, duo_user_token_file: ${files.world} }`,
      `  - { name: b, admin_token_file: ${files.owner}, duo_user_token_file: ${files.readonly} }`,
      `  - { name: c, admin_token_file: ${files.ownGroup} }`,
    ].join('\n');
    await parseConfigText(text, 'inline', { env: {}, warn: (m) => warnings.push(m) });
    expect(warnings).toEqual([
      ...(root ? [`instances[0].admin_token_file: ${files.group} is readable by its group; chmod 600 it`] : []),
      `instances[0].duo_user_token_file: ${files.world} is readable by every user; chmod 600 it`,
    ]);
  });

  it('the permission rule: any other user, or a group other than the exporter\'s own (a Kubernetes fsGroup is its own)', () => {
    expect(readableByOthers({ mode: 0o100604, gid: 1000 }, 1000)).toBe('every user');
    expect(readableByOthers({ mode: 0o100640, gid: 4 }, 1000)).toBe('its group');
    expect(readableByOthers({ mode: 0o100440, gid: 1000 }, 1000)).toBeUndefined();
    expect(readableByOthers({ mode: 0o100600, gid: 4 }, 1000)).toBeUndefined();
    expect(readableByOthers({ mode: 0o100400, gid: 4 }, 1000)).toBeUndefined();
  });

  it('keeps the token file path with the value read at load, so runs can read it again', async () => {
    const path = join(tempDir(), 'token');
    writeFileSync(path, 'token-at-load\n', { mode: 0o600 });
    const instance = (await parseConfigText(`instances:\n  - admin_token_file: ${path}\n`, 'inline', { env: {} })).instances[0]!;
    expect(instance.adminTokenFile).toEqual({ path, setting: 'admin_token_file' });
    expect(instance.adminToken?.reveal() === 'token-at-load').toBe(true);
    expect(instance.duoUserTokenFile).toBeUndefined();
    const fromEnv = (await configFromEnv({ env: { GITLAB_DUO_TOKEN_FILE: path } })).instances[0]!;
    expect(fromEnv.duoUserTokenFile).toEqual({ path, setting: 'GITLAB_DUO_TOKEN_FILE' });
  });
});

let ca: TestCa;
let cert: TestCert;
let other: TestCert;
beforeAll(async () => {
  ca = await createCa();
  cert = await serverCert(ca);
  other = await serverCert(ca);
});

const TLS = 'tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n';

describe('the web config', () => {
  it('a FIFO as cert_file, or as the file itself, and /dev/zero as client_ca_file are config errors that never block', async () => {
    const dir = tempDir();
    writeServerCert(dir, cert);
    const crt = fifo('server.crt');
    const certLoad = await settle(() => loadWebConfig(write(dir, 'a.yml', `tls_server_config:\n  cert_file: ${crt}\n  key_file: server.key\n`)));
    expect(issuesOf(certLoad)).toEqual([`tls_server_config.cert_file: ${crt} is not a regular file (a FIFO)`]);
    expect(certLoad.loopTurned).toBe(true);
    const web = fifo('web.yml');
    const webLoad = await settle(() => loadWebConfig(web));
    expect(issuesOf(webLoad)).toEqual([`${web} is not a regular file (a FIFO)`]);
    expect(webLoad.loopTurned).toBe(true);
    const zero = await settle(() => loadWebConfig(write(dir, 'b.yml', `${TLS}  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: /dev/zero\n`)));
    expect(issuesOf(zero)).toEqual(['tls_server_config.client_ca_file: /dev/zero is not a regular file (a character device)']);
  });

  let running: Running | undefined;
  afterEach(async () => {
    await running?.close();
    running = undefined;
  });

  it('a certificate replaced by a FIFO while serving: the look at the disk never blocks, the old certificate keeps serving', async () => {
    const dir = tempDir();
    writeServerCert(dir, cert);
    const { logger, lines } = capturingLogger();
    running = await startServer(write(dir, 'web.yml', TLS), logger);
    unlinkSync(join(dir, 'server.crt'));
    const crt = fifo('server.crt');
    // The FIFO lives in its own directory: point the config at it (a change the watcher sees).
    write(dir, 'web.yml', `tls_server_config:\n  cert_file: ${crt}\n  key_file: server.key\n`);
    const watcher = running.watcher;
    const look = await settle(() => watcher.check(Date.now() + 60_000));
    expect(look).toMatchObject({ value: false, loopTurned: true });
    expect(lines.find((l) => l.level === 50)?.issues).toEqual([`tls_server_config.cert_file: ${crt} is not a regular file (a FIFO)`]);
    expect(await httpsCall(running.port, { ca: ca.certPem })).toMatchObject({ status: 200, fingerprint: fingerprint(cert.certPem) });
    // Fixed on disk: the next look takes the new certificate.
    writeServerCert(dir, other);
    write(dir, 'web.yml', TLS);
    expect(await watcher.check(Date.now() + 120_000)).toBe(true);
    expect((await httpsCall(running.port, { ca: ca.certPem })).fingerprint).toBe(fingerprint(other.certPem));
  });
});

describe('the running exporter', () => {
  let app: App | undefined;
  afterEach(async () => {
    await app?.stop();
    app = undefined;
  });

  async function started(dir: string): Promise<App> {
    const path = write(dir, 'config.yaml', `${NETWORK_ONLY}web: { listen_address: "127.0.0.1:0" }\n`);
    app = await startApp({ config: await loadConfigFile(path, { env: {} }), configPath: path, logger: silentLogger, env: {}, maxStartJitterMs: 0 });
    return app;
  }

  it('a reload with a FIFO token file, then with /dev/zero as ca_file, is refused and the running config stays', async () => {
    const dir = tempDir();
    const a = await started(dir);
    const before = a.plan().config;
    const token = fifo('admin-token');
    write(dir, 'config.yaml', `${NETWORK_ONLY}    admin_token_file: ${token}\nweb: { listen_address: "127.0.0.1:0" }\n`);
    const first = await settle(() => a.reload());
    expect(first.value).toContain(`instances[0].admin_token_file: ${token} is not a regular file (a FIFO)`);
    expect(first.loopTurned).toBe(true);
    expect(a.plan().config).toBe(before);
    write(dir, 'config.yaml', `${NETWORK_ONLY}    tls: { ca_file: /dev/zero }\nweb: { listen_address: "127.0.0.1:0" }\n`);
    expect(await a.reload()).toContain('instances[0].tls.ca_file: /dev/zero is not a regular file (a character device)');
    expect(a.plan().config).toBe(before);
    const healthy = await fetch(`${a.url()}/-/healthy`);
    expect(healthy.status).toBe(200);
    expect(await (await fetch(`${a.url()}/metrics`)).text()).toMatch(/^gitlab_duo_exporter_config_last_reload_successful 0$/m);
  });

  it('startApp refuses a FIFO as the web config certificate before starting anything', async () => {
    const dir = tempDir();
    writeServerCert(dir, cert);
    const crt = fifo('server.crt');
    const web = write(dir, 'web.yml', `tls_server_config:\n  cert_file: ${crt}\n  key_file: server.key\n`);
    const config = await parseConfigText(`${NETWORK_ONLY}web: { listen_address: "127.0.0.1:0" }\n`, 'test', { env: {} });
    const start = await settle(() => startApp({ config, configPath: undefined, logger: silentLogger, env: {}, webConfigFile: web }));
    expect(start.error).toBeInstanceOf(ConfigError);
    expect(issuesOf(start)).toEqual([`tls_server_config.cert_file: ${crt} is not a regular file (a FIFO)`]);
    expect(start.loopTurned).toBe(true);
  });

  it('the CLI exits 2 at start listing every bad file (needs `npm run build`)', () => {
    const dir = tempDir();
    const token = fifo('admin-token');
    const config = write(dir, 'config.yaml', `${NETWORK_ONLY}    admin_token_file: ${token}\n    tls: { ca_file: /dev/zero }\n`);
    const bin = new URL('../../bin/gitlab-duo-exporter.js', import.meta.url).pathname;
    const run = spawnSync(process.execPath, [bin, '--config.check', `--config.file=${config}`], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: tmpdir() },
      timeout: 30_000,
    });
    expect(run.status).toBe(2);
    expect(run.stderr).toContain(`instances[0].admin_token_file: ${token} is not a regular file (a FIFO)`);
    expect(run.stderr).toContain('instances[0].tls.ca_file: /dev/zero is not a regular file (a character device)');
  });
});
